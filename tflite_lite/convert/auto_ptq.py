"""`ptq="auto"`: the post-training steps chosen by measuring the int8 file, not by default.

No single PTQ step helps every model: bias correction raised agreement on five of seven
benchmarked models and lowered it on the sixth, where only AdaRound helped. So each candidate
is converted to the real int8 flatbuffer and scored against the float model on validation
images (never the test split; up to 2,000, or `max_eval_examples`), cheapest first:

    plain, bias_correction, cle + bias_correction, litert, adaround + bias_correction

("litert": LiteRT Quantizer's static int8, when its extra is installed.)

It stops at the first candidate that agrees with the float model on at least
`AGREEMENT_TARGET` of the images and loses at most `budget_pp` of its accuracy, and otherwise
keeps the best (agreement, then accuracy). AdaRound gets what is left of the time budget.
The plan (a row per candidate: seconds, agreement, accuracy, chosen) goes into the contract.
Models the PTQ steps cannot take (Keras 3, a SavedModel) have the plain and LiteRT candidates.
"""

import time

import numpy as np

from tflite_lite.convert.evaluate import TFLiteClassifier

LITERT = "litert"
CANDIDATES = ("", "bias_correction", "cle,bias_correction", LITERT, "adaround,bias_correction")
AGREEMENT_TARGET = 0.99
PLAN_COLUMNS = (("candidate", "candidate", "s"), ("seconds", "seconds", ".1f"),
                ("agreement", "val agreement", ".4f"), ("accuracy", "val accuracy", ".4f"),
                ("delta_pp", "Δ vs float pp", "+.2f"), ("chosen", "chosen", ""))


def choose_steps(float_top1, labels, convert, candidates=CANDIDATES, budget_pp=0.3,
                 seconds=120.0):
    """Converts candidates in order until one is within the budget; returns (the chosen
    flatbuffer, the plan).

    Args:
      float_top1: the float model's top-1 class on the validation images.
      labels: their labels.
      convert: `convert(steps, seconds_left)` → (int8 flatbuffer, PTQ report or None, its
        top-1 class on the validation images) for a candidate's comma-separated steps (""
        for none).
      candidates: the step lists to try, in order. Defaults to `CANDIDATES`.
      budget_pp: the accuracy a candidate may lose against float, in percentage points.
      seconds: the time budget over all candidates; once spent, no new candidate starts.

    Returns:
      (flatbuffer, its PTQ report, plan): the plan has `float_accuracy`, `budget_pp`, `agreement_target`,
      `chosen`, `within_budget` and `candidates` (one row per candidate tried, `PLAN_COLUMNS`).
    """
    labels = np.asarray(labels).reshape(-1)
    float_accuracy = float(np.mean(float_top1 == labels))
    started, rows, best = time.perf_counter(), [], None
    for steps in candidates:
        left = seconds - (time.perf_counter() - started)
        if rows and left <= 0:
            break
        begun = time.perf_counter()
        tflite, report, top1 = convert(steps, left)
        row = {"candidate": steps or "plain", "seconds": time.perf_counter() - begun,
               "agreement": float(np.mean(top1 == float_top1)),
               "accuracy": float(np.mean(top1 == labels)), "chosen": False}
        row["delta_pp"] = 100 * (row["accuracy"] - float_accuracy)
        row["within_budget"] = (row["agreement"] >= AGREEMENT_TARGET
                                and -row["delta_pp"] <= budget_pp)
        rows.append(row)
        if best is None or (row["agreement"], row["accuracy"]) > (
                best[0]["agreement"], best[0]["accuracy"]):
            best = (row, tflite, report)
        if row["within_budget"]:
            break
    chosen, tflite, report = best
    chosen["chosen"] = True
    return tflite, report, {
        "float_accuracy": float_accuracy, "budget_pp": budget_pp,
        "agreement_target": AGREEMENT_TARGET, "chosen": chosen["candidate"],
        "within_budget": chosen["within_budget"], "candidates": rows}


def predicted_classes(tflite, images):
    """The int8 file's top-1 class for each image."""
    return np.argmax(TFLiteClassifier(tflite).raw_outputs(images), axis=-1)
