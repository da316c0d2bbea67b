"""The single place where tflite_lite imports TensorFlow and chooses its Keras.

tfmot 0.8.1 works only with Keras 2, which ships as the `tf_keras` package. Every module of
tflite_lite imports them as `from tflite_lite._keras import keras, tf`; nothing imports `keras`
or uses `tf.keras` directly, and modules that import tfmot belong to packages that import this
module first (a test checks both). `import tflite_lite` sets `TF_USE_LEGACY_KERAS=1`, which
also makes `tf.keras` mean Keras 2 in the user's own code, if TensorFlow was not imported before.

TensorFlow's C++ start-up writes INFO lines to stderr before its logging is configured,
whatever TF_CPP_MIN_LOG_LEVEL says (the oneDNN notice, CPU features, CUDA probing on a machine
without a GPU). They are captured while TensorFlow loads and dropped; every other line is passed
on. Set TF_CPP_MIN_LOG_LEVEL=0 to see them all.
"""

import contextlib
import os
import re
import sys
import tempfile

_STARTUP_NOISE = re.compile(
    r"^(I\d{4} |WARNING: All log messages before absl::InitializeLog\(\)|To enable the "
    r"following instructions: )")
_NO_GPU = re.compile(r"^E\d{4} .*failed call to cuInit")


@contextlib.contextmanager
def _quiet_native_startup(enabled):
    """Captures file descriptor 2 inside the block; re-emits the lines that are not start-up
    noise (also when the block raises)."""
    if not enabled:
        yield None
        return
    sys.stderr.flush()
    saved = os.dup(2)
    state = {"gpus": None}
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield state
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            lines = capture.read().decode(errors="replace").splitlines()
            kept = [line for line in lines if not _STARTUP_NOISE.match(line)
                    and not (state["gpus"] == 0 and _NO_GPU.match(line))]
            if kept:
                sys.stderr.write("\n".join(kept) + "\n")


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

with _quiet_native_startup("tensorflow" not in sys.modules
                           and os.environ["TF_CPP_MIN_LOG_LEVEL"] != "0") as _startup:
    import tensorflow as tf  # noqa: E402

    import tf_keras as keras  # noqa: E402  (must follow the environment set-up above)

    if isinstance(_startup, dict):
        # Probing the devices here keeps CUDA's "no GPU" error inside the capture.
        _startup["gpus"] = len(tf.config.list_physical_devices("GPU"))

__all__ = ["keras", "tf"]
