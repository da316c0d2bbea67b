"""Benchmarks int8 outputs: the int8 softmax, int8 logits and float logits (the default).

Usage:
  python scripts/bench_scores.py --runs runs/mobilenet_v2_100 \\
      --released models/*/model_int8.tflite --json runs/bench_scores/bench_scores.json

For each trained run, exports int8 with each output kind and measures accuracy, top-1
agreement with the Keras model (and how many disagreements are ties in the int8 output) and
latency; for each released softmax model, measures it and its two logits twins
(`export_logits_twin`) on the test set its contract names. Prints both tables.
"""

from absl import flags

from tflite_lite import _io, cli
from tflite_lite.report import format_table
from tflite_lite_scripts import _bench_scores as bench

_RUNS = flags.DEFINE_list("runs", [], "Trained run folders (model.keras and run.json).")
_RELEASED = flags.DEFINE_list("released", [], "Released int8 .tflite files with a softmax.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_scores", "Where exports go.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed runs per model.", lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Write both tables as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    results = {}
    if _RUNS.value:
        results["runs"] = bench.benchmark_runs(_RUNS.value, f"{_OUTPUT_DIR.value}/runs",
                                               _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["runs"], bench.RUN_COLUMNS), flush=True)
    if _RELEASED.value:
        results["released"] = bench.benchmark_released(
            _RELEASED.value, f"{_OUTPUT_DIR.value}/released", _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["released"], bench.RELEASED_COLUMNS), flush=True)
    if _JSON.value:
        _io.write_json(_JSON.value, results)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
