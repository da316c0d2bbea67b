"""Benchmarks `.tflite` models: latency percentiles, init time, memory, size, MACs, GMAC/s.

Usage:
  python scripts/benchmark.py --models a.tflite,b.tflite --threads 1,2 --num_runs 200 \
      --json out.json [--csv out.csv] [--baseline a.tflite] [--cross_check]
  python scripts/benchmark.py --device --benchmark_binary ./benchmark_model --models a.tflite

Host mode runs LiteRT's interpreter (XNNPACK) on this machine, each model in its own process,
models interleaved A B A B ... in --rounds chunks; ratios are p50 / the baseline's p50 at the
same thread count. --cross_check also runs `litert-benchmark` with the same settings.
Device mode pushes the models and a user-supplied Android `benchmark_model` to the phone over
adb and parses its report into the same JSON.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite.benchmark import BenchmarkConfig, DeviceConfig, run_benchmark
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
_DEVICE = flags.DEFINE_bool("device", False, "Run on an Android device over adb.")
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
    if _DEVICE.value:
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
                  with_cross_check=_CROSS_CHECK.value)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
