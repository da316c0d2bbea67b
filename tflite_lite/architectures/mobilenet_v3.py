"""MobileNet V3 Small and Large (Howard et al., 2019, arXiv:1905.02244)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._layers import HardSigmoid, HardSwish
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError

layers = keras.layers

_PAPER = "Searching for MobileNetV3"

# (kernel, expansion, output channels, squeeze-excite, activation, stride), Tables 1 and 2 of
# the paper; expansions are ratios of the block's input channels, as in keras.applications,
# so that every width has Keras' channel counts.
_RE, _HS = "relu", "hard_swish"
_LARGE = ((3, 1, 16, False, _RE, 1), (3, 4, 24, False, _RE, 2), (3, 3, 24, False, _RE, 1),
          (5, 3, 40, True, _RE, 2), (5, 3, 40, True, _RE, 1), (5, 3, 40, True, _RE, 1),
          (3, 6, 80, False, _HS, 2), (3, 2.5, 80, False, _HS, 1), (3, 2.3, 80, False, _HS, 1),
          (3, 2.3, 80, False, _HS, 1), (3, 6, 112, True, _HS, 1), (3, 6, 112, True, _HS, 1),
          (5, 6, 160, True, _HS, 2), (5, 6, 160, True, _HS, 1), (5, 6, 160, True, _HS, 1))
_SMALL = ((3, 1, 16, True, _RE, 2), (3, 72 / 16, 24, False, _RE, 2),
          (3, 88 / 24, 24, False, _RE, 1), (5, 4, 40, True, _HS, 2), (5, 6, 40, True, _HS, 1),
          (5, 6, 40, True, _HS, 1), (5, 3, 48, True, _HS, 1), (5, 3, 48, True, _HS, 1),
          (5, 6, 96, True, _HS, 2), (5, 6, 96, True, _HS, 1), (5, 6, 96, True, _HS, 1))
# variant: (blocks, channels of the 1x1 layer after pooling).
_VARIANTS = {"large": (_LARGE, 1280), "small": (_SMALL, 1024)}
_SE_RATIO = 0.25


def MobileNetV3(input_shape=(224, 224, 3), variant="large", alpha=1.0, num_classes=1000,
                include_top=True, dropout=0.2, classifier_activation="softmax",
                small_input=None, name=None):
    """Builds MobileNet V3: inverted residuals with squeeze-excite and hard swish.

    Reference: "Searching for MobileNetV3" (Howard et al., 2019). The layers are those of
    `keras.applications.MobileNetV3Large/Small` (same channels, kernels and head) with
    stock Keras layers and the `HardSwish` / `HardSigmoid` layers instead of TF-op lambdas, so
    that the model trains with tfmot QAT and converts to an all-int8 TFLite model.

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      variant: "large" or "small". Defaults to "large".
      alpha: width multiplier; channels are rounded to multiples of 8 (the stem keeps 16).
        Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling, the 1x1 head layer and the classifier. Defaults
        to True.
      dropout: dropout rate before the classifier. Defaults to 0.2 (the paper's).
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: keep stride 1 in the stem and in the first strided block (total stride 8
        instead of 32), for CIFAR-sized inputs. None chooses by input size. Defaults to None.
      name: model name. Defaults to "mobilenet_v3_<variant>".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an unknown variant, an input smaller than 28x28, non-positive alpha or
        num_classes.
    """
    if variant not in _VARIANTS:
        raise UserError(f"variant must be one of {', '.join(_VARIANTS)}, got {variant!r}")
    name = name or f"mobilenet_v3_{variant}"
    input_shape = _blocks.validate_args(name, input_shape, num_classes, alpha, "alpha")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)
    blocks, head_channels = _VARIANTS[variant]

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, 16, 3, "stem_conv", strides=1 if small_input else 2,
                        activation=_HS)
    first_stride = True
    for index, (kernel, expansion, channels, squeeze, activation, stride) in enumerate(blocks):
        if small_input and stride == 2 and first_stride:
            stride, first_stride = 1, False
        x = _bottleneck(x, kernel, expansion, _blocks.make_divisible(channels * alpha), squeeze,
                        activation, stride, f"block{index}")
    x = _blocks.conv_bn(x, _blocks.make_divisible(x.shape[-1] * 6), 1, "head_conv",
                        activation=_HS)
    if include_top:
        if alpha > 1.0:
            head_channels = _blocks.make_divisible(head_channels * alpha)
        x = layers.GlobalAveragePooling2D(name="pool")(x)
        x = layers.Dense(head_channels, name="head_fc")(x)  # Keras' 1x1 conv on the pooled map
        x = HardSwish(name="head_fc_hswish")(x)
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Dense(num_classes, name="logits")(x)
        x = _blocks.output_activation(x, classifier_activation)
    return keras.Model(inputs, x, name=name)


def _bottleneck(x, kernel, expansion, out_channels, squeeze, activation, stride, prefix):
    in_channels = x.shape[-1]
    shortcut = x
    expanded = _blocks.make_divisible(in_channels * expansion)
    if prefix != "block0":  # the first block has no expansion (as in keras.applications)
        x = _blocks.conv_bn(x, expanded, 1, f"{prefix}_expand", activation=activation)
    x = _blocks.depthwise_bn(x, kernel, f"{prefix}_dw", strides=stride, activation=activation)
    if squeeze:
        x = _squeeze_excite(x, prefix)
    x = _blocks.conv_bn(x, out_channels, 1, f"{prefix}_project", activation=None)
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{prefix}_add")([shortcut, x])
    return x


def _squeeze_excite(x, prefix):
    """Channel gates from the pooled map: 1x1 reduce (ReLU), 1x1 expand, hard sigmoid."""
    channels = x.shape[-1]
    gate = layers.GlobalAveragePooling2D(keepdims=True, name=f"{prefix}_se_pool")(x)
    # The ReLU inside the convolution: tfmot leaves the kernel of a convolution that feeds a
    # separate ReLU layer in float, which the int8 file does not.
    gate = layers.Conv2D(_blocks.make_divisible(channels * _SE_RATIO), 1, activation="relu",
                         name=f"{prefix}_se_reduce")(gate)
    gate = layers.Conv2D(channels, 1, name=f"{prefix}_se_expand")(gate)
    gate = HardSigmoid(name=f"{prefix}_se_gate")(gate)
    return layers.Multiply(name=f"{prefix}_se_scale")([x, gate])


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="mobilenet_v3", paper=_PAPER)
def mobilenet_v3_small_075(**kwargs):
    """MobileNet V3 Small, width 0.75."""
    return MobileNetV3(variant="small", alpha=0.75, **kwargs)


@register_model(family="mobilenet_v3", paper=_PAPER)
def mobilenet_v3_small_100(**kwargs):
    """MobileNet V3 Small, width 1.0."""
    return MobileNetV3(variant="small", alpha=1.0, **kwargs)


@register_model(family="mobilenet_v3", paper=_PAPER)
def mobilenet_v3_large_075(**kwargs):
    """MobileNet V3 Large, width 0.75."""
    return MobileNetV3(variant="large", alpha=0.75, **kwargs)


@register_model(family="mobilenet_v3", paper=_PAPER)
def mobilenet_v3_large_100(**kwargs):
    """MobileNet V3 Large, width 1.0."""
    return MobileNetV3(variant="large", alpha=1.0, **kwargs)
