"""PTQ benchmark: each trained run exported to int8 with each combination of PTQ steps (and
per-tensor weights), accuracy and agreement with the float model measured on the test set;
QAT fine-tuning for reference.

`scripts/bench_ptq.py` runs it, prints the table and writes the JSON.
"""

import os
import time

from tflite_lite.convert.api import evaluate, load_keras_model
from tflite_lite.convert.export_files import ExportConfig, export_model
from tflite_lite.data import load_dataset
from tflite_lite.report import plot_ptq_errors
from tflite_lite.run_record import RunRecord
from tflite_lite_scripts._bench_quantization import _qat_finetune

# (label, steps, per_tensor, mode): plain PTQ, each step alone, all steps; per-tensor without
# and with CLE; and two ceilings no int8 step can pass: int8 weights with float activations
# ("dynamic") and with int16 activations ("int16x8"). "qat" is the reference PTQ is measured
# against: the run fine-tuned with quantization-aware training, then exported to int8.
VARIANTS = (("plain", "", False, "int8"), ("cle", "cle", False, "int8"),
            ("bias_correction", "bias_correction", False, "int8"),
            ("adaround", "adaround", False, "int8"),
            ("cle+bias_correction", "cle,bias_correction", False, "int8"),
            ("all", "cle,adaround,bias_correction", False, "int8"),
            ("per_tensor", "", True, "int8"), ("per_tensor+cle", "cle", True, "int8"),
            ("per_tensor+all", "cle,adaround,bias_correction", True, "int8"),
            ("dynamic", "", False, "dynamic"), ("int16x8", "", False, "int16x8"),
            ("qat", "", False, "qat"))
COLUMNS = (
    ("model", "model", "s"), ("variant", "PTQ", "s"), ("keras_accuracy", "float acc", ".4f"),
    ("int8_accuracy", "int8 acc", ".4f"), ("gap_pp", "gap pp", "+.2f"),
    ("agreement", "agree", ".4f"), ("disagreements", "disagree", "d"),
    ("tied_disagreements", "ties", "d"), ("seconds", "export s", ".1f"),
    ("ptq_seconds", "steps s", ".1f"), ("float_agreement", "float after steps agree", ".4f"),
)


def _export_qat(run_dir, folder, epochs, learning_rate, representative_examples,
                max_eval_examples):
    """QAT fine-tuning of the run, then its int8 export: (its path, its contract)."""
    qat_dir = os.path.join(folder, "qat")
    _qat_finetune(run_dir, qat_dir, epochs, learning_rate, max_eval_examples)
    output = os.path.join(qat_dir, "model_int8.tflite")
    return output, export_model(ExportConfig(
        model_path=os.path.join(qat_dir, "model.keras"), output=output, mode="int8",
        representative_examples=representative_examples))


def benchmark_ptq(runs, output_dir, variants=VARIANTS, max_eval_examples=None,
                  representative_examples=256, qat_epochs=1, qat_learning_rate=2e-4):
    """One row per run and variant (see `COLUMNS`): int8 accuracy, the gap to the float
    model, top-1 agreement with it, and the export's wall time (steps, calibration,
    conversion; evaluation excluded; for "qat" the fine-tuning included). Writes each run's
    `layer_errors.png` (the last variant with steps)."""
    rows = []
    for run_dir in runs:
        record = RunRecord.load(run_dir, required=True)
        model_path = os.path.join(run_dir, "model.keras")
        keras_model = load_keras_model(model_path)
        pre = record.preprocessing
        test = load_dataset(record.dataset, input_shape=pre.input_shape, mean=pre.mean,
                            std=pre.std, max_eval_examples=max_eval_examples)
        folder = os.path.join(output_dir, os.path.basename(os.path.normpath(run_dir)))
        for label, steps, per_tensor, mode in variants:
            started = time.perf_counter()
            if mode == "qat":
                output, contract = _export_qat(run_dir, folder, qat_epochs, qat_learning_rate,
                                               representative_examples, max_eval_examples)
            else:
                output = os.path.join(folder, label, f"model_{mode}.tflite")
                contract = export_model(ExportConfig(
                    model_path=model_path, output=output, mode=mode, ptq=steps or None,
                    per_tensor=per_tensor, representative_examples=representative_examples))
            seconds = time.perf_counter() - started
            evaluation = evaluate(output, test, keras_model)
            rows.append({
                "model": record.model, "variant": label,
                "keras_accuracy": evaluation["keras_accuracy"],
                "int8_accuracy": evaluation["tflite_accuracy"],
                "gap_pp": 100 * (evaluation["tflite_accuracy"] - evaluation["keras_accuracy"]),
                "agreement": evaluation["agreement"],
                "disagreements": evaluation["disagreements"],
                "tied_disagreements": evaluation["tied_disagreements"],
                "test_images": evaluation["num_examples"], "seconds": seconds,
                "ptq_seconds": sum((contract["ptq"] or {}).get("seconds", {}).values()),
                "float_agreement": (contract["ptq"] or {}).get("float_top1_agreement"),
                "ptq": contract["ptq"], "file": output,
            })
        plotted = next((row for row in reversed(rows) if row["model"] == record.model
                        and row["ptq"]), None)
        if plotted:
            plot_ptq_errors(plotted["ptq"], os.path.join(folder, "layer_errors.png"),
                            f"{record.model}: {plotted['variant']}")
    return rows
