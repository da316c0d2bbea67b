"""Per-layer mixed precision under an accuracy budget.

    tflite, plan = select_mixed_precision(model, calibration, images, labels, budget_pp=0.3)

Candidates, cheapest first: all int8; int8 with the k most sensitive layers kept in float
(k = 1 .. `max_float_layers`; sensitivity is the per-layer RMSE/scale from TFLite's
QuantizationDebugger); then int16 activations with int8 weights for the whole model. The first
whose accuracy on the given (validation) images is within `budget_pp` percentage points of the
float model's wins.

int16x8 is a whole-model choice only: TFLite's converter cannot mix int16 and int8 activations
in one graph (tensorflow/tensorflow#61720: "mixed precision post training quantization is
currently not supported"; #106742: the requantization between them is dropped).
"""

import numpy as np

from tflite_lite.convert import converter as _converter
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.convert.layer_errors import measure_layer_errors
from tflite_lite.errors import UserError

PLAN_COLUMNS = (("candidate", "candidate", "s"), ("accuracy", "accuracy", ".4f"),
                ("delta_pp", "Δ vs float pp", "+.2f"), ("size_bytes", "bytes", ",d"),
                ("meets_budget", "meets budget", ""))


def _accuracy(tflite, images, labels):
    classifier = TFLiteClassifier(tflite)
    predictions = np.array([np.argmax(classifier.raw_output(image)) for image in images])
    return float(np.mean(predictions == labels))


def select_mixed_precision(model, representative_images, images, labels, budget_pp,
                           max_float_layers=8, sensitivity_images=64):
    """Chooses the cheapest quantization that keeps accuracy within `budget_pp` of float.

    Args:
      model: the float (or QAT) Keras classifier.
      representative_images: calibration images (N, H, W, C), preprocessed.
      images: evaluation images (not the test set: the choice must not see it).
      labels: their integer labels.
      budget_pp: the accepted accuracy loss in percentage points, >= 0.
      max_float_layers: the most layers kept in float before trying int16x8. Defaults to 8.
      sensitivity_images: images for the per-layer error measurement. Defaults to 64.

    Returns:
      (flatbuffer bytes, plan): the plan has `float_accuracy`, `budget_pp`, `chosen` and
      `candidates` (candidate, mode, float_layers, accuracy, delta_pp, size_bytes,
      meets_budget), in the order tried.

    Raises:
      UserError: a negative budget, or no candidate within the budget (names the best).
    """
    if not budget_pp >= 0:
        raise UserError(f"accuracy budget must be >= 0 percentage points, got {budget_pp!r}")
    if max_float_layers < 0:
        raise UserError(f"max_float_layers must be >= 0, got {max_float_layers!r}")
    labels = np.asarray(labels).reshape(-1)
    float_predictions = np.argmax(model.predict(images, verbose=0), axis=-1)
    float_accuracy = float(np.mean(float_predictions == labels))
    calibrated = _converter.calibrate(model, representative_images)
    ranked = measure_layer_errors(calibrated, representative_images[:sensitivity_images])
    plan = {"float_accuracy": float_accuracy, "budget_pp": budget_pp, "candidates": []}

    def attempt(name, mode, float_rows, build):
        tflite = build()
        accuracy = _accuracy(tflite, images, labels)
        delta = 100 * (accuracy - float_accuracy)
        plan["candidates"].append({
            "candidate": name, "mode": mode, "accuracy": accuracy, "delta_pp": delta,
            "size_bytes": len(tflite), "meets_budget": -delta <= budget_pp + 1e-9,
            "float_layers": [{"layer": r["layer"], "tensor": r["tensor"],
                              "rmse_over_scale": r["rmse_over_scale"]} for r in float_rows]})
        return tflite if plan["candidates"][-1]["meets_budget"] else None

    for count in range(0, min(max_float_layers, len(ranked)) + 1):
        kept = ranked[:count]
        name = "int8" if not count else f"int8 + {count} float layer{'s' * (count > 1)}"
        tflite = attempt(name, "int8", kept, lambda kept=kept: _converter.quantize_calibrated(
            calibrated, [row["tensor"] for row in kept]))
        if tflite is not None:
            plan["chosen"] = name
            return tflite, plan
    tflite = attempt("int16x8", "int16x8", [], lambda: _converter.convert_model(
        model, "int16x8", representative_images))
    if tflite is not None:
        plan["chosen"] = "int16x8"
        return tflite, plan
    best = max(plan["candidates"], key=lambda c: c["accuracy"])
    raise UserError(f"no quantization meets the accuracy budget of {budget_pp} pp: the best, "
                    f"{best['candidate']}, loses {-best['delta_pp']:.2f} pp; raise the budget "
                    "or max_float_layers, or use QAT")
