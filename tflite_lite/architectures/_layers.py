"""Layers the builders need beyond Keras' own: MobileNet V3's hard sigmoid and hard swish.

Each is one layer, not a Lambda or a chain of TF ops, so that tfmot can quantize it (the QAT
stage gives each an output quantizer, `compression.qat`) and a `.keras` file reloads it in
safe mode. `HardSigmoid` converts to an ADD with a fused RELU6 and a MUL.

`HardSwish` has two graph forms with the same values, chosen when a graph is traced
(`hard_swish_form`): "fused" (the default) converts to TFLite's HARD_SWISH kernel, which
XNNPACK runs in float but not in int8: each int8 HARD_SWISH falls back to the builtin kernel
and splits the delegated graph (MobileNet V3 Large 1.0 at 224 px: 22 partitions, int8 slower
than float). "split" is `relu6(x + 3) * x / 6`: an ADD with a fused RELU6 and a MUL, with the
division folded into the next convolution where it has one; every op stays in XNNPACK. The
converter traces int8 graphs in the split form (`python -m benchmarks.export` times both). Under
QAT both layers fake-quantize their gate (`quantize_gate`), so that every tensor their int8
graph holds has a trained range.
"""

import contextlib
import contextvars

from tflite_lite._keras import keras, tf
from tflite_lite.errors import UserError

HARD_SWISH_FORMS = ("fused", "split")
_HARD_SWISH_FORM = contextvars.ContextVar("hard_swish_form", default="fused")


@contextlib.contextmanager
def hard_swish_form(form):
    """Traces `HardSwish` layers in `form` (one of `HARD_SWISH_FORMS`) inside the block."""
    if form not in HARD_SWISH_FORMS:
        raise UserError(f"unknown hard swish form {form!r}; choose one of "
                        f"{', '.join(HARD_SWISH_FORMS)}")
    token = _HARD_SWISH_FORM.set(form)
    try:
        yield
    finally:
        _HARD_SWISH_FORM.reset(token)


@keras.utils.register_keras_serializable(package="tflite_lite")
class HardSigmoid(keras.layers.Layer):
    """relu6(x + 3) / 6: a piecewise-linear sigmoid (Howard et al. 2019)."""

    quantize_gate = False  # QAT sets it (`compression.qat`): relu6(x + 3) fake-quantized

    def call(self, inputs):
        gate = tf.nn.relu6(inputs + 3.0)
        if self.quantize_gate:  # the int8 graph holds it: its range from QAT, not calibration
            gate = tf.quantization.fake_quant_with_min_max_args(gate, 0.0, 6.0)
        return gate * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.utils.register_keras_serializable(package="tflite_lite")
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6: a piecewise-polynomial swish (Howard et al. 2019)."""

    quantize_gate = False  # QAT sets it (`compression.qat`): the quantized form below

    def call(self, inputs):
        gate = tf.nn.relu6(inputs + 3.0)
        if self.quantize_gate:
            # x * (relu6(x + 3) / 6) with both gate tensors fake-quantized on their fixed
            # ranges, [0, 6] and [0, 1]: every tensor of the int8 graph then has a range QAT
            # set (the product x * relu6(x + 3) of the split form would be calibrated only).
            gate = tf.quantization.fake_quant_with_min_max_args(gate, 0.0, 6.0)
            unit = tf.quantization.fake_quant_with_min_max_args(gate * (1.0 / 6.0), 0.0, 1.0)
            return unit * inputs
        if _HARD_SWISH_FORM.get() == "split":
            # This operand order and a division escape the converter's HARD_SWISH pattern.
            return gate * inputs / 6.0
        return inputs * gate * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


CUSTOM_OBJECTS = {"HardSigmoid": HardSigmoid, "HardSwish": HardSwish}
