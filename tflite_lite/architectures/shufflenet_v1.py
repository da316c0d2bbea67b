"""ShuffleNet V1 (Zhang et al., 2018, arXiv:1707.01083)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError

layers = keras.layers

_PAPER = "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile Devices"

# Output channels of stages 2-4 at width 1.0, by number of groups (Table 1 of the paper).
GROUPED_CONV_FORMS = ("branches", "native")
_STAGE_CHANNELS = {1: (144, 288, 576), 2: (200, 400, 800), 3: (240, 480, 960),
                   4: (272, 544, 1088), 8: (384, 768, 1536)}
_STAGE_REPEATS = (4, 8, 4)
_STEM_CHANNELS = 24


def ShuffleNetV1(input_shape=(224, 224, 3), groups=3, width=1.0, num_classes=1000,
                 include_top=True, dropout=0.0, classifier_activation="softmax", small_input=None,
                 grouped_conv="branches", name="shufflenet_v1"):
    """Builds ShuffleNet V1: grouped 1x1 convolutions with a channel shuffle between them.

    Reference: "ShuffleNet: An Extremely Efficient Convolutional Neural Network for Mobile
    Devices" (Zhang et al., 2018).

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      groups: groups of the 1x1 convolutions: 1, 2, 3, 4 or 8. Defaults to 3.
      width: channel multiplier ("ShuffleNet s×"); channels are rounded to multiples of
        4 * groups. Defaults to 1.0.
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.0.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: stem at stride 1 and no max-pool (total stride 8 instead of 32), for
        28-63 px inputs. None chooses by input size. Defaults to None.
      grouped_conv: "branches" (parallel conv-BN branches: fast to train, tfmot-foldable) or
        "native" (one `Conv2D(groups=...)` each: the deployment form; `deploy_form` converts a
        trained model). Same weights either way. Defaults to "branches".
      name: model name. Defaults to "shufflenet_v1".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for unsupported groups, an input smaller than 28x28, non-positive width or
        num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes, width, "width")
    if grouped_conv not in GROUPED_CONV_FORMS:
        raise UserError(f"grouped_conv must be one of {GROUPED_CONV_FORMS}, got {grouped_conv!r}")
    native = grouped_conv == "native"
    if groups not in _STAGE_CHANNELS:
        raise UserError(f"groups must be one of {sorted(_STAGE_CHANNELS)}, got {groups!r}")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, _STEM_CHANNELS, 3, "stem_conv", strides=1 if small_input else 2)
    if not small_input:
        x = layers.MaxPooling2D(3, strides=2, padding="same", name="stem_pool")(x)
    for stage, (channels, repeats) in enumerate(zip(_STAGE_CHANNELS[groups], _STAGE_REPEATS), 2):
        out_channels = _blocks.make_divisible(channels * width, 4 * groups)
        for unit in range(1, repeats + 1):
            # The paper keeps the first 1x1 convolution of stage 2 ungrouped (24 input channels).
            first_groups = 1 if (stage == 2 and unit == 1) else groups
            x = _shuffle_unit(x, out_channels, groups, first_groups, 2 if unit == 1 else 1,
                              f"stage{stage}_unit{unit}", native)
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


def _shuffle_unit(x, out_channels, groups, first_groups, stride, prefix, native):
    shortcut = x
    branch_channels = out_channels - x.shape[-1] if stride == 2 else out_channels
    y = _blocks.grouped_pointwise_bn(x, out_channels // 4, first_groups, f"{prefix}_gconv1",
                                     native=native)
    if first_groups > 1:
        y = _blocks.channel_shuffle(y, first_groups, f"{prefix}_shuffle")
    y = _blocks.depthwise_bn(y, 3, f"{prefix}_dw", strides=stride)
    # ReLU(concat(pool(x), y)) == concat(pool(x), ReLU(y)): x comes out of a ReLU, so its
    # average is non-negative. Applying the ReLU inside the conv keeps it fused in TFLite (a
    # standalone int8 ReLU after a concatenation costs more than the whole concatenation).
    y = _blocks.grouped_pointwise_bn(y, branch_channels, groups, f"{prefix}_gconv2",
                                     activation="relu" if stride == 2 else None, native=native)
    if stride == 2:
        shortcut = layers.AveragePooling2D(3, strides=2, padding="same", name=f"{prefix}_pool")(x)
        return layers.Concatenate(name=f"{prefix}_concat")([shortcut, y])
    y = layers.Add(name=f"{prefix}_add")([shortcut, y])
    return layers.ReLU(name=f"{prefix}_relu")(y)


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g3_050(**kwargs):
    """ShuffleNet V1 0.5x, 3 groups."""
    return ShuffleNetV1(groups=3, width=0.5, **kwargs)


@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g1_100(**kwargs):
    """ShuffleNet V1 1.0x, 1 group."""
    return ShuffleNetV1(groups=1, width=1.0, **kwargs)


@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g2_100(**kwargs):
    """ShuffleNet V1 1.0x, 2 groups."""
    return ShuffleNetV1(groups=2, width=1.0, **kwargs)


@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g3_100(**kwargs):
    """ShuffleNet V1 1.0x, 3 groups."""
    return ShuffleNetV1(groups=3, width=1.0, **kwargs)


@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g4_100(**kwargs):
    """ShuffleNet V1 1.0x, 4 groups."""
    return ShuffleNetV1(groups=4, width=1.0, **kwargs)


@register_model(family="shufflenet_v1", paper=_PAPER)
def shufflenet_v1_g8_100(**kwargs):
    """ShuffleNet V1 1.0x, 8 groups."""
    return ShuffleNetV1(groups=8, width=1.0, **kwargs)
