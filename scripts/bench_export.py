"""Benchmarks the builders' exports: fp32 vs int8 latency (1 thread), size, MACs, GMAC/s.

Usage:
  python scripts/bench_export.py --output_dir runs/bench_export --num_runs 100 \
      --json runs/bench_export/bench_export.json

Exports every default builder (random weights; latency does not depend on them) at 224x224x3
and 32x32x1 in float32 and int8, plus keras.applications MobileNetV2 / MobileNet 1.0 and
MobileNetV3Large / Small 1.0 (its hard swish as TF ops) exported the default way
(`from_keras_model`) at 224, then benchmarks them all interleaved in one run.
Prints the summary with int8 speed-up and ours / keras.applications latency ratios.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite_scripts._bench_builders import (DEFAULT_BUILDERS, SUMMARY_COLUMNS,
                                                 benchmark_builders)
from tflite_lite.errors import UserError
from tflite_lite.report import format_table

_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_export", "Where exports go.")
_BUILDERS = flags.DEFINE_list("builders", list(DEFAULT_BUILDERS), "Registered model names.")
_SIZES = flags.DEFINE_list("input_sizes", ["224x224x3", "32x32x1"], "Input shapes HxWxC.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed runs per model.", lower_bound=1)
_THREADS = flags.DEFINE_integer("threads", 1, "Interpreter threads.", lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Write the figures as JSON here.")


def _shape(text):
    try:
        shape = tuple(int(d) for d in text.split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise UserError(f"input size must look like 224x224x3, got {text!r}")
    return shape


def main(argv):
    cli.reject_extra_args(argv)
    summary = benchmark_builders(_OUTPUT_DIR.value, tuple(_shape(s) for s in _SIZES.value),
                                 tuple(_BUILDERS.value), _NUM_RUNS.value, _THREADS.value,
                                 _JSON.value)
    columns = SUMMARY_COLUMNS + (("int8_vs_keras_applications", "int8 / keras.app", ".2f"),
                                 ("float32_vs_keras_applications", "fp32 / keras.app", ".2f"))
    print(format_table(summary, columns))


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
