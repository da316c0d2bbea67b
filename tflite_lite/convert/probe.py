"""Checking that LiteRT can load and run a `.tflite`, without risking the calling process.

A malformed flatbuffer can crash the interpreter in native code, so the load, tensor
allocation and one inference happen in a child process (`_load_child.py`, which imports only
LiteRT and numpy). A crash or hang there becomes a one-line `UserError` here.
"""

import os
import signal
import subprocess
import sys

from tflite_lite.convert import flatbuffer
from tflite_lite.errors import UserError

_CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_load_child.py")


def describe_file(path, timeout=120):
    """Parses `path` (pure Python), then proves LiteRT loads and runs it in a child process.

    Returns:
      `flatbuffer.describe()` of the file.

    Raises:
      UserError: missing, empty, non-TFLite, corrupt or unloadable file.
    """
    data = flatbuffer.read_bytes(path)
    description = flatbuffer.describe(data, path)
    check_loads(path, timeout)
    return description


def check_loads(path, timeout=120):
    try:
        result = subprocess.run([sys.executable, _CHILD, os.path.abspath(path)],
                                capture_output=True, text=True, timeout=timeout,
                                env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    except subprocess.TimeoutExpired:
        raise UserError(f"{path}: LiteRT did not finish loading it within {timeout} s") from None
    if result.returncode < 0:
        name = signal.Signals(-result.returncode).name
        raise UserError(f"{path}: LiteRT crashed ({name}) loading it; the file is corrupt")
    if result.returncode != 0:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {result.returncode}"
        raise UserError(f"{path}: LiteRT cannot load it ({reason[:200]})")
