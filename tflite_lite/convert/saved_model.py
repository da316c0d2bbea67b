"""A SavedModel folder as a classifier that the converter and the evaluation take like a Keras
model: `tf.saved_model.save`, tf_keras's `model.save(folder)` and Keras 3's `model.export(folder)`
all write one with a `serving_default` signature of one image input and one output.

    model = SavedModelClassifier("exported/")   # .inputs, .outputs, model(images), .predict
"""

import os
import types

import numpy as np

from tflite_lite._keras import tf
from tflite_lite.errors import UserError

SIGNATURE = "serving_default"


def is_saved_model(path):
    """Whether `path` is a folder holding a SavedModel."""
    return os.path.isdir(path) and any(
        os.path.isfile(os.path.join(path, name)) for name in ("saved_model.pb",
                                                               "saved_model.pbtxt"))


class SavedModelClassifier:
    """The `serving_default` signature of a SavedModel folder, shaped like a one-input,
    one-output Keras model (`inputs`, `outputs`, `__call__`, `predict`).

    Args:
      path: the SavedModel folder.

    Raises:
      UserError: not a SavedModel folder, one that does not load, or a signature that is not
        one input and one output.
    """

    def __init__(self, path):
        if not is_saved_model(path):
            raise UserError(f"{path}: a folder without saved_model.pb, not a SavedModel")
        try:
            self._loaded = tf.saved_model.load(path)
        except Exception as error:  # noqa: BLE001  (the loader raises many types)
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
            raise UserError(f"{path}: a SavedModel that does not load ({reason})") from None
        signature = self._loaded.signatures.get(SIGNATURE)
        if signature is None:
            raise UserError(f"{path}: the SavedModel has no {SIGNATURE!r} signature")
        inputs = signature.structured_input_signature[1]
        outputs = signature.structured_outputs
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError(f"expected a classifier with one input and one output, got "
                            f"{len(inputs)} inputs and {len(outputs)} outputs")
        (self._input_name, input_spec), = inputs.items()
        (self._output_name, output_spec), = outputs.items()
        self._signature = signature
        self.name = os.path.basename(os.path.normpath(path))
        self.inputs = [types.SimpleNamespace(shape=input_spec.shape, dtype=input_spec.dtype)]
        self.outputs = [types.SimpleNamespace(shape=output_spec.shape, dtype=output_spec.dtype)]

    def __call__(self, images, training=False):
        del training  # a SavedModel's signature is its inference graph
        images = tf.cast(images, self.inputs[0].dtype)
        return self._signature(**{self._input_name: images})[self._output_name]

    def predict(self, images, batch_size=128, verbose=0):
        del verbose
        return np.concatenate([self(images[i:i + batch_size]).numpy()
                               for i in range(0, len(images), batch_size)])
