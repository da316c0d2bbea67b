"""Converter stage: Keras model → checked, measured TFLite flatbuffer.

- `convert_model(model, mode, representative_images)`: the flatbuffer bytes (`MODES`).
- `export_model(ExportConfig(...))`: `.tflite` + `labels.txt` + contract JSON, int8 check,
  Keras-vs-TFLite evaluation.
- `describe_file(path)` / `flatbuffer.describe(bytes)`: ops, tensors, quantization, MACs.
- `measure_layer_errors`: per-layer quantization error (TFLite's QuantizationDebugger).
"""

from tflite_lite.convert.converter import MODES, convert_model
from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement
from tflite_lite.convert.export import ExportConfig, export_model, load_keras_model
from tflite_lite.convert.flatbuffer import describe, float_ops, format_description
from tflite_lite.convert.layer_errors import LAYER_ERROR_COLUMNS, measure_layer_errors
from tflite_lite.convert.probe import describe_file

__all__ = ["MODES", "convert_model", "TFLiteClassifier", "evaluate_agreement", "ExportConfig",
           "export_model", "load_keras_model", "describe", "float_ops", "format_description",
           "LAYER_ERROR_COLUMNS", "measure_layer_errors", "describe_file"]
