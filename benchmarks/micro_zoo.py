"""Runs every zoo model (`models/*/model_int8.tflite`) on TensorFlow Lite Micro on this host:
flash, the smallest arena, time per invoke, and TFLM's accuracy and agreement with LiteRT on the
test split (the microcontroller entries, `micro_fashion*`, on all 10,000 images; the others on
the first `--max_examples`).

Usage:
  python -m benchmarks.micro_zoo --max_examples 2000
"""

import glob
import os

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.report import format_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLUMNS = (("entry", "zoo entry", "s"), ("flash_bytes", "flash", ",d"),
           ("arena_bytes", "TFLM arena", ",d"), ("p50_ms", "TFLM ms / invoke (host)", ".2f"),
           ("num_examples", "test images", ",d"), ("accuracy", "TFLM acc", ".4f"),
           ("litert_accuracy", "LiteRT acc", ".4f"), ("bit_exact", "bit-exact vs LiteRT", ".4f"),
           ("argmax_agreement", "argmax agreement", ".4f"),
           ("reference_bit_exact", "bit-exact vs LiteRT reference kernels", ".4f"))
MICRO_ENTRIES = "micro_fashion"  # the budget entries' folder prefix: measured on every image

_MAX_EXAMPLES = flags.DEFINE_integer("max_examples", 2000, "Test images for the other entries.",
                                     lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/micro_zoo.json", "Where the record goes.")


def benchmark_micro_zoo(max_examples, verbose=1):
    """One row per zoo entry, measured on TFLM."""
    from tflite_lite.benchmark.micro import benchmark_micro_model  # noqa: PLC0415

    rows = []
    for path in sorted(glob.glob(os.path.join(REPO, "models", "*", "model_int8.tflite"))):
        entry = os.path.basename(os.path.dirname(path))
        limit = None if entry.startswith(MICRO_ENTRIES) else max_examples
        row = benchmark_micro_model(path, max_examples=limit, verbose=verbose, name=entry)
        rows.append(dict({key: row.get(key) for key, _, _ in COLUMNS[1:]}, entry=f"`{entry}`"))
    return rows


def main(argv):
    cli.reject_extra_args(argv)
    rows = benchmark_micro_zoo(_MAX_EXAMPLES.value)
    print(format_table(rows, COLUMNS))
    kept = {}
    if os.path.isfile(_JSON.value):  # the page's title and notes stay with the figures
        previous = results_file.load(_JSON.value)
        kept = {key: previous[key] for key in ("title", "about", "notes") if key in previous}
    results_file.save(_JSON.value, dict(kept, rows=rows), COLUMNS)


if __name__ == "__main__":
    cli.run(main)
