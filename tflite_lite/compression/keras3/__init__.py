"""Keras-3-native compression: what tfmot does for tf_keras models, for `import keras` models.

`compression.quantize_model`, `prune_model`, `strip_pruning`, `is_quantized` and `is_pruned`
dispatch here when handed a Keras 3 model.
"""

from tflite_lite.compression.keras3.layers import ActivationQuantizer, QuantConv
from tflite_lite.compression.keras3.pruning import (PruneLowMagnitude, is_pruned, prune_model,
                                                    strip_pruning)
from tflite_lite.compression.keras3.qat import is_quantized, quantize_model

__all__ = ["ActivationQuantizer", "PruneLowMagnitude", "QuantConv", "is_pruned",
           "is_quantized", "prune_model", "quantize_model", "strip_pruning"]
