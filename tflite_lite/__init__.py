"""tflite_lite: image classifiers from Keras training to int8 TensorFlow Lite.

Stages, each a module found by name: `data` → `architectures` → (compression, later) →
(convert, later) → (benchmark, later). Importing tflite_lite selects Keras 2 (`tf_keras`) for
TensorFlow, tfmot and this package alike; see `tflite_lite._keras`.
"""

from tflite_lite._keras import keras
from tflite_lite.errors import UserError

__version__ = "0.1.0"

__all__ = ["UserError", "keras", "__version__"]
