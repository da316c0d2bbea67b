"""The single place where tflite_lite chooses its Keras.

tfmot 0.8.1 works only with Keras 2, which ships as the `tf_keras` package. Every module of
tflite_lite imports Keras as `from tflite_lite._keras import keras`; nothing imports `keras`
or uses `tf.keras` directly (a test checks this). Setting `TF_USE_LEGACY_KERAS=1` here also
makes `tf.keras` mean Keras 2 in the user's own code, if TensorFlow was not imported before.
"""

import os

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tf_keras as keras  # noqa: E402  (must follow the environment set-up above)

__all__ = ["keras"]
