"""Benchmarks post-training quantization steps: plain int8, each step, all steps, per-tensor.

Usage:
  python -m benchmarks.ptq --runs runs/mobilenet_v2_100,runs/squeezenet_1_1 \\
      --json runs/bench_ptq/bench_ptq.json

Each trained run (a `scripts/train.py` folder) is exported once per variant
(`VARIANTS`: no step, cle, bias_correction, both; per-tensor weights without and
with them; the ceilings "dynamic" and "int16x8", int8 weights with float or int16
activations; and "qat", the run fine-tuned with QAT for `--qat_epochs`, for reference) and
evaluated against its float Keras model on the test set: int8 accuracy, the gap to float in
points, top-1 agreement, disagreements and how many of them are ties, the export's wall time
without evaluation, and how often the float model after the steps (CLE turns ReLU6 into ReLU)
keeps the original's top-1 class on the calibration images. Prints the table.
"""

import os
import time

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.convert.api import evaluate, load_keras_model
from tflite_lite.convert.export_files import ExportConfig, export_model
from tflite_lite.data import load_dataset
from tflite_lite.errors import UserError
from tflite_lite.report import format_table, plot_ptq_errors
from tflite_lite.run_record import RunRecord
from tflite_lite.training import finetune_config, train

# (label, steps, per_tensor, mode): plain PTQ, each step alone, all steps; per-tensor without
# and with CLE; and two ceilings no int8 step can pass: int8 weights with float activations
# ("dynamic") and with int16 activations ("int16x8"). "auto" chooses the steps on validation
# images; "litert:MODE" is LiteRT Quantizer's MODE. "qat" is the reference PTQ is measured
# against: the run fine-tuned with quantization-aware training, then exported to int8.
VARIANTS = (("plain", "", False, "int8"), ("cle", "cle", False, "int8"),
            ("bias_correction", "bias_correction", False, "int8"),
            ("adaround", "adaround", False, "int8"),
            ("adaround+bias_correction", "adaround,bias_correction", False, "int8"),
            ("cle+bias_correction", "cle,bias_correction", False, "int8"),
            ("all", "cle,adaround,bias_correction", False, "int8"),
            ("per_tensor", "", True, "int8"), ("per_tensor+cle", "cle", True, "int8"),
            ("per_tensor+all", "cle,adaround,bias_correction", True, "int8"),
            ("dynamic", "", False, "dynamic"), ("int16x8", "", False, "int16x8"),
            ("auto", "auto", False, "int8"), ("litert_int8", "", False, "litert:int8"),
            ("litert_w4a8", "", False, "litert:w4a8"),
            ("litert_a16w8", "", False, "litert:int16x8"), ("qat", "", False, "qat"))
COLUMNS = (
    ("model", "model", "s"), ("variant", "PTQ", "s"), ("keras_accuracy", "float acc", ".4f"),
    ("int8_accuracy", "int8 acc", ".4f"), ("gap_pp", "gap pp", "+.2f"),
    ("agreement", "agree", ".4f"), ("disagreements", "disagree", "d"),
    ("tied_disagreements", "ties", "d"), ("seconds", "export s", ".1f"),
    ("ptq_seconds", "steps s", ".1f"), ("float_agreement", "float after steps agree", ".4f"),
    ("size_bytes", "bytes", ",d"), ("p50_ms", "p50 ms", ".3f"),
)


def _export_qat(run_dir, folder, epochs, learning_rate, representative_examples,
                max_eval_examples):
    """QAT fine-tuning of the run, then its int8 export: (its path, its contract)."""
    qat_dir = os.path.join(folder, "qat")
    train(finetune_config(run_dir, qat_dir, epochs, learning_rate, qat=True,
                          max_eval_examples=max_eval_examples))
    output = os.path.join(qat_dir, "model_int8.tflite")
    return output, export_model(ExportConfig(
        model_path=os.path.join(qat_dir, "model.keras"), output=output, mode="int8",
        representative_examples=representative_examples))


def benchmark_ptq(runs, output_dir, variants=VARIANTS, max_eval_examples=None,
                  representative_examples=256, qat_epochs=1, qat_learning_rate=2e-4,
                  adaround_seconds_per_layer=10.0):
    """One row per run and variant (see `COLUMNS`): int8 accuracy, the gap to the float
    model, top-1 agreement with it, and the export's wall time (steps, calibration,
    conversion; evaluation excluded; for "qat" the fine-tuning included). Writes each run's
    `layer_errors.png` (the last variant with steps)."""
    rows = []
    for run_dir in runs:
        record = RunRecord.load(run_dir, required=True)
        model_path = os.path.join(run_dir, "model.keras")
        keras_model = load_keras_model(model_path)
        pre = record.input_preprocessing
        test = load_dataset(record.dataset, input_shape=pre.input_shape, mean=pre.mean,
                            std=pre.std, max_eval_examples=max_eval_examples)
        folder = os.path.join(output_dir, os.path.basename(os.path.normpath(run_dir)))
        for label, steps, per_tensor, mode in variants:
            started = time.perf_counter()
            if mode == "qat":
                output, contract = _export_qat(run_dir, folder, qat_epochs, qat_learning_rate,
                                               representative_examples, max_eval_examples)
            else:
                quantizer, _, mode = mode.rpartition(":")
                output = os.path.join(folder, label, f"model_{mode}.tflite")
                contract = export_model(ExportConfig(
                    model_path=model_path, output=output, mode=mode, ptq=steps or "none",
                    per_tensor=per_tensor, representative_examples=representative_examples,
                    quantizer=quantizer or "converter",
                    adaround_seconds_per_layer=adaround_seconds_per_layer))
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
                "ptq": contract["ptq"], "auto_plan": contract.get("ptq_auto"),
                "litert_snr": contract.get("litert_snr"), "file": output,
                "size_bytes": os.path.getsize(output),
            })
        _add_latency([row for row in rows if row["model"] == record.model])
        plotted = next((row for row in reversed(rows) if row["model"] == record.model
                        and row["ptq"]), None)
        if plotted:
            plot_ptq_errors(plotted["ptq"], os.path.join(folder, "layer_errors.png"),
                            f"{record.model}: {plotted['variant']}")
    return rows


def _add_latency(rows):
    """Each row's p50 at 1 thread, its run's files timed in one interleaved run."""
    timings = {r["model"]: r["p50_ms"] for r in benchmark_host(BenchmarkConfig(
        models=tuple(row["file"] for row in rows), num_runs=50))}
    for row in rows:
        row["p50_ms"] = timings[row["file"]]


_RUNS = flags.DEFINE_list("runs", None, "Trained float run folders (model.keras and run.json).",
                          required=True)
_VARIANTS = flags.DEFINE_list("variants", [variant[0] for variant in VARIANTS],
                              "Variants to run (default: all).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_ptq", "Where exports go.")
_REPRESENTATIVE = flags.DEFINE_integer("representative_examples", 256, "Calibration images.",
                                       lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 1, "QAT fine-tuning epochs of the qat variant.",
                                   lower_bound=1)
_QAT_LEARNING_RATE = flags.DEFINE_float("qat_learning_rate", 2e-4,
                                        "QAT fine-tuning learning rate.", lower_bound=0)
_ADAROUND_SECONDS = flags.DEFINE_float(
    "adaround_seconds_per_layer", 10.0, "AdaRound's time per layer in the variants that name "
    "it (auto gives it what is left of its own 120 s).", lower_bound=0.1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/ptq.json",
                            "Write the rows as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    known = {variant[0]: variant for variant in VARIANTS}
    unknown = [name for name in _VARIANTS.value if name not in known]
    if unknown:
        raise UserError(f"unknown variant(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(known)}")
    rows = []
    for run_dir in _RUNS.value:
        rows += benchmark_ptq([run_dir], _OUTPUT_DIR.value,
                                    [known[name] for name in _VARIANTS.value], _MAX_EVAL.value,
                                    _REPRESENTATIVE.value, _QAT_EPOCHS.value,
                                    _QAT_LEARNING_RATE.value, _ADAROUND_SECONDS.value)
        print(format_table(rows, COLUMNS), flush=True)
        if _JSON.value:
            results_file.save(_JSON.value, {"rows": rows}, COLUMNS)


if __name__ == "__main__":
    cli.run(main)
