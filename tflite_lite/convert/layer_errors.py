"""Per-layer int8 quantization error (TFLite's QuantizationDebugger), and selective float.

TFLite's debugger runs each quantized op next to its float original on the same input and
records the difference. The figure to rank layers by is RMSE / scale: the error measured in
quantization steps (1/sqrt(12) ≈ 0.29 is the floor of plain rounding).
"""

import csv
import io
import math
import warnings

from tflite_lite import _native
from tflite_lite._keras import tf
from tflite_lite.convert import converter as _converter


def _dataset(images):
    def generate():
        for image in images:
            yield [image[None].astype("float32")]
    return generate


def measure_layer_errors(calibrated, images):
    """Per-tensor quantization error of a calibrated model on `images`.

    Args:
      calibrated: bytes from `converter.calibrate`.
      images: preprocessed float images (N, H, W, C) to run.

    Returns:
      Rows sorted worst first: `tensor` (name), `op`, `scale`, `rmse`, `rmse_over_scale`,
      `max_abs_error`.
    """
    debug_model = _converter.quantize_calibrated(calibrated, numeric_verify=True)
    with _native.filtered_stderr(_native.INTERPRETER), warnings.catch_warnings():
        # The debugger runs TensorFlow's own interpreter, which warns that LiteRT replaces it.
        warnings.filterwarnings("ignore", "(?s).*tf.lite.Interpreter is deprecated")
        debugger = tf.lite.experimental.QuantizationDebugger(
            quant_debug_model_content=debug_model, debug_dataset=_dataset(images))
        debugger.run()
    dump = io.StringIO()
    debugger.layer_statistics_dump(dump)
    rows = []
    for record in csv.DictReader(io.StringIO(dump.getvalue())):
        scale = float(record["scale"])
        rmse = math.sqrt(max(float(record["mean_squared_error"]), 0.0))
        rows.append({"tensor": record["tensor_name"], "layer": _layer_name(record["tensor_name"]),
                     "op": record["op_name"], "scale": scale,
                     "rmse": rmse, "rmse_over_scale": rmse / scale if scale else float("inf"),
                     "max_abs_error": float(record["max_abs_error"])})
    rows.sort(key=lambda row: row["rmse_over_scale"], reverse=True)
    return rows


def _layer_name(tensor_name):
    """The Keras layer behind a converter tensor name such as
    `model/block_3_project_bn/FusedBatchNormV3;model/block_3_project/Conv2D`."""
    parts = tensor_name.split(";")[-1].split("/")
    return parts[1] if len(parts) > 2 else tensor_name


LAYER_ERROR_COLUMNS = (("layer", "layer", "s"), ("op", "op", "s"),
                       ("rmse_over_scale", "RMSE/scale", ".3f"),
                       ("rmse", "RMSE", ".4g"), ("scale", "scale", ".4g"),
                       ("max_abs_error", "max |err|", ".4g"))
