"""Post-training quantization steps: the float model made easier to round to int8, before
the converter calibrates it. No training, only calibration images.

    prepared, report = prepare(model, ["cle", "bias_correction"], calibration_images)

Steps, by name (`PTQ_STEPS`), always in this order whatever order they are given in:
- "cle": cross-layer equalization (`equalization`).
- "bias_correction": empirical bias correction (`bias_correction`).

Any step first folds batch norms into their convolutions (`folding`). The model returned
computes the same function (up to ReLU6 → ReLU where CLE needs it; the report says where).
Works on tf_keras (Keras 2) functional models.
"""

import time

from tflite_lite._keras import require_tf_keras
from tflite_lite.compression.ptq.bias_correction import correct_bias, quantized_kernel
from tflite_lite.compression.ptq.equalization import equalize, find_pairs
from tflite_lite.compression.ptq.folding import fold_batch_norms
from tflite_lite.errors import UserError

PTQ_STEPS = ("cle", "bias_correction")

__all__ = ["PTQ_STEPS", "correct_bias", "equalize", "find_pairs", "fold_batch_norms",
           "parse_steps", "prepare", "quantized_kernel"]


def parse_steps(steps):
    """`steps` (names, a comma-separated string, or None / "" / "none" for no step) as a tuple
    in `PTQ_STEPS` order.

    Raises:
      UserError: an unknown or repeated step name.
    """
    if steps is None:
        return ()
    names = [s.strip() for s in steps.split(",")] if isinstance(steps, str) else list(steps)
    names = [name for name in names if name and name != "none"]
    for name in names:
        if name not in PTQ_STEPS:
            raise UserError(f"unknown PTQ step {name!r}; choose from {', '.join(PTQ_STEPS)}")
    if len(set(names)) != len(names):
        raise UserError(f"PTQ step repeated in {', '.join(names)}")
    return tuple(step for step in PTQ_STEPS if step in names)


def prepare(model, steps, images, per_tensor=False):
    """Applies the PTQ `steps` to a float model before int8 conversion.

    Args:
      model: a tf_keras functional float model (not QAT-wrapped).
      steps: step names (see `parse_steps`).
      images: preprocessed calibration images (N, H, W, C), for the steps that measure.
      per_tensor: the int8 weights will have one scale per tensor (bias correction corrects
        for that grid). Defaults to False.

    Returns:
      (model, report): a new model (or `model` itself for no step), and a dict with `steps`,
      `seconds` per step and what each step did.
    """
    steps = parse_steps(steps)
    report = {"steps": list(steps), "seconds": {}}
    if not steps:
        return model, report
    require_tf_keras(model, "PTQ steps")
    started = time.perf_counter()
    model = fold_batch_norms(model)
    report["seconds"]["fold_batch_norms"] = time.perf_counter() - started
    for step in steps:
        started = time.perf_counter()
        if step == "cle":
            model, report["cle"] = equalize(model)
        elif step == "bias_correction":
            report["bias_correction"] = {"largest_change": correct_bias(model, images,
                                                                        per_tensor)}
        report["seconds"][step] = time.perf_counter() - started
    return model, report
