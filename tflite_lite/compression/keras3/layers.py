"""The layers Keras 3 QAT puts in a model: a tracked-range activation quantizer and a
convolution (or Dense) with its batch norm folded in and its weights fake-quantized.

Both fake-quantize with `keras.quantizers.fake_quant_with_min_max_vars`, which the TensorFlow
backend runs as TensorFlow's FakeQuant ops: the TFLite converter reads their ranges and writes
int8 tensors with exactly those scales, without calibration.
"""

from tflite_lite._graph import clone_layer
from tflite_lite._keras import keras3

keras = keras3()
ops = keras.ops
_register = keras.saving.register_keras_serializable(package="tflite_lite")


def fake_quant(x, low, high, narrow_range=False, axis=None):
    """`x` rounded to 8 bits on [low, high] (per channel along `axis` when given)."""
    return keras.quantizers.fake_quant_with_min_max_vars(
        x, low, high, num_bits=8, narrow_range=narrow_range, axis=axis)


@_register
class ActivationQuantizer(keras.layers.Layer):
    """Fake-quantizes a tensor to int8 on a range tracked while training.

    The range starts as the first training batch's min and max and then follows them as a
    moving average (tfmot's `MovingAverageQuantizer` starts at [-6, 6] and decays at 0.999,
    too slowly for a one-epoch fine-tune). Inference and export use the tracked range; it
    always holds 0, as int8's zero point needs.

    Args:
      decay: weight of the old range at each training step. Defaults to 0.99.
    """

    def __init__(self, decay=0.99, **kwargs):
        super().__init__(**kwargs)
        self.decay = float(decay)

    def build(self, input_shape):
        constant = keras.initializers.Constant
        self.range_min = self.add_weight(name="range_min", shape=(), trainable=False,
                                         initializer=constant(-6.0))
        self.range_max = self.add_weight(name="range_max", shape=(), trainable=False,
                                         initializer=constant(6.0))
        self.tracked = self.add_weight(name="tracked", shape=(), trainable=False,
                                       initializer="zeros")

    def call(self, inputs, training=False):
        if training:
            self._track(ops.stop_gradient(inputs))
        return fake_quant(inputs, ops.minimum(self.range_min, 0.0),
                          ops.maximum(self.range_max, 0.0))

    def _track(self, values):
        keep = self.decay * self.tracked  # 0 before the first batch: take the batch's range
        self.range_min.assign(keep * self.range_min + (1.0 - keep) * ops.min(values))
        self.range_max.assign(keep * self.range_max + (1.0 - keep) * ops.max(values))
        self.tracked.assign(1.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "decay": self.decay}


_FOLDABLE = ("Conv2D", "DepthwiseConv2D", "Dense")


@_register
class QuantConv(keras.layers.Layer):
    """A Conv2D, DepthwiseConv2D or Dense layer, with the batch norm that follows it folded
    into its kernel and bias, and the folded kernel fake-quantized as the int8 file holds it:
    symmetric int8 ([-127, 127]), per output channel for convolutions, per tensor for Dense.

    The batch norm's moving statistics stay as the float model trained them (its scale and
    offset still train): QAT fine-tunes a trained model, and the folded kernel it rounds is the
    one the converter writes.

    Args:
      layer: the layer (or its serialized form); a fresh copy is made.
      batch_norm: the BatchNormalization after it (or its serialized form), or None.
      keep_zeros: mask the kernel with a 0/1 `mask` weight (a pruned model's zeros stay).
        Defaults to False.
    """

    def __init__(self, layer, batch_norm=None, keep_zeros=False, **kwargs):
        super().__init__(**kwargs)
        self.keep_zeros = bool(keep_zeros)
        self.layer = _fresh(layer)
        self.batch_norm = None if batch_norm is None else _fresh(batch_norm)
        kind = type(self.layer).__name__
        if kind not in _FOLDABLE:
            raise ValueError(f"QuantConv takes {', '.join(_FOLDABLE)}, not {kind}")
        self.kind = kind

    def build(self, input_shape):
        self.layer.build(input_shape)
        if self.batch_norm is not None:
            self.batch_norm.build(self.layer.compute_output_shape(input_shape))
        if self.keep_zeros:  # a pruned kernel's zeros stay zero (and get no gradient)
            self.mask = self.add_weight(name="mask", shape=self.layer.kernel.shape,
                                        initializer="ones", trainable=False)

    def masked_kernel(self):
        """The kernel before folding: a pruned kernel's zeros kept."""
        kernel = self.layer.kernel
        return kernel * self.mask if self.keep_zeros else kernel

    def folded(self):
        """(kernel, bias or None) with the batch norm folded in, in float."""
        kernel = self.masked_kernel()
        bias = self.layer.bias if self.layer.use_bias else None
        norm = self.batch_norm
        if norm is None:
            return kernel, bias
        scale = ops.rsqrt(norm.moving_variance + norm.epsilon)
        if norm.scale:
            scale = scale * norm.gamma
        offset = -norm.moving_mean * scale
        if norm.center:
            offset = offset + norm.beta
        if bias is not None:
            offset = offset + bias * scale
        if self.kind == "DepthwiseConv2D":
            scale = ops.reshape(scale, kernel.shape[2:])
        return kernel * scale, offset

    def quantized_kernel(self, kernel):
        """`kernel` rounded to symmetric int8, per output channel for convolutions."""
        if self.kind == "Dense":
            limit = ops.maximum(ops.max(ops.abs(kernel)), 1e-8)
            return fake_quant(kernel, -limit, limit, narrow_range=True)
        shape = kernel.shape
        if self.kind == "DepthwiseConv2D":
            # Channels last, in the layout the converter writes: (h, w, 1, in x multiplier).
            kernel = ops.reshape(kernel, (shape[0], shape[1], 1, shape[2] * shape[3]))
        limit = ops.maximum(ops.max(ops.abs(kernel), axis=(0, 1, 2)), 1e-8)
        return ops.reshape(fake_quant(kernel, -limit, limit, narrow_range=True, axis=-1), shape)

    def call(self, inputs):
        kernel, bias = self.folded()
        return apply_kernel(self.layer, inputs, self.quantized_kernel(kernel), bias)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        serialize = keras.saving.serialize_keras_object
        return {**super().get_config(), "layer": serialize(self.layer),
                "keep_zeros": self.keep_zeros,
                "batch_norm": None if self.batch_norm is None else serialize(self.batch_norm)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        deserialize = keras.saving.deserialize_keras_object
        config["layer"] = deserialize(config["layer"])
        if config.get("batch_norm") is not None:
            config["batch_norm"] = deserialize(config["batch_norm"])
        return cls(**config)


def apply_kernel(layer, inputs, kernel, bias):
    """What a Conv2D, DepthwiseConv2D or Dense `layer` computes, with `kernel` and `bias`
    (None: no bias) in place of its own."""
    kind = type(layer).__name__
    if kind == "Dense":
        outputs = ops.matmul(inputs, kernel)
    elif kind == "DepthwiseConv2D":
        outputs = ops.depthwise_conv(inputs, kernel, strides=layer.strides,
                                     padding=layer.padding, data_format=layer.data_format,
                                     dilation_rate=layer.dilation_rate)
    else:
        outputs = ops.conv(inputs, kernel, strides=layer.strides, padding=layer.padding,
                           data_format=layer.data_format, dilation_rate=layer.dilation_rate)
    if bias is not None:
        outputs = outputs + bias
    return layer.activation(outputs)


def _fresh(layer):
    """An unbuilt copy of a layer, or the layer a serialized form describes."""
    if isinstance(layer, dict):
        return keras.saving.deserialize_keras_object(layer)
    return clone_layer(layer)
