"""Benchmarks `.tflite` models: latency percentiles, init time, memory, size, MACs, GMAC/s.

Usage:
  python scripts/benchmark.py --models a.tflite,b.tflite --threads 1,2 --num_runs 200 \
      --json out.json [--csv out.csv] [--baseline a.tflite] [--cross_check]
  python scripts/benchmark.py --target device --benchmark_binary ./benchmark_model --models a.tflite
  python scripts/benchmark.py --target micro --models a.tflite [--dataset fashion_mnist] \
      [--max_examples 1000] --json micro.json

Host mode runs LiteRT's interpreter (XNNPACK) on this machine, each model in its own process,
models interleaved A B A B ... in --rounds chunks; ratios are p50 / the baseline's p50 at the
same thread count. --cross_check also runs `litert-benchmark` with the same settings.
Device mode pushes the models and a user-supplied Android `benchmark_model` to the phone over
adb and parses its report into the same JSON (--device is short for --target device).
Micro mode runs each model on TensorFlow Lite Micro's host interpreter (`pip install
'tflite_lite[micro]'`): the ops TFLM lacks, by name; the smallest tensor arena; flash; time per
invoke; and, on the test split of --dataset (default: the one the model's contract names), TFLM's
accuracy and its outputs against LiteRT's (bit-exact rate, argmax agreement) and against LiteRT's
reference kernels, which TFLM's kernels are.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite.benchmark import (
    BenchmarkConfig,
    DeviceConfig,
    MicroConfig,
    run_benchmark,
)
from tflite_lite.benchmark.device import DELEGATES
from tflite_lite.errors import UserError

_MODELS = flags.DEFINE_list("models", None, "Comma-separated `.tflite` files.", required=True)
_THREADS = flags.DEFINE_list("threads", ["1"], "Comma-separated thread counts.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed runs per model (at least).",
                                 lower_bound=1)
_WARMUP = flags.DEFINE_integer("warmup_runs", 10, "Untimed warm-up runs.", lower_bound=0)
_MIN_SECONDS = flags.DEFINE_float("min_seconds", 0.0, "Host: minimum timed seconds per model.",
                                  lower_bound=0.0)
_ROUNDS = flags.DEFINE_integer("rounds", 10, "Host: interleaved chunks.", lower_bound=1)
_BASELINE = flags.DEFINE_string("baseline", None, "Host: the model ratios are against "
                                "(default: the first).")
_CROSS_CHECK = flags.DEFINE_bool("cross_check", False,
                                 "Host: also run litert-benchmark with the same settings.")
_JSON = flags.DEFINE_string("json", None, "Write the rows and settings as JSON here.")
_CSV = flags.DEFINE_string("csv", None, "Write the rows as CSV here.")
_TARGET = flags.DEFINE_enum("target", "host", ["host", "device", "micro"],
                            "host: LiteRT here; device: a phone over adb; micro: TensorFlow "
                            "Lite Micro here.")
_DEVICE = flags.DEFINE_bool("device", False, "Short for --target device.")
_DATASET = flags.DEFINE_string("dataset", None, "Micro: the test split for accuracy and parity "
                               "(default: the contract's dataset).")
_MAX_EXAMPLES = flags.DEFINE_integer("max_examples", None, "Micro: first N test images only.",
                                     lower_bound=1)
_BINARY = flags.DEFINE_string("benchmark_binary", None, "Device: the `benchmark_model` binary.")
_SERIAL = flags.DEFINE_string("adb_serial", None, "Device: adb serial.")
_DELEGATE = flags.DEFINE_enum("delegate", "cpu", DELEGATES, "Device: delegate.")


def _thread_counts():
    try:
        return tuple(int(t) for t in _THREADS.value)
    except ValueError:
        raise UserError(f"--threads must be integers, got {','.join(_THREADS.value)}") from None


def main(argv):
    cli.reject_extra_args(argv)
    target = "device" if _DEVICE.value else _TARGET.value
    if target == "micro":
        config = MicroConfig(models=tuple(_MODELS.value), dataset=_DATASET.value,
                             max_examples=_MAX_EXAMPLES.value, num_runs=_NUM_RUNS.value)
    elif target == "device":
        if not _BINARY.value:
            raise UserError("--device needs --benchmark_binary (TFLite's Android "
                                "benchmark_model for the phone's ABI)")
        config = DeviceConfig(models=tuple(_MODELS.value), benchmark_binary=_BINARY.value,
                              threads=_thread_counts(), num_runs=_NUM_RUNS.value,
                              warmup_runs=_WARMUP.value, delegate=_DELEGATE.value,
                              serial=_SERIAL.value)
    else:
        config = BenchmarkConfig(models=tuple(_MODELS.value), threads=_thread_counts(),
                                 num_runs=_NUM_RUNS.value, warmup_runs=_WARMUP.value,
                                 min_seconds=_MIN_SECONDS.value, rounds=_ROUNDS.value,
                                 baseline=_BASELINE.value)
    run_benchmark(config, json_path=_JSON.value, csv_path=_CSV.value,
                  with_cross_check=_CROSS_CHECK.value, verbose=1)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
