"""`benchmark.json`, a benchmark's record: the one module that reads and writes it.

    save_results("runs/a/benchmark.json", rows, config, mode="host")
    rows = load_results("runs/a/benchmark.json")["rows"]

The record holds `mode` ("host", "device" or "micro"), the benchmark's `config`, the `host`
it ran on when known, and one row per (model, threads).
"""

import os

from tflite_lite import _io
from tflite_lite.errors import UserError

FILE = "benchmark.json"


def save_results(path, rows, config, mode="host", host=None):
    """Writes the record to `path` atomically; returns it."""
    record = {"mode": mode, "config": config.get_config(), "rows": rows}
    if host is not None:
        record["host"] = host
    _io.write_json(path, record)
    return record


def load_results(path, required=False):
    """The record at `path`; None when there is none, unless `required`.

    Raises:
      UserError: an unreadable record, or a missing one when `required`.
    """
    if not os.path.isfile(path):
        if required:
            raise UserError(f"{path}: no benchmark record")
        return None
    record = _io.read_json(path, "benchmark record")
    if not isinstance(record, dict) or not isinstance(record.get("rows"), list):
        raise UserError(f"{path}: unreadable benchmark record (no rows)")
    return record


def single_thread_rows(record):
    """{model file name: row} of a record's one-thread rows ({} for no record)."""
    if not record:
        return {}
    return {os.path.basename(row["model"]): row for row in record["rows"]
            if row.get("threads") == 1}
