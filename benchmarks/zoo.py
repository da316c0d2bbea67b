"""Times every zoo model (`models/*/model_int8.tflite`) on LiteRT, 1 thread, all files in one
interleaved run, and records each entry's p50 beside what its contract says (accuracy, size).

Usage:
  python -m benchmarks.zoo --num_runs 300
"""

import glob
import os

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.report import format_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = (("entry", "entry", "s"), ("p50_ms", "p50 ms", ".3f"), ("p90_ms", "p90 ms", ".3f"),
           ("init_ms", "init ms", ".1f"))

_NUM_RUNS = flags.DEFINE_integer("num_runs", 300, "Timed inferences per model.", lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/zoo.json",
                            "Where the record goes.")


def benchmark_zoo(num_runs):
    """One row per zoo entry: its LiteRT latency at 1 thread."""
    models = sorted(glob.glob(os.path.join(REPO, "models", "*", "model_int8.tflite")))
    rows = benchmark_host(BenchmarkConfig(models=tuple(models), threads=(1,),
                                          num_runs=num_runs))
    return [{"entry": os.path.basename(os.path.dirname(row["model"])),
             **{key: row[key] for key in ("p50_ms", "p90_ms", "init_ms", "size_bytes")}}
            for row in rows]


def main(argv):
    cli.reject_extra_args(argv)
    rows = benchmark_zoo(_NUM_RUNS.value)
    print(format_table(rows, COLUMNS))
    results_file.save(_JSON.value, {"rows": rows}, COLUMNS)


if __name__ == "__main__":
    cli.run(main)
