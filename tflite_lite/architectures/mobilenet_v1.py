"""MobileNet V1 (Howard et al., 2017, arXiv:1704.04861)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model

_PAPER = "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision Applications"

# (output channels, stride) of the 13 depthwise-separable blocks.
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
           (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def MobileNetV1(input_shape=(224, 224, 3), alpha=1.0, num_classes=1000, include_top=True,
                dropout=0.0, classifier_activation="softmax", small_input=None, name="mobilenet_v1"):
    """Builds MobileNet V1: a 3x3 stem, then 13 depthwise-separable blocks.

    Reference: "MobileNets: Efficient Convolutional Neural Networks for Mobile Vision
    Applications" (Howard et al., 2017). The resolution multiplier is `input_shape`.

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      alpha: width multiplier applied to every layer's channels. Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.0.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: keep stride 1 in the stem and the first stride-2 block (total stride 8
        instead of 32), for 28-63 px inputs. None chooses by input size. Defaults to None.
      name: model name. Defaults to "mobilenet_v1".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an input smaller than 28x28, non-positive alpha or num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes, alpha, "alpha")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, int(32 * alpha), 3, "stem_conv", strides=1 if small_input else 2,
                        activation="relu6")
    first_downsample = True
    for index, (filters, stride) in enumerate(_BLOCKS, start=1):
        if stride == 2 and first_downsample:
            first_downsample = False
            stride = 1 if small_input else 2
        prefix = f"block{index}"
        x = _blocks.depthwise_bn(x, 3, f"{prefix}_dw", strides=stride, activation="relu6")
        x = _blocks.conv_bn(x, int(filters * alpha), 1, f"{prefix}_pw", activation="relu6")
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="mobilenet_v1", paper=_PAPER)
def mobilenet_v1_025(**kwargs):
    """MobileNet V1, width 0.25."""
    return MobileNetV1(alpha=0.25, **kwargs)


@register_model(family="mobilenet_v1", paper=_PAPER)
def mobilenet_v1_050(**kwargs):
    """MobileNet V1, width 0.5."""
    return MobileNetV1(alpha=0.5, **kwargs)


@register_model(family="mobilenet_v1", paper=_PAPER)
def mobilenet_v1_075(**kwargs):
    """MobileNet V1, width 0.75."""
    return MobileNetV1(alpha=0.75, **kwargs)


@register_model(family="mobilenet_v1", paper=_PAPER)
def mobilenet_v1_100(**kwargs):
    """MobileNet V1, width 1.0."""
    return MobileNetV1(alpha=1.0, **kwargs)
