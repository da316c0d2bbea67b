"""A benchmark's results record, `benchmarks/results/<name>.json`: the one module that writes
and reads it. The record is what the benchmark measured plus where it came from: the command
line, the commit, the date and the host.

    results_file.save("benchmarks/results/ptq.json", {"rows": rows})
    record = results_file.load("ptq")        # by name from benchmarks/results/, or a path
"""

import datetime
import os
import platform
import shlex
import subprocess
import sys

from tflite_lite import artifacts

FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
_PROVENANCE = ("command", "commit", "created", "host")


def commit():
    """The short commit hash the repository had when this process started (the code that
    runs), or None outside git."""
    return _COMMIT_AT_START


def _commit():
    try:
        found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                               text=True, cwd=os.path.dirname(FOLDER), timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return found.stdout.strip() or None


def _command():
    program = sys.argv[0]
    if program.endswith(".py") and os.path.basename(os.path.dirname(program)) == "benchmarks":
        program = "python -m benchmarks." + os.path.basename(program)[:-3]
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")  # Keras 3 on another backend
    prefix = [] if backend == "tensorflow" else [f"KERAS_BACKEND={shlex.quote(backend)}"]
    return " ".join([*prefix, program, *map(shlex.quote, sys.argv[1:])])


_COMMIT_AT_START = _commit()


def save(path, measured, columns=None):
    """Writes `measured` (a dict of the benchmark's tables) with its provenance to `path`
    atomically; returns the record. `columns` ((key, label, format) per column, as
    `report.format_table` takes them) tell the figures page how to show `measured["rows"]`."""
    if columns is not None:
        measured = dict(measured, columns=[list(column) for column in columns])
    record = dict(measured, command=_command(), commit=commit(),
                  created=datetime.date.today().isoformat(),
                  host=f"{platform.machine()}, {os.cpu_count()} cores")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    artifacts.write_json(path, record)
    print(f"wrote {path}")
    return record


def load(name_or_path):
    """The record named `name` in the results folder, or at a path.

    Raises:
      UserError: a missing or unreadable record.
    """
    path = (name_or_path if name_or_path.endswith(".json")
            else os.path.join(FOLDER, f"{name_or_path}.json"))
    return artifacts.read_json(path, "results record")
