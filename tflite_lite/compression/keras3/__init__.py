"""Keras-3-native compression: what tfmot does for tf_keras models, for `import keras` models.

`compression.quantize_model` (and the others) dispatch here when handed a Keras 3 model.
"""

from tflite_lite.compression.keras3.layers import ActivationQuantizer, QuantConv
from tflite_lite.compression.keras3.qat import is_quantized, quantize_model

__all__ = ["ActivationQuantizer", "QuantConv", "is_quantized", "quantize_model"]
