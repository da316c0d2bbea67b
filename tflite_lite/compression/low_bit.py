"""Low-bit weights for quantization-aware training: uniform n-bit, ternary and binary.

The quantizers follow the compression surveys' formulas, per output channel c of a Conv2D
(per layer for Dense and DepthwiseConv2D kernels, which TFLite stores transposed):

- uniform n-bit: L = 2^(n-1) - 1 levels each side, s_c = max|w_c| / L,
  q = s_c * clip(round(w / s_c), -L, L);
- ternary (TWN): δ_c = 0.7 · mean|w_c|, q = α_c · sign(w) · [|w| > δ_c], with α_c the mean of
  the |w| above δ_c;
- binary: q = α_c · sign(w − μ), μ the layer's mean weight and α_c = mean|w_c|.

Gradients pass straight through (q = w + stop_gradient(q − w)). TFLite has no sub-8-bit
kernels, so the result then goes through an 8-bit per-channel fake quantization whose scale is
exactly the low-bit step s_c (or α_c): the int8 weights in the exported flatbuffer are the
low-bit integer codes themselves (e.g. only −1, 0, +1 for ternary), which compress well.
"""


from tflite_lite import _keras  # noqa: F401,I001  (Keras 2 for tfmot, first)
from tensorflow_model_optimization.python.core.quantization.keras import quantizers
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs as _configs,
    default_8bit_quantize_layout_transform as _layout,
    default_8bit_quantize_registry as _registry,
    default_8bit_quantize_scheme as _scheme,
)

from tflite_lite._keras import keras, tf
from tflite_lite.errors import UserError
from tflite_lite.compression.config import validate_weight_quantizer

_INT8_LEVELS = 127.0
_EPSILON = 1e-12


@keras.utils.register_keras_serializable(package="tflite_lite")
class LowBitWeightQuantizer(quantizers.Quantizer):
    """A tfmot weight `Quantizer` for uniform n-bit, ternary or binary weights (see module doc).

    Args:
      method: "uniform", "ternary" or "binary".
      bits: bits per weight for "uniform" (2-8); ignored by the others. Defaults to 8.
    """

    def __init__(self, method="uniform", bits=8):
        validate_weight_quantizer(method, bits)
        if method == "int8":
            raise UserError("int8 weights use tfmot's own quantizer, not LowBitWeightQuantizer")
        self.method = method
        self.bits = bits
        self._per_tensor = False

    def build(self, tensor_shape, name, layer):
        # The converter transposes Dense and depthwise kernels into TFLite's layout, and the
        # quantized axis of a per-channel range cannot follow: one scale per layer there.
        self._per_tensor = isinstance(layer, (keras.layers.Dense, keras.layers.DepthwiseConv2D))
        return {}

    def _codes_and_scale(self, w):
        axes = list(range(len(w.shape) - (0 if self._per_tensor else 1)))
        magnitude = tf.abs(w)
        if self.method == "uniform":
            levels = float(2 ** (self.bits - 1) - 1)
            scale = tf.maximum(tf.reduce_max(magnitude, axis=axes) / levels, _EPSILON)
            return tf.clip_by_value(tf.round(w / scale), -levels, levels), scale
        if self.method == "ternary":
            threshold = 0.7 * tf.reduce_mean(magnitude, axis=axes)
            mask = tf.cast(magnitude > threshold, w.dtype)
            scale = tf.maximum(tf.math.divide_no_nan(tf.reduce_sum(magnitude * mask, axis=axes),
                                                     tf.reduce_sum(mask, axis=axes)), _EPSILON)
            return tf.sign(w) * mask, scale
        centred = w - tf.reduce_mean(w)
        signs = tf.where(centred >= 0, tf.ones_like(w), -tf.ones_like(w))
        return signs, tf.maximum(tf.reduce_mean(magnitude, axis=axes), _EPSILON)

    def __call__(self, inputs, training, weights, **kwargs):
        w = inputs
        codes, scale = self._codes_and_scale(w)
        projected = w + tf.stop_gradient(codes * scale - w)
        bound = _INT8_LEVELS * scale
        fake_quant = (tf.quantization.fake_quant_with_min_max_vars if self._per_tensor else
                      tf.quantization.fake_quant_with_min_max_vars_per_channel)
        return fake_quant(projected, -bound, bound, num_bits=8, narrow_range=True)

    def get_config(self):
        return {"method": self.method, "bits": self.bits}

    def __eq__(self, other):
        return isinstance(other, LowBitWeightQuantizer) and self.get_config() == other.get_config()

    def __ne__(self, other):
        return not self == other


@keras.utils.register_keras_serializable(package="tflite_lite")
class LowBitWeightsQuantizeConfig(_registry.Default8BitQuantizeConfig):
    """tfmot's 8-bit config for a Conv2D / DepthwiseConv2D / Dense with low-bit weights:
    activations and outputs stay 8-bit, as in the default scheme."""

    def __init__(self, weight_attrs, activation_attrs, quantize_output, method="uniform",
                 bits=8):
        super().__init__(weight_attrs, activation_attrs, quantize_output)
        self.method = method
        self.bits = bits
        self.weight_quantizer = LowBitWeightQuantizer(method, bits)

    def get_config(self):
        return dict(super().get_config(), method=self.method, bits=self.bits)


class _LowBitRegistry(_registry.Default8BitQuantizeRegistry):
    def __init__(self, layer_names, method, bits):
        super().__init__()
        self.layer_names = frozenset(layer_names)
        self._method, self._bits = method, bits

    def get_quantize_config(self, layer):
        return self.low_bit(layer.name, super().get_quantize_config(layer))

    def low_bit(self, layer_name, config):
        """`config` with low-bit weights if `layer_name` is one of the low-bit layers."""
        if layer_name not in self.layer_names or isinstance(config, LowBitWeightsQuantizeConfig):
            return config
        return LowBitWeightsQuantizeConfig(config.weight_attrs, config.activation_attrs,
                                           config.quantize_output, self._method, self._bits)


class _LowBitLayoutTransform(_layout.Default8BitQuantizeLayoutTransform):
    """tfmot's 8-bit transforms, then low-bit weights for the low-bit layers they annotated.
    The transforms give some layers a config of their own, which the registry never sees: a
    conv before a ReLU (as in SqueezeNet) gets a no-op config, without weight quantization."""

    def __init__(self, registry):
        self._registry = registry

    def apply(self, model, layer_quantize_map):
        model, layer_quantize_map = super().apply(model, layer_quantize_map)
        for name in self._registry.layer_names & layer_quantize_map.keys():
            config = layer_quantize_map[name].get("quantize_config")
            if isinstance(config, _configs.NoOpQuantizeConfig):  # weights only, no activation
                layer = model.get_layer(name)
                weights = self._registry.get_quantize_config(layer).weight_attrs
                config = _registry.Default8BitQuantizeConfig(weights, [], False)
            if config is not None:
                layer_quantize_map[name]["quantize_config"] = self._registry.low_bit(name, config)
        return model, layer_quantize_map


class LowBitQuantizeScheme(_scheme.Default8BitQuantizeScheme):
    """tfmot's default 8-bit scheme (same batch-norm folding transforms) with low-bit weights in
    the layers named `layer_names`."""

    def __init__(self, layer_names, method, bits):
        super().__init__()
        validate_weight_quantizer(method, bits)
        self._registry = _LowBitRegistry(layer_names, method, bits)

    def get_layout_transformer(self):
        return _LowBitLayoutTransform(self._registry)

    def get_quantize_registry(self):
        return self._registry


WEIGHTED_LAYER_TYPES = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def low_bit_layer_names(model, keep_first_and_last=True):
    """Names of the layers whose weights go low-bit: every Conv2D / DepthwiseConv2D / Dense,
    except (by default) the first and the last, which the literature keeps at 8 bits."""
    names = [layer.name for layer in model.layers if isinstance(layer, WEIGHTED_LAYER_TYPES)]
    return names[1:-1] if keep_first_and_last else names

