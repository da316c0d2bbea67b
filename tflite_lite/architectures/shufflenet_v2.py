"""ShuffleNet V2 (Ma et al., 2018, arXiv:1807.11164)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError

layers = keras.layers

_PAPER = "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"

# Output channels of stages 2-4 and of conv5, by width (Table 5 of the paper).
_CHANNELS = {0.5: (48, 96, 192, 1024), 1.0: (116, 232, 464, 1024),
             1.5: (176, 352, 704, 1024), 2.0: (244, 488, 976, 2048)}
_STAGE_REPEATS = (4, 8, 4)
_STEM_CHANNELS = 24


def ShuffleNetV2(input_shape=(224, 224, 3), width=1.0, num_classes=1000, include_top=True,
                 dropout=0.0, classifier_activation="softmax", small_input=None,
                 name="shufflenet_v2"):
    """Builds ShuffleNet V2: channel split, a light branch, concatenation and channel shuffle.

    Reference: "ShuffleNet V2: Practical Guidelines for Efficient CNN Architecture Design"
    (Ma et al., 2018).

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      width: one of the paper's widths 0.5, 1.0, 1.5, 2.0. Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.0.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: stem at stride 1 and no max-pool (total stride 8 instead of 32), for
        28-63 px inputs. None chooses by input size. Defaults to None.
      name: model name. Defaults to "shufflenet_v2".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an unsupported width, an input smaller than 28x28, non-positive
        num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes, width, "width")
    if width not in _CHANNELS:
        raise UserError(f"width must be one of {sorted(_CHANNELS)}, got {width!r}")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)
    *stage_channels, last_channels = _CHANNELS[width]

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, _STEM_CHANNELS, 3, "stem_conv", strides=1 if small_input else 2)
    if not small_input:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (channels, repeats) in enumerate(zip(stage_channels, _STAGE_REPEATS), 2):
        x = _downsample_unit(x, channels, f"stage{stage}_unit1")
        for unit in range(2, repeats + 1):
            x = _basic_unit(x, f"stage{stage}_unit{unit}")
    x = _blocks.conv_bn(x, last_channels, 1, "head_conv")
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


def _branch(x, channels, stride, prefix):
    """1x1 conv → 3x3 depthwise (stride) → 1x1 conv, the right branch of both units."""
    x = _blocks.conv_bn(x, channels, 1, f"{prefix}_pw1")
    x = _blocks.depthwise_bn(x, 3, f"{prefix}_dw", strides=stride)
    return _blocks.conv_bn(x, channels, 1, f"{prefix}_pw2")


def _basic_unit(x, prefix):
    shortcut, x = _blocks.channel_split(x, f"{prefix}_split")
    x = _branch(x, x.shape[-1], 1, f"{prefix}_branch")
    x = layers.Concatenate(name=f"{prefix}_concat")([shortcut, x])
    return _blocks.channel_shuffle(x, 2, f"{prefix}_shuffle")


def _downsample_unit(x, out_channels, prefix):
    half = out_channels // 2
    left = _blocks.depthwise_bn(x, 3, f"{prefix}_shortcut_dw", strides=2)
    left = _blocks.conv_bn(left, half, 1, f"{prefix}_shortcut_pw")
    right = _branch(x, half, 2, f"{prefix}_branch")
    x = layers.Concatenate(name=f"{prefix}_concat")([left, right])
    return _blocks.channel_shuffle(x, 2, f"{prefix}_shuffle")


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="shufflenet_v2", paper=_PAPER)
def shufflenet_v2_x0_5(**kwargs):
    """ShuffleNet V2 0.5x."""
    return ShuffleNetV2(width=0.5, **kwargs)


@register_model(family="shufflenet_v2", paper=_PAPER)
def shufflenet_v2_x1_0(**kwargs):
    """ShuffleNet V2 1.0x."""
    return ShuffleNetV2(width=1.0, **kwargs)


@register_model(family="shufflenet_v2", paper=_PAPER)
def shufflenet_v2_x1_5(**kwargs):
    """ShuffleNet V2 1.5x."""
    return ShuffleNetV2(width=1.5, **kwargs)


@register_model(family="shufflenet_v2", paper=_PAPER)
def shufflenet_v2_x2_0(**kwargs):
    """ShuffleNet V2 2.0x."""
    return ShuffleNetV2(width=2.0, **kwargs)
