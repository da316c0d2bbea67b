"""SqueezeNet 1.0 and 1.1 (Iandola et al., 2016, arXiv:1602.07360)."""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError

layers = keras.layers

_PAPER = "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model size"

# Per version: stem (filters, kernel), then the fire modules (squeeze, expand) with "pool"
# marking a 3x3 stride-2 max-pool. Version 1.1 is from the authors' SqueezeNet v1.1 release.
_VERSIONS = {
    "1.0": ((96, 7), ("pool", (16, 64), (16, 64), (32, 128), "pool", (32, 128), (48, 192),
                      (48, 192), (64, 256), "pool", (64, 256))),
    "1.1": ((64, 3), ("pool", (16, 64), (16, 64), "pool", (32, 128), (32, 128), "pool",
                      (48, 192), (48, 192), (64, 256), (64, 256))),
}


def SqueezeNet(input_shape=(224, 224, 3), version="1.0", num_classes=1000, include_top=True,
               dropout=0.5, classifier_activation="softmax", small_input=None, name="squeezenet"):
    """Builds SqueezeNet: fire modules (1x1 squeeze, then parallel 1x1 and 3x3 expand).

    Reference: "SqueezeNet: AlexNet-level accuracy with 50x fewer parameters and <0.5MB model
    size" (Iandola et al., 2016). The classifier is a 1x1 convolution followed by global
    average pooling, as in the paper.

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      version: "1.0" or "1.1". Defaults to "1.0".
      num_classes: classifier size. Defaults to 1000.
      include_top: whether to add the convolutional classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.5.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: stem at stride 1 (total stride 8 instead of 16), for 28-63 px inputs.
        None chooses by input size. Defaults to None.
      name: model name. Defaults to "squeezenet".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: for an unknown version, an input smaller than 28x28, non-positive num_classes.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes)
    if version not in _VERSIONS:
        raise UserError(f"version must be one of {sorted(_VERSIONS)}, got {version!r}")
    _blocks.validate_classifier_activation(classifier_activation)
    small_input = _blocks.resolve_small_input(small_input, input_shape)
    (stem_filters, stem_kernel), plan = _VERSIONS[version]

    inputs = keras.Input(shape=input_shape, name="input")
    x = _conv_relu(inputs, stem_filters, stem_kernel, "stem_conv", strides=1 if small_input else 2,
                   padding="valid")
    pool, fire = 0, 2
    for step in plan:
        if step == "pool":
            pool += 1
            x = _ceil_max_pool(x, f"pool{pool}")
        else:
            x = _fire(x, *step, f"fire{fire}")
            fire += 1
    if include_top:
        if dropout:
            x = layers.Dropout(dropout, name="dropout")(x)
        x = _conv_relu(x, num_classes, 1, "classifier_conv")
        x = layers.GlobalAveragePooling2D(name="logits")(x)
        x = _blocks.output_activation(x, classifier_activation)
    return keras.Model(inputs, x, name=name)


def _conv_relu(x, filters, kernel_size, name, strides=1, padding="same"):
    """A convolution with its ReLU inside: tfmot quantizes its kernel (with the ReLU as a
    layer of its own, tfmot left the kernel in float, and QAT simulated another model than
    the int8 file: 0.913 agreement for SqueezeNet 1.1)."""
    return layers.Conv2D(filters, kernel_size, strides=strides, padding=padding,
                         activation="relu", name=name)(x)


def _ceil_max_pool(x, name):
    """3x3 stride-2 max-pool that rounds its output size up, as the reference model does.

    A side whose window does not fit evenly gets one extra row/column at its end; the input
    follows a ReLU, so zero padding never changes a maximum.
    """
    pad = tuple((size - 3) % 2 for size in x.shape[1:3])
    if pad == (1, 1):
        return layers.MaxPooling2D(3, strides=2, padding="same", name=name)(x)
    if pad != (0, 0):
        x = layers.ZeroPadding2D(((0, pad[0]), (0, pad[1])), name=f"{name}_pad")(x)
    return layers.MaxPooling2D(3, strides=2, padding="valid", name=name)(x)


def _fire(x, squeeze, expand, prefix):
    x = _conv_relu(x, squeeze, 1, f"{prefix}_squeeze")
    left = _conv_relu(x, expand, 1, f"{prefix}_expand1x1")
    right = _conv_relu(x, expand, 3, f"{prefix}_expand3x3")
    return layers.Concatenate(name=f"{prefix}_concat")([left, right])


# The family's smallest entry point first: tests take it as the family's representative.
@register_model(family="squeezenet", paper=_PAPER)
def squeezenet_1_1(**kwargs):
    """SqueezeNet 1.1."""
    return SqueezeNet(version="1.1", **kwargs)


@register_model(family="squeezenet", paper=_PAPER)
def squeezenet_1_0(**kwargs):
    """SqueezeNet 1.0."""
    return SqueezeNet(version="1.0", **kwargs)
