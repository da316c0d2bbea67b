"""MobileNet V2 (Sandler et al., 2018, arXiv:1801.04381)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model


_PAPER = "MobileNetV2: Inverted Residuals and Linear Bottlenecks"

# (expansion t, output channels c, repeats n, first stride s), Table 2 of the paper.
_STAGES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
           (6, 160, 3, 2), (6, 320, 1, 1))


def MobileNetV2(input_shape=(224, 224, 3), alpha=1.0, num_classes=1000, include_top=True,
                dropout=0.0, classifier_activation="softmax", small_input=None, name="mobilenet_v2"):
    """Builds MobileNet V2: inverted residual blocks with linear bottlenecks.

    Reference: "MobileNetV2: Inverted Residuals and Linear Bottlenecks" (Sandler et al., 2018).

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      alpha: width multiplier; channels are rounded to multiples of 8. Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.0.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: keep stride 1 in the stem and in the 24-channel stage (total stride 8
        instead of 32), as the CIFAR variants do. None chooses by input size. Defaults to None.
      name: model name. Defaults to "mobilenet_v2".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an input smaller than 28x28, non-positive alpha or num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes, alpha, "alpha")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, _blocks.make_divisible(32 * alpha), 3, "stem_conv",
                        strides=1 if small_input else 2, activation="relu6")
    block = 0
    for stage, (expansion, channels, repeats, stride) in enumerate(_STAGES):
        if small_input and stage == 1:
            stride = 1
        for repeat in range(repeats):
            x = _blocks.inverted_residual(x, expansion,
                                          _blocks.make_divisible(channels * alpha),
                                          stride if repeat == 0 else 1, f"block{block}")
            block += 1
    head_channels = _blocks.make_divisible(1280 * alpha) if alpha > 1.0 else 1280
    x = _blocks.conv_bn(x, head_channels, 1, "head_conv", activation="relu6")
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="mobilenet_v2", paper=_PAPER)
def mobilenet_v2_035(**kwargs):
    """MobileNet V2, width 0.35."""
    return MobileNetV2(alpha=0.35, **kwargs)


@register_model(family="mobilenet_v2", paper=_PAPER)
def mobilenet_v2_050(**kwargs):
    """MobileNet V2, width 0.5."""
    return MobileNetV2(alpha=0.5, **kwargs)


@register_model(family="mobilenet_v2", paper=_PAPER)
def mobilenet_v2_075(**kwargs):
    """MobileNet V2, width 0.75."""
    return MobileNetV2(alpha=0.75, **kwargs)


@register_model(family="mobilenet_v2", paper=_PAPER)
def mobilenet_v2_100(**kwargs):
    """MobileNet V2, width 1.0."""
    return MobileNetV2(alpha=1.0, **kwargs)


@register_model(family="mobilenet_v2", paper=_PAPER)
def mobilenet_v2_140(**kwargs):
    """MobileNet V2, width 1.4."""
    return MobileNetV2(alpha=1.4, **kwargs)
