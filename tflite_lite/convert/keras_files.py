"""Loading a `.keras` file saved by either Keras: tf_keras (Keras 2, also QAT-, pruning- or
clustering-wrapped) or Keras 3, the `keras` that TensorFlow 2.21 installs.

Conversion, checks, evaluation and benchmarks work on both; QAT, pruning and clustering need
tfmot, hence Keras 2.
"""

import os
import warnings

from tflite_lite import _io, quantization
from tflite_lite._keras import keras3
from tflite_lite.errors import UserError


def load_keras_model(path):
    """Loads a `.keras` file in safe mode with the Keras that saved it; any failure is one
    `UserError` line."""
    version = _io.saved_keras_version(path) if os.path.isfile(path) else None
    if version is None or not version.startswith("3"):
        return quantization.load_model(path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return keras3().saving.load_model(path, safe_mode=True, compile=False)
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        if "Lambda" in str(error):
            raise UserError(f"{path}: holds a Lambda layer (Python code), which safe loading "
                            "refuses; rebuild the model without Lambda layers") from None
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        raise UserError(f"{path}: a Keras {version} file that does not load ({reason})") from None
