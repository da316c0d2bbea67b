"""Post-training quantization steps: the float model made easier to round to int8, before
the converter calibrates it. No training, only calibration images.

    prepared, report = prepare(model, ["cle", "bias_correction"], calibration_images)

Steps, by name (`PTQ_STEPS`), always in this order whatever order they are given in:
- "cle": cross-layer equalization (`equalization`).
- "adaround": adaptive rounding of every kernel (`adaround`).
- "bias_correction": empirical bias correction (`bias_correction`).

Any step first folds batch norms into their convolutions (`folding`). The model returned
computes the same function (up to ReLU6 → ReLU where CLE needs it; the report says where).
The report also gives, per linear layer and after each step, its relative output error in
int8 (`grid.rounding_errors`), against the float layer the rounding steps start from.
Works on tf_keras (Keras 2) functional models.
"""

import time

import numpy as np

from tflite_lite._keras import keras, require_tf_keras
from tflite_lite.compression.ptq.adaround import MIN_IMAGES, adaround, check_calibration
from tflite_lite.compression.ptq.bias_correction import correct_bias
from tflite_lite.compression.ptq.equalization import equalize, find_pairs
from tflite_lite.compression.ptq.folding import fold_batch_norms
from tflite_lite.compression.ptq.grid import quantized_kernel, rounding_errors
from tflite_lite.compression.config import PTQ_STEPS
from tflite_lite.compression.config import parse_ptq_steps as parse_steps
from tflite_lite.errors import UserError

_ERROR_IMAGES = 32

__all__ = ["MIN_IMAGES", "PTQ_STEPS", "adaround", "correct_bias", "equalize", "find_pairs",
           "fold_batch_norms", "parse_steps", "prepare", "quantized_kernel", "rounding_errors"]


def _copy(model):
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def prepare(model, steps, images, per_tensor=False, adaround_seconds_per_layer=10.0):
    """Applies the PTQ `steps` to a float model before int8 conversion.

    Args:
      model: a tf_keras functional float model (not QAT-wrapped).
      steps: step names (see `parse_steps`).
      images: preprocessed calibration images (N, H, W, C), for the steps that measure;
        AdaRound needs at least `MIN_IMAGES`.
      per_tensor: the int8 weights will have one scale per tensor (the steps round to, and
        correct for, that grid). Defaults to False.
      adaround_seconds_per_layer: AdaRound's time budget per layer. Defaults to 10.

    Returns:
      (model, report): a new model (or `model` itself for no step), and a dict with `steps`,
      `seconds` per step, what each step did, `layer_errors` ({"folded": ..., step: ...},
      each {layer: relative int8 output error}) and `float_top1_agreement` (the prepared
      float model's top-1 class against the original's on `images`).

    Raises:
      UserError: a Keras 3 model, an unknown step, or too few images for AdaRound.
    """
    steps = parse_steps(steps)
    report = {"steps": list(steps), "per_tensor": per_tensor, "seconds": {},
              "layer_errors": {}}
    if not steps:
        return model, report
    if not hasattr(model, "layers"):
        raise UserError("PTQ steps need a Keras model; a SavedModel is converted as it is")
    require_tf_keras(model, "each PTQ step")
    if "adaround" in steps:
        check_calibration(images)
    probe_images, original = images[:_ERROR_IMAGES], model
    started = time.perf_counter()
    model = fold_batch_norms(model)
    report["seconds"]["fold_batch_norms"] = time.perf_counter() - started
    report["layer_errors"]["folded"] = rounding_errors(model, model, probe_images, per_tensor)
    reference = model
    for step in steps:
        started = time.perf_counter()
        if step == "cle":
            model, report["cle"] = equalize(model)
            reference = model
        else:
            if reference is model:  # the rounding steps change weights in place
                reference = _copy(model)
            if step == "adaround":
                report["adaround"] = adaround(model, images, per_tensor,
                                              adaround_seconds_per_layer)
            else:
                report["bias_correction"] = {"largest_change": correct_bias(model, images,
                                                                            per_tensor)}
        report["seconds"][step] = time.perf_counter() - started
        report["layer_errors"][step] = rounding_errors(reference, model, probe_images,
                                                       per_tensor)
    # What the steps changed in float (CLE's ReLU6 → ReLU): top-1 agreement of the prepared
    # float model with the original on the calibration images.
    report["float_top1_agreement"] = float(np.mean(
        _top1(original, images) == _top1(model, images)))
    return model, report


def _top1(model, images, batch_size=64):
    return np.concatenate([np.argmax(model(images[i:i + batch_size], training=False), -1)
                           for i in range(0, len(images), batch_size)])
