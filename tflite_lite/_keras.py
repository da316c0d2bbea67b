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

from tflite_lite import _native

_NO_GPU = re.compile(r"^E\d{4} .*failed call to cuInit")


def _drop_no_gpu_error(lines, state):
    """CUDA's "failed call to cuInit" is noise only when there is indeed no GPU."""
    return [line for line in lines if not (state.get("gpus") == 0 and _NO_GPU.match(line))]


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

_quiet = "tensorflow" not in sys.modules
with (_native.filtered_stderr(_native.STARTUP, keep=_drop_no_gpu_error) if _quiet
      else contextlib.nullcontext({})) as _startup:
    import tensorflow as tf  # noqa: E402

    import tf_keras as keras  # noqa: E402  (must follow the environment set-up above)

    if _quiet:
        # Probing the devices here keeps CUDA's "no GPU" error inside the capture.
        _startup["gpus"] = len(tf.config.list_physical_devices("GPU"))



def keras3():
    """The Keras 3 package (`keras`), loaded on first use: for reading `.keras` files that
    Keras 3 saved. Models built with it convert, evaluate and benchmark like tf_keras ones."""
    import keras as keras_3  # noqa: PLC0415

    return keras_3


def code_layers_allowed():
    """A context in which tf_keras copies layers holding Python code (Lambda) through their
    configs: for a model already in memory, never for a file."""
    from tf_keras.src.saving import serialization_lib  # noqa: PLC0415

    return serialization_lib.SafeModeScope(False)


def is_keras3_model(model):
    """Whether `model` (or a layer) is from Keras 3 (the `keras` package, also subclassed),
    not from tf_keras."""
    keras_3 = sys.modules.get("keras")
    if keras_3 is not None and isinstance(model, getattr(keras_3, "Layer", ())):
        return True
    return type(model).__module__.split(".")[0] == "keras"


def require_tf_keras(model, what):
    """Raises a one-line `UserError` for a Keras 3 model: `what` (QAT, pruning, clustering)
    needs tfmot, which works on tf_keras (Keras 2) models only."""
    if is_keras3_model(model):
        from tflite_lite.errors import UserError

        raise UserError(f"{what} needs a tf_keras (Keras 2) model, not a Keras 3 model: build "
                        "it with `from tflite_lite import keras` or create_model(...); Keras 3 "
                        "models get QAT, pruning and distillation from the same calls, and "
                        "export as they are")


__all__ = ["code_layers_allowed", "keras", "keras3", "tf", "is_keras3_model",
           "require_tf_keras"]
