"""Study: do MSE-optimal activation ranges make int8 PTQ agree better with the float model?

Usage:
  python -m benchmarks.activation_ranges --run runs/mobilenet_v2_100 \\
      --json runs/study_activation_ranges.json

The run's model is calibrated as the int8 export calibrates it (min/max over the calibration
images), then every activation range is replaced by the one that minimizes the int8
quantization error of that tensor's values on the same images (clipping searched on a
histogram), and both versions are quantized and evaluated against the float model on the test
set. Prints one row per version and the tensors whose error fell most; the JSON keeps both.
"""

import os

import numpy as np
from absl import flags
from ai_edge_litert.interpreter import Interpreter
from ai_edge_litert.tools import flatbuffer_utils

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.convert import converter, flatbuffer, scores
from tflite_lite.convert.api import _calibration_images, evaluate, load_keras_model
from tflite_lite.data import load_dataset
from tflite_lite.errors import UserError
from tflite_lite.report import format_table
from tflite_lite.run_record import RunRecord

BINS = 2048
SHRINK = np.linspace(0.2, 1.0, 41)  # the clipping factors tried on each side of a range
LEVELS = 255
COLUMNS = (("ranges", "ranges", "s"), ("keras_accuracy", "float acc", ".4f"),
           ("int8_accuracy", "int8 acc", ".4f"), ("agreement", "agree", ".4f"),
           ("disagreements", "disagree", "d"))
TENSOR_COLUMNS = (("tensor", "tensor", "s"), ("min", "min", ".3f"), ("max", "max", ".3f"),
                  ("mse_min", "MSE min", ".3f"), ("mse_max", "MSE max", ".3f"),
                  ("error_ratio", "min/max err ÷ MSE err", ".2f"))


def _activation_tensors(model):
    """Indices of the graph's non-constant tensors with one calibrated min/max, input excluded."""
    graph = model.subgraphs[0]
    found = []
    for index, tensor in enumerate(graph.tensors):
        quant = tensor.quantization
        if index in graph.inputs or quant is None or quant.min is None or len(quant.min) != 1:
            continue
        buffer = model.buffers[tensor.buffer] if tensor.buffer else None
        if buffer is None or buffer.data is None or not len(buffer.data):
            found.append(index)
    return found


def _histograms(calibrated, tensors, ranges, images):
    interpreter = Interpreter(model_content=calibrated, experimental_preserve_all_tensors=True)
    interpreter.allocate_tensors()
    input_index = interpreter.get_input_details()[0]["index"]
    counts = {index: np.zeros(BINS) for index in tensors}
    for image in images:
        interpreter.set_tensor(input_index, image[None])
        interpreter.invoke()
        for index in tensors:
            low, high = ranges[index]
            counts[index] += np.histogram(interpreter.get_tensor(index), BINS,
                                          (low, max(high, low + 1e-6)))[0]
    return counts


def quantization_error(centers, counts, low, high):
    """Squared error of int8 (asymmetric, zero representable) over a histogram's values."""
    low, high = min(low, 0.0), max(high, 0.0)
    step = (high - low) / LEVELS
    if step <= 0:
        return np.inf
    quantized = np.clip(np.round((centers - low) / step), 0, LEVELS) * step + low
    return float(np.sum(counts * (centers - quantized) ** 2))


def mse_range(counts, low, high):
    """(low, high, error with min/max, error with the chosen range): each side shrunk by the
    factors of `SHRINK` (a side at zero stays there)."""
    edges = np.linspace(low, max(high, low + 1e-6), BINS + 1)
    centers = (edges[:-1] + edges[1:]) / 2
    plain = quantization_error(centers, counts, low, high)
    best = (plain, low, high)
    lows = SHRINK * low if low < 0 else [low]
    highs = SHRINK * high if high > 0 else [high]
    for new_low in lows:
        for new_high in highs:
            error = quantization_error(centers, counts, new_low, new_high)
            if error < best[0]:
                best = (error, new_low, new_high)
    return float(best[1]), float(best[2]), plain, best[0]


def with_mse_ranges(calibrated, images):
    """The calibrated flatbuffer with MSE-optimal activation ranges, and one row per tensor."""
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(calibrated))
    tensors = _activation_tensors(model)
    graph = model.subgraphs[0]
    ranges = {i: (float(graph.tensors[i].quantization.min[0]),
                  float(graph.tensors[i].quantization.max[0])) for i in tensors}
    counts = _histograms(calibrated, tensors, ranges, images)
    rows = []
    for index in tensors:
        low, high, plain, error = mse_range(counts[index], *ranges[index])
        graph.tensors[index].quantization.min = [low]
        graph.tensors[index].quantization.max = [high]
        rows.append({"tensor": flatbuffer._name(graph.tensors[index].name)[-60:],  # noqa: SLF001
                     "min": ranges[index][0], "max": ranges[index][1], "mse_min": low,
                     "mse_max": high, "error_ratio": plain / max(error, 1e-30)})
    rows.sort(key=lambda row: -row["error_ratio"])
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), rows


def compare_ranges(run_dir, representative_examples=256, max_eval_examples=None):
    """{"rows": min/max vs MSE ranges (accuracy, agreement), "tensors": per-tensor ranges}."""
    record = RunRecord.load(run_dir, required=True)
    pre = record.input_preprocessing
    keras_model = load_keras_model(os.path.join(run_dir, "model.keras"))
    data = load_dataset(record.dataset, input_shape=pre.input_shape, mean=pre.mean, std=pre.std,
                        batch_size=128, max_eval_examples=max_eval_examples)
    images = _calibration_images(data, representative_examples, pre.input_shape)
    logits, _ = scores.choose(keras_model, "int8", None)
    calibrated = converter.calibrate(logits, images)
    mse_calibrated, tensors = with_mse_ranges(calibrated, images)
    rows = []
    for label, version in (("min/max", calibrated), ("mse", mse_calibrated)):
        tflite = converter.quantize_calibrated(version)
        try:
            tflite = flatbuffer.with_float_head(tflite)
        except UserError:  # a head with no float form: int8 logits, as the export does
            pass
        evaluation = evaluate(tflite, data, keras_model)
        rows.append({"ranges": label, "int8_accuracy": evaluation["tflite_accuracy"],
                     **{key: evaluation[key] for key in ("keras_accuracy", "agreement",
                                                         "disagreements")}})
    return {"model": record.model, "run": run_dir, "rows": rows, "tensors": tensors}


_RUN = flags.DEFINE_string("run", None, "A trained float run folder (model.keras, run.json).",
                           required=True)
_REPRESENTATIVE = flags.DEFINE_integer("representative_examples", 256, "Calibration images.",
                                       lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/activation_ranges.json",
                            "Write the rows and tensor ranges as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    result = compare_ranges(_RUN.value, _REPRESENTATIVE.value, _MAX_EVAL.value)
    print(format_table(result["rows"], COLUMNS))
    print(format_table(result["tensors"][:10], TENSOR_COLUMNS))
    if _JSON.value:
        results_file.save(_JSON.value, result)


if __name__ == "__main__":
    cli.run(main)
