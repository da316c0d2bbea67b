"""Converter stage: Keras model → checked, measured TFLite flatbuffer.

- `export(model, mode=..., calibration=..., evaluate_on=...)`: a model in memory (tf_keras or
  Keras 3), a `.keras` path or a SavedModel folder → `ExportResult` (bytes, contract, int8
  check, parity; `save`); `keep_float_layers` / `accuracy_budget_pp` for per-layer precision.
- `convert_model(model, mode, representative_images)`: the flatbuffer bytes (`MODES`).
- `export_model(ExportConfig(...))`: `export` for a training run's `.keras` file (its run
  record gives dataset, preprocessing and class names), written to disk.
- `describe_file(path)` / `flatbuffer.describe(bytes)`: ops, tensors, quantization, MACs.
- `measure_layer_errors`: per-layer quantization error (TFLite's QuantizationDebugger).

Names load on first use: reading, describing and running a `.tflite` (`flatbuffer`, `probe`,
`evaluate`) never imports TensorFlow.
"""

from tflite_lite import _lazy

__getattr__, __dir__, __all__ = _lazy.attach(__name__, {
    "api": ["ExportResult", "export", "load_keras_model"],
    "converter": ["convert_model"],
    "evaluate": ["TFLiteClassifier", "evaluate_agreement"],
    "export_files": ["export_model"],
    "flatbuffer": ["describe", "float_ops", "format_description"],
    "layer_errors": ["LAYER_ERROR_COLUMNS", "measure_layer_errors"],
    "options": ["ExportConfig", "ExportOptions", "MODES", "SCORES"],
    "probe": ["describe_file"],
    "saved_model": ["SavedModelClassifier"],
})
