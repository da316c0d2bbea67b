"""Quantization-aware training, low-bit weights and per-layer mixed precision."""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _keras  # noqa: F401,I001

from tflite_lite.quantization.low_bit import (
    WEIGHT_QUANTIZERS,
    LowBitWeightQuantizer,
    LowBitWeightsQuantizeConfig,
    effective_bits,
)
from tflite_lite.quantization.qat import (
    PRESERVE,
    QATConfig,
    check_quantizable,
    deploy_qat_model,
    is_quantized,
    load_model,
    quantize_model,
    quantize_scope,
    with_default_scheme,
)
