"""What TensorFlow's and LiteRT's C++ code writes straight to file descriptor 2, filtered.

Some of it ignores TF_CPP_MIN_LOG_LEVEL: start-up notices, the converter's
`fully_quantize: 0, inference_type: 6, ...` and MLIR `loc(...)` remarks, LiteRT's
`INFO: Created TensorFlow Lite XNNPACK delegate for CPU.`. Inside `filtered_stderr(noise)` the
descriptor is captured; on leaving, the lines that are not noise are written out again (also
when the block raises). Set TF_CPP_MIN_LOG_LEVEL=0 to see everything.
"""

import contextlib
import os
import re
import sys
import tempfile

STARTUP = re.compile(r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)|"
                     r"To enable the following instructions: )")
CONVERTER = re.compile(r"^(fully_quantize: |loc\(|I\d{4} |W\d{4} .*(mlir|tf_tfl_flatbuffer)|"
                       r"Estimated count of arithmetic ops|INFO: )")
INTERPRETER = re.compile(r"^INFO: (Created TensorFlow Lite XNNPACK delegate|Initialized "
                         r"TensorFlow Lite runtime)")


def enabled():
    return os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2") != "0"


@contextlib.contextmanager
def captured_fd2():
    """Captures file descriptor 2 inside the block; the yielded list then holds its text."""
    text = []
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield text
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            text.append(capture.read().decode(errors="replace"))


@contextlib.contextmanager
def filtered_stderr(noise, keep=None):
    """Captures file descriptor 2 inside the block and re-emits the lines `noise` does not
    match. `keep(lines)`, if given, may drop more; it runs after the block. Yields a dict the
    block may fill for `keep`."""
    state = {}
    if not enabled():
        yield state
        return
    text = []
    try:
        with captured_fd2() as text:
            yield state
    finally:  # also when the block raises
        kept = [line for line in "".join(text).splitlines() if not noise.match(line)]
        if keep is not None:
            kept = keep(kept, state)
        if kept:
            sys.stderr.write("\n".join(kept) + "\n")
