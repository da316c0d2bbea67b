"""Prints a run folder's exports in one table: Keras vs TFLite accuracy, size, latency.

Usage:
  python scripts/summarize_run.py --run_dir runs/quickstart

Reads the contract JSON of every exported `.tflite` in the folder and `benchmark.json`
(written by scripts/benchmark.py --json RUN_DIR/benchmark.json).
"""

import os

from absl import flags

from tflite_lite import cli
from tflite_lite.errors import UserError
from tflite_lite.report import summarize_run

_RUN_DIR = flags.DEFINE_string("run_dir", None, "A run folder.", required=True)


def main(argv):
    cli.reject_extra_args(argv)
    if not os.path.isdir(_RUN_DIR.value):
        raise UserError(f"{_RUN_DIR.value}: no such run folder")
    rows, table = summarize_run(_RUN_DIR.value)
    if not rows:
        raise UserError(f"{_RUN_DIR.value}: no exported models (run scripts/export.py first)")
    print(table)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
