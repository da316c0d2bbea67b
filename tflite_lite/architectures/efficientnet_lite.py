"""EfficientNet-Lite (Tan and Le, 2019, arXiv:1905.11946; the Lite variants of
tensorflow/tpu's `models/official/efficientnet/lite`)."""

import math

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError


_PAPER = "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks (Lite variant)"

# EfficientNet-B0's stages (kernel, repeats, output channels, expansion, first stride), Table 1
# of the paper. Lite keeps them and, for integer accelerators, drops squeeze-excite, uses
# ReLU6 instead of swish, and does not scale the stem and the head.
_STAGES = ((3, 1, 16, 1, 1), (3, 2, 24, 6, 2), (5, 2, 40, 6, 2), (3, 3, 80, 6, 2),
           (5, 3, 112, 6, 1), (5, 4, 192, 6, 2), (3, 1, 320, 6, 1))
_STEM_CHANNELS, _HEAD_CHANNELS = 32, 1280


def EfficientNetLite(input_shape=(224, 224, 3), width=1.0, depth=1.0, num_classes=1000,
                     include_top=True, dropout=0.2, classifier_activation="softmax",
                     small_input=None, name="efficientnet_lite"):
    """Builds EfficientNet-Lite: MBConv blocks with ReLU6 and no squeeze-excite.

    Reference: "EfficientNet: Rethinking Model Scaling for Convolutional Neural Networks"
    (Tan and Le, 2019), in the Lite form of tensorflow/tpu. Stochastic depth (drop connect)
    is left out: it changes training only, and the layers are the same.

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      width: channel multiplier of the blocks (rounded to multiples of 8). Defaults to 1.0.
      depth: repeat multiplier of the stages (rounded up). Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.2 (Lite0's).
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: keep stride 1 in the stem and in the first strided stage (total stride 8
        instead of 32), for CIFAR-sized inputs. None chooses by input size. Defaults to None.
      name: model name. Defaults to "efficientnet_lite".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an input smaller than 28x28, non-positive width, depth or num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes, width, "width")
    if not depth > 0:
        raise UserError(f"depth must be positive, got {depth!r}")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, _STEM_CHANNELS, 3, "stem_conv",
                        strides=1 if small_input else 2, activation="relu6")
    block = 0
    for stage, (kernel, repeats, channels, expansion, stride) in enumerate(_STAGES):
        if small_input and stage == 1:
            stride = 1
        # Lite keeps the first and last stages at one block at every depth.
        repeats = repeats if stage in (0, len(_STAGES) - 1) else math.ceil(repeats * depth)
        for repeat in range(repeats):
            x = _blocks.inverted_residual(x, expansion,
                                          _blocks.make_divisible(channels * width),
                                          stride if repeat == 0 else 1, f"block{block}",
                                          kernel_size=kernel)
            block += 1
    x = _blocks.conv_bn(x, _HEAD_CHANNELS, 1, "head_conv", activation="relu6")
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


# tensorflow/tpu's Lite preprocessing: (pixel - 127) / 128.
@register_model(family="efficientnet_lite", paper=_PAPER, mean=(127.0,), std=(128.0,))
def efficientnet_lite0(**kwargs):
    """EfficientNet-Lite0: B0's width and depth, 224 px."""
    return EfficientNetLite(width=1.0, depth=1.0, **kwargs)
