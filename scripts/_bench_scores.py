"""Int8 classifier outputs: the int8 softmax, int8 logits, and float logits (a float last layer).

`benchmark_runs` exports each trained run's `.keras` model to int8 once per output kind
(`convert.scores.SCORES`) and measures each against the Keras model on the test set;
`benchmark_released` turns each released `.tflite` (a softmax output) into its two logits
twins (`flatbuffer.without_final_softmax`, then `with_float_head`) and measures the three on
the test set of the dataset its contract was made for. Both time the variants interleaved
(1 thread).
"""

import json
import os

import numpy as np

from tflite_lite import _io
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.convert import flatbuffer
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.convert.export import ExportConfig, export_model
from tflite_lite.data import load_dataset
from tflite_lite.errors import UserError

RUN_COLUMNS = (
    ("model", "model", "s"), ("scores", "output", "s"), ("keras_accuracy", "Keras acc", ".4f"),
    ("tflite_accuracy", "int8 acc", ".4f"), ("agreement", "agree", ".4f"),
    ("disagreements", "disagree", "d"), ("tied_disagreements", "of them ties", "d"),
    ("tflite_top1_ties", "tied outputs", "d"), ("p50_ms", "p50 ms", ".3f"),
)
RELEASED_COLUMNS = (
    ("model", "model", "s"), ("scores", "output", "s"), ("accuracy", "int8 acc", ".4f"),
    ("tflite_top1_ties", "tied outputs", "d"), ("changed_top1", "top-1 changed", "d"),
    ("size_bytes", "bytes", ",d"), ("p50_ms", "p50 ms", ".3f"),
)
_KINDS = ("probabilities", "logits", "float_logits")


def _timed(rows, num_runs):
    timings = {r["model"]: r["p50_ms"] for r in benchmark_host(
        BenchmarkConfig(models=tuple(row["file"] for row in rows), num_runs=num_runs))}
    for row in rows:
        row["p50_ms"] = timings[row["file"]]
    return rows


def benchmark_runs(run_dirs, output_dir, num_runs=100, max_eval_examples=None):
    """One row per (run, output kind): accuracy, agreement with Keras and its ties, p50."""
    rows = []
    for run_dir in run_dirs:
        name = os.path.basename(os.path.normpath(run_dir))
        for scores in _KINDS:
            output = os.path.join(output_dir, name, f"model_int8_{scores}.tflite")
            contract = export_model(ExportConfig(
                model_path=os.path.join(run_dir, "model.keras"), output=output, mode="int8",
                evaluate=True, max_eval_examples=max_eval_examples, scores=scores))
            evaluation = contract["evaluation"]
            rows.append(dict({k: evaluation[k] for k in (
                "keras_accuracy", "tflite_accuracy", "agreement", "disagreements",
                "tied_disagreements", "tflite_top1_ties")}, model=name, scores=scores,
                file=output))
    return _timed(rows, num_runs)


def _test_images(contract, max_eval_examples):
    pre = contract["preprocessing"]
    data = load_dataset("fashion_mnist", input_shape=tuple(pre["input_shape"]), mean=pre["mean"],
                        std=pre["std"], max_eval_examples=max_eval_examples)
    images, labels = zip(*((x.numpy(), y.numpy()) for x, y in data.test))
    return np.concatenate(images), np.concatenate(labels).reshape(-1)


def _write(path, data):
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with _io.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def benchmark_released(paths, output_dir, num_runs=100, max_eval_examples=None):
    """One row per (released `.tflite`, output kind) on Fashion-MNIST's test set."""
    rows = []
    for path in paths:
        data = flatbuffer.read_bytes(path)
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        logits = flatbuffer.without_final_softmax(data, path)
        variants = {"probabilities": (path, data), "logits": logits}
        try:
            variants["float_logits"] = flatbuffer.with_float_head(logits, path)
        except UserError:  # logits from a MEAN (SqueezeNet): no float head
            pass
        for scores in [k for k in _KINDS[1:] if k in variants]:
            variants[scores] = (os.path.join(output_dir, f"{name}_{scores}.tflite"),
                                variants[scores])
            _write(*variants[scores])
        contract = json.loads(flatbuffer.read_metadata(data, flatbuffer.CONTRACT_METADATA))
        images, labels = _test_images(contract, max_eval_examples)
        top1 = {}
        for scores in [k for k in _KINDS if k in variants]:
            file, content = variants[scores]
            raw = TFLiteClassifier(content).raw_outputs(images)
            top1[scores] = np.argmax(raw, -1)
            rows.append({"model": name, "scores": scores, "file": file,
                         "accuracy": float(np.mean(top1[scores] == labels)),
                         "tflite_top1_ties": int(np.sum(np.sum(
                             raw == raw.max(-1, keepdims=True), -1) > 1)),
                         "changed_top1": int(np.sum(top1[scores] != top1["probabilities"])),
                         "size_bytes": len(content)})
    return _timed(rows, num_runs)
