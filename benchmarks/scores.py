"""Benchmarks int8 outputs: the int8 softmax, int8 logits and float logits (the default).

Usage:
  python -m benchmarks.scores --runs runs/mobilenet_v2_100 \\
      --released models/*/model_int8.tflite --json runs/bench_scores/bench_scores.json

For each trained run, exports int8 with each output kind and measures accuracy, top-1
agreement with the Keras model (and how many disagreements are ties in the int8 output) and
latency; for each released softmax model, measures it and its two logits twins
(`export_logits_twin`) on the test set its contract names. Prints both tables.
"""

import os

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.contract import Contract
from tflite_lite.convert import flatbuffer
from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement
from tflite_lite.convert.export_files import (
    ExportConfig,
    contract_test_set,
    export_logits_twin,
    export_model,
)
from tflite_lite.errors import UserError
from tflite_lite.report import format_table

RUN_COLUMNS = (
    ("model", "model", "s"), ("scores", "output", "s"), ("keras_accuracy", "Keras acc", ".4f"),
    ("tflite_accuracy", "int8 acc", ".4f"), ("agreement", "agree", ".4f"),
    ("disagreements", "disagree", "d"), ("tied_disagreements", "of them ties", "d"),
    ("tflite_top1_ties", "tied outputs", "d"), ("p50_ms", "p50 ms", ".3f"),
)
RELEASED_COLUMNS = (
    ("model", "model", "s"), ("scores", "output", "s"), ("tflite_accuracy", "int8 acc", ".4f"),
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


def benchmark_released(paths, output_dir, num_runs=100, max_eval_examples=None):
    """One row per (released `.tflite`, output kind) on the test set its contract was measured
    on: the release itself, then its twins from `export_logits_twin` (no float-logits twin for
    a head `flatbuffer.with_float_head` cannot float)."""
    rows = []
    for path in paths:
        name = os.path.basename(os.path.dirname(os.path.abspath(path)))
        contract = Contract.beside(path)
        test, total = contract_test_set(contract, max_eval_examples)
        evaluation = evaluate_agreement(None, TFLiteClassifier(flatbuffer.read_bytes(path)),
                                        test, total)
        rows.append(dict(evaluation, model=name, scores="probabilities", file=path,
                         changed_top1=0, size_bytes=os.path.getsize(path)))
        for scores in _KINDS[1:]:
            output = os.path.join(output_dir, name, f"model_int8_{scores}.tflite")
            try:
                twin = export_logits_twin(path, output, scores == "float_logits",
                                          max_eval_examples)
            except UserError:  # a head with no float form
                continue
            rows.append(dict(twin["evaluation"], model=name, scores=scores, file=output,
                             size_bytes=twin["size_bytes"]))
    return _timed(rows, num_runs)


_RUNS = flags.DEFINE_list("runs", [], "Trained run folders (model.keras and run.json).")
_RELEASED = flags.DEFINE_list("released", [], "Released int8 .tflite files with a softmax.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_scores", "Where exports go.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed runs per model.", lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/scores.json",
                            "Write both tables as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    results = {}
    if _RUNS.value:
        results["runs"] = benchmark_runs(_RUNS.value, f"{_OUTPUT_DIR.value}/runs",
                                               _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["runs"], RUN_COLUMNS), flush=True)
    if _RELEASED.value:
        results["released"] = benchmark_released(
            _RELEASED.value, f"{_OUTPUT_DIR.value}/released", _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["released"], RELEASED_COLUMNS), flush=True)
    if _JSON.value:
        results_file.save(_JSON.value, results)


if __name__ == "__main__":
    cli.run(main)
