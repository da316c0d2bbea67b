"""Building blocks shared by the builders.

Everything here is made of stock Keras layers that tfmot's default 8-bit scheme and TFLite's int8
kernels support, plus the hard-swish layer of `_layers` (which the QAT stage quantizes). Channel
shuffle and split avoid `tf.split` / `tf.transpose` (which become
`TFOpLambda` layers that tfmot cannot quantize) and use Reshape, Permute and Cropping2D instead.
Layer names follow one scheme: `<block>_<part>` in snake_case, e.g. `block3_dw_bn`.
"""

from tflite_lite._keras import keras
from tflite_lite.architectures._layers import HardSwish
from tflite_lite.errors import UserError

layers = keras.layers

MIN_INPUT_SIZE = 28
# Batch-norm moving averages: 0.9 settles within a few hundred steps, which short runs on
# small datasets need (Keras' 0.99 leaves inference statistics near their initial values).
BN_MOMENTUM = 0.9
# Inputs smaller than this on either side default to the small-input (CIFAR-style) variant.
SMALL_INPUT_BELOW = 64


def make_divisible(value, divisor=8, min_value=None):
    """Rounds `value` to the nearest multiple of `divisor`, never going 10% below it."""
    min_value = min_value or divisor
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def validate_args(model_name, input_shape, num_classes, width=None, width_name="alpha"):
    """Checks the arguments every builder takes; returns `input_shape` as a tuple.

    Raises:
      UserError: naming the argument and the value received.
    """
    try:
        input_shape = tuple(int(d) for d in input_shape)
    except (TypeError, ValueError):
        raise UserError(f"input_shape must be (height, width, channels), got {input_shape!r}") from None
    if len(input_shape) != 3 or min(input_shape) < 1:
        raise UserError(f"input_shape must be (height, width, channels), got {input_shape!r}")
    if min(input_shape[:2]) < MIN_INPUT_SIZE:
        raise UserError(f"input_shape {input_shape} is too small for {model_name}: "
                        f"the smallest input is {MIN_INPUT_SIZE}x{MIN_INPUT_SIZE}")
    if not isinstance(num_classes, int) or num_classes < 1:
        raise UserError(f"num_classes must be a positive integer, got {num_classes!r}")
    if width is not None and not width > 0:
        raise UserError(f"{width_name} must be positive, got {width!r}")
    return input_shape


def resolve_small_input(small_input, input_shape):
    """`None` means: use the small-input variant when a side is below SMALL_INPUT_BELOW pixels."""
    if small_input is None:
        return min(input_shape[:2]) < SMALL_INPUT_BELOW
    return bool(small_input)


def conv_bn(x, filters, kernel_size, name, strides=1, activation="relu"):
    """Conv2D (no bias) → BatchNormalization → optional activation ("relu", "relu6",
    "hard_swish" or None)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False,
                      name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return _activation(x, activation, name)


def depthwise_bn(x, kernel_size, name, strides=1, activation=None):
    """DepthwiseConv2D (no bias) → BatchNormalization → optional activation."""
    x = layers.DepthwiseConv2D(kernel_size, strides=strides, padding="same", use_bias=False,
                               name=name)(x)
    x = layers.BatchNormalization(epsilon=1e-3, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return _activation(x, activation, name)


def _activation(x, activation, name):
    if activation is None:
        return x
    if activation == "relu6":
        return layers.ReLU(6.0, name=f"{name}_relu")(x)
    if activation == "relu":
        return layers.ReLU(name=f"{name}_relu")(x)
    if activation == "hard_swish":
        return HardSwish(name=f"{name}_hswish")(x)
    raise ValueError(f"unknown activation {activation!r}")


def inverted_residual(x, expansion, out_channels, stride, prefix, kernel_size=3):
    """MobileNet V2's block (EfficientNet-Lite's MBConv): 1x1 expansion (none at expansion 1),
    depthwise, linear 1x1 projection, all ReLU6 but the projection; a residual add when the
    shape allows it."""
    in_channels = x.shape[-1]
    shortcut = x
    if expansion != 1:
        x = conv_bn(x, in_channels * expansion, 1, f"{prefix}_expand", activation="relu6")
    x = depthwise_bn(x, kernel_size, f"{prefix}_dw", strides=stride, activation="relu6")
    x = conv_bn(x, out_channels, 1, f"{prefix}_project", activation=None)
    if stride == 1 and in_channels == out_channels:
        x = layers.Add(name=f"{prefix}_add")([shortcut, x])
    return x


def channel_shuffle(x, groups, name):
    """ShuffleNet's channel shuffle as Reshape → Permute → Reshape."""
    height, width, channels = x.shape[1:]
    x = layers.Reshape((height, width, groups, channels // groups), name=f"{name}_group")(x)
    x = layers.Permute((1, 2, 4, 3), name=f"{name}_transpose")(x)
    return layers.Reshape((height, width, channels), name=f"{name}_flatten")(x)


def split_channels(x, parts, name):
    """Splits the channels into `parts` equal slices with Reshape → Cropping2D → Reshape.

    The tensor (H, W, C) is viewed as (H*W, parts, C/parts); cropping all columns but one keeps
    one slice of the channels. Each becomes a StridedSlice in TFLite.
    """
    height, width, channels = x.shape[1:]
    size = channels // parts
    x = layers.Reshape((height * width, parts, size), name=f"{name}_view")(x)
    slices = []
    for i in range(parts):
        part = layers.Cropping2D(((0, 0), (i, parts - 1 - i)), name=f"{name}_crop{i}")(x)
        slices.append(layers.Reshape((height, width, size), name=f"{name}_part{i}")(part))
    return slices


def channel_split(x, name):
    """ShuffleNet V2's channel split into two halves (see `split_channels`)."""
    return split_channels(x, 2, name)


def grouped_pointwise_bn(x, filters, groups, name, activation="relu", native=False):
    """A grouped 1x1 convolution with batch norm, as `groups` parallel Conv2D → BN branches.

    Same weights and MACs as `Conv2D(groups=groups)` followed by batch norm, but TensorFlow's
    CPU kernels train this form about 15x faster than a grouped Conv2D, and each branch is a
    Conv → BN pattern that tfmot folds for quantization-aware training. With `native`, one
    `Conv2D(groups=groups)` named `name` (+ `name_bn`) instead: the deployment form, a single
    grouped CONV_2D in TFLite instead of slices, branch convs and a concatenation.
    """
    if groups == 1:
        return conv_bn(x, filters, 1, name, activation=activation)
    if native:
        x = layers.Conv2D(filters, 1, groups=groups, use_bias=False, name=name)(x)
        x = layers.BatchNormalization(epsilon=1e-3, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
        return _activation(x, activation, name)
    branches = [conv_bn(part, filters // groups, 1, f"{name}_g{i}", activation=activation)
                for i, part in enumerate(split_channels(x, groups, f"{name}_split"))]
    return layers.Concatenate(name=f"{name}_concat")(branches)


def classifier(x, num_classes, dropout, classifier_activation):
    """Global average pooling → dropout → Dense `logits` → optional `predictions` activation."""
    x = layers.GlobalAveragePooling2D(name="pool")(x)
    if dropout:
        x = layers.Dropout(dropout, name="dropout")(x)
    x = layers.Dense(num_classes, name="logits")(x)
    return output_activation(x, classifier_activation)


def output_activation(x, classifier_activation):
    """Adds the final activation as its own layer, so that logits stay reachable (distillation)."""
    if classifier_activation is None:
        return x
    return layers.Activation(classifier_activation, name="predictions")(x)


def validate_classifier_activation(classifier_activation):
    if classifier_activation not in (None, "softmax", "sigmoid"):
        raise UserError("classifier_activation must be 'softmax', 'sigmoid' or None, "
                        f"got {classifier_activation!r}")
