"""Runs the fast test suite as the README gives it (`bash scripts/test.sh`) and records how
many tests passed and how long it took (pytest's own figure and the whole command's), leaving
out only the check that the docs show this record.

Usage:
  python -m benchmarks.suite
"""

import os
import platform
import re
import subprocess
import time

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# The one test left out: it checks that the docs show this very record, which is being remade.
FIGURES_CHECK = "tests/test_docs.py::test_figures_are_the_benchmarks_records"
_SUMMARY = re.compile(r"(\d+) passed.* in ([\d.]+)s")

_JSON = flags.DEFINE_string("json", "benchmarks/results/suite.json",
                            "Where the record goes.")


def measure_suite():
    """Runs the suite once; returns {passed, pytest_seconds, wall_seconds, host}."""
    started = time.perf_counter()
    result = subprocess.run(["bash", "scripts/test.sh", "-q", "-p", "no:cacheprovider",
                             "--deselect", FIGURES_CHECK],
                            cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - started
    summary = _SUMMARY.search(result.stdout.splitlines()[-1] if result.stdout else "")
    if result.returncode or not summary:
        raise UserError(f"the suite failed (exit {result.returncode}): "
                        f"{result.stdout.splitlines()[-1:] or result.stderr[-300:]}")
    return {"passed": int(summary.group(1)), "pytest_seconds": float(summary.group(2)),
            "wall_seconds": wall, "host": f"{platform.machine()}, {os.cpu_count()} cores"}


def main(argv):
    cli.reject_extra_args(argv)
    record = measure_suite()
    print(f"{record['passed']} passed in {record['pytest_seconds']:.0f} s "
          f"({record['wall_seconds']:.0f} s in all)")
    results_file.save(_JSON.value, record)


if __name__ == "__main__":
    cli.run(main)
