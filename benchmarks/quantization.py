"""Benchmarks quantization: float vs PTQ int8 vs QAT int8, low-bit weights, QAT step cost.

Usage:
  python -m benchmarks.quantization --float_runs runs/a/mobilenet_v2_035,runs/b/squeezenet_1_1 \
      --low_bit_run runs/a/mobilenet_v2_035 --output_dir runs/bench_quant \
      --json runs/bench_quant/bench_quantization.json

Each float run (a `scripts/train.py` folder) is exported with PTQ int8 and QAT-fine-tuned for
`--qat_epochs`, then exported in int8; the three `.tflite` files are timed together. The low-bit
run is QAT-fine-tuned once per weight quantizer (8 / 4 / 2-bit, ternary, binary). The step-cost
part times float vs QAT training steps of `--step_model` at 32x32x1, batch 128.
Every part is optional: leave its flag empty to skip it.
"""

import os
import time

import numpy as np
from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite._keras import keras
from tflite_lite.architectures import create_model
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.compression import QATConfig, quantize_model
from tflite_lite.convert.export_files import ExportConfig, export_model
from tflite_lite.report import format_table
from tflite_lite.run_record import RunRecord
from tflite_lite.training import finetune_config, train

QAT_COLUMNS = (
    ("model", "model", "s"), ("float_accuracy", "float acc", ".4f"),
    ("ptq_accuracy", "PTQ int8 acc", ".4f"), ("qat_accuracy", "QAT int8 acc", ".4f"),
    ("ptq_delta_pp", "PTQ Δpp", "+.2f"), ("qat_delta_pp", "QAT Δpp", "+.2f"),
    ("ptq_agreement", "PTQ agree", ".4f"), ("qat_agreement", "QAT agree", ".4f"),
    ("qat_float_ops", "QAT float ops", "d"), ("float_mb", "fp32 MB", ".3f"),
    ("int8_mb", "int8 MB", ".3f"), ("float_ms", "fp32 ms", ".3f"),
    ("ptq_ms", "PTQ ms", ".3f"), ("qat_ms", "QAT ms", ".3f"),
)
LOW_BIT_COLUMNS = (
    ("weights", "weights", "s"), ("effective_bits", "eff. bits", ".2f"),
    ("keras_accuracy", "QAT Keras acc", ".4f"), ("int8_accuracy", "int8 TFLite acc", ".4f"),
    ("agreement", "agree", ".4f"), ("size_kb", ".tflite KB", ".1f"), ("gzip_kb", "gzip KB", ".1f"),
)
STEP_COLUMNS = (("variant", "variant", "s"), ("ms_per_step", "ms/step", ".1f"),
                ("ratio_to_float", "÷ float", ".2f"))


def _export(model_path, output, mode, max_eval_examples):
    return export_model(ExportConfig(model_path=model_path, output=output, mode=mode,
                                     evaluate=mode != "float32",
                                     max_eval_examples=max_eval_examples))


def _qat_finetune(float_run, output_dir, epochs, learning_rate, max_eval_examples,
                  qat_config=None):
    qat_config = qat_config or QATConfig()
    return train(finetune_config(float_run, output_dir, epochs, learning_rate, qat=True,
                                 weight_quantizer=qat_config.weight_quantizer,
                                 weight_bits=qat_config.weight_bits,
                                 max_eval_examples=max_eval_examples))


def benchmark_qat(float_runs, output_dir, epochs=1, learning_rate=2e-4, num_runs=100,
                  max_eval_examples=None):
    """For each trained float run: PTQ int8 export, QAT fine-tuning and its int8 export, then
    the float32 / PTQ / QAT `.tflite` files timed together (1 thread, interleaved).

    Returns:
      One row per run (see `QAT_COLUMNS`); accuracies are on the test set.
    """
    rows = []
    for run_dir in float_runs:
        record = RunRecord.load(run_dir, required=True)
        name = record["model"]
        out = os.path.join(output_dir, name)
        float_model = os.path.join(run_dir, "model.keras")
        fp32 = _export(float_model, os.path.join(out, "float32", "model.tflite"), "float32", None)
        ptq = _export(float_model, os.path.join(out, "ptq", "model_int8.tflite"), "int8",
                      max_eval_examples)
        qat_record = _qat_finetune(run_dir, os.path.join(out, "qat"), epochs, learning_rate,
                                   max_eval_examples)
        qat = _export(os.path.join(out, "qat", "model.keras"),
                      os.path.join(out, "qat", "model_int8.tflite"), "int8", max_eval_examples)
        float_accuracy = ptq["evaluation"]["keras_accuracy"]
        rows.append({
            "model": name, "float_accuracy": float_accuracy,
            "ptq_accuracy": ptq["evaluation"]["tflite_accuracy"],
            "qat_keras_accuracy": qat["evaluation"]["keras_accuracy"],
            "qat_accuracy": qat["evaluation"]["tflite_accuracy"],
            "ptq_delta_pp": 100 * (ptq["evaluation"]["tflite_accuracy"] - float_accuracy),
            "qat_delta_pp": 100 * (qat["evaluation"]["tflite_accuracy"] - float_accuracy),
            "ptq_agreement": ptq["evaluation"]["agreement"],
            "qat_agreement": qat["evaluation"]["agreement"],
            "qat_float_ops": len(qat["float_ops"]),
            "float_mb": fp32["size_bytes"] / 1e6, "int8_mb": qat["size_bytes"] / 1e6,
            "qat_epochs": epochs, "qat_minutes": qat_record["wall_seconds"] / 60,
            "files": {k: os.path.join(out, v) for k, v in (
                ("float32", "float32/model.tflite"), ("ptq", "ptq/model_int8.tflite"),
                ("qat", "qat/model_int8.tflite"))},
        })
    paths = [path for row in rows for path in row["files"].values()]
    timings = {r["model"]: r["p50_ms"]
               for r in benchmark_host(BenchmarkConfig(models=paths, num_runs=num_runs))}
    for row in rows:
        for key, kind in (("float_ms", "float32"), ("ptq_ms", "ptq"), ("qat_ms", "qat")):
            row[key] = timings[row["files"][kind]]
    return rows


def benchmark_low_bit(float_run, output_dir, epochs=1, learning_rate=2e-4,
                      max_eval_examples=None, variants=(("int8", 8), ("uniform", 4),
                                                        ("uniform", 2), ("ternary", 8),
                                                        ("binary", 8))):
    """QAT-fine-tunes one float run once per weight quantizer and exports each in int8.

    Returns:
      One row per variant (see `LOW_BIT_COLUMNS`), with the measured bits per weight.
    """
    rows = []
    for method, bits in variants:
        config = QATConfig(method, bits)
        label = f"{bits}-bit" if method in ("int8", "uniform") else method
        out = os.path.join(output_dir, label)
        _qat_finetune(float_run, out, epochs, learning_rate, max_eval_examples, config)
        contract = _export(os.path.join(out, "model.keras"),
                           os.path.join(out, "model_int8.tflite"), "int8", max_eval_examples)
        rows.append({
            "weights": label, "effective_bits": contract["weights"]["effective_bits"],
            "keras_accuracy": contract["evaluation"]["keras_accuracy"],
            "int8_accuracy": contract["evaluation"]["tflite_accuracy"],
            "agreement": contract["evaluation"]["agreement"],
            "size_kb": contract["size_bytes"] / 1024,
            "gzip_kb": contract["weights"]["gzip_bytes"] / 1024,
        })
    return rows


def _ms_per_step(model, steps, batch_size, input_shape, jit_compile=False):
    rng = np.random.default_rng(0)
    images = rng.standard_normal((batch_size, *input_shape)).astype(np.float32)
    labels = rng.integers(0, model.outputs[0].shape[-1], batch_size)
    model.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy",
                  jit_compile=jit_compile)
    model.train_on_batch(images, labels)  # traces the step
    model.train_on_batch(images, labels)
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return 1000 * (time.perf_counter() - start) / steps


def benchmark_qat_step(model_name="mobilenet_v2_100", input_shape=(32, 32, 1), batch_size=128,
                       steps=20):
    """Training step time of float vs QAT wrappers (same model, batch and data)."""
    float_model = create_model(model_name, input_shape=input_shape, num_classes=10)
    float_ms = _ms_per_step(float_model, steps, batch_size, input_shape)
    rows = [{"variant": f"{model_name} float", "ms_per_step": float_ms}]
    qat_ms = _ms_per_step(quantize_model(float_model), steps, batch_size, input_shape)
    rows.append({"variant": f"{model_name} QAT (tfmot 8-bit)", "ms_per_step": qat_ms})
    for row in rows:
        row["ratio_to_float"] = row["ms_per_step"] / float_ms
    return rows


_FLOAT_RUNS = flags.DEFINE_list("float_runs", [], "Trained float run folders.")
_LOW_BIT_RUN = flags.DEFINE_string("low_bit_run", None, "Float run for the low-bit sweep.")
_STEP_MODEL = flags.DEFINE_string("step_model", "mobilenet_v2_100",
                                  "Model for the QAT step-cost measurement ('' to skip).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_quant", "Where runs go.")
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 1, "QAT fine-tuning epochs.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-4, "QAT fine-tuning learning rate.",
                                    lower_bound=0.0)
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed inferences per model.", lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/quantization.json",
                            "Write every table as JSON here.")


def _save(results):
    if _JSON.value:
        results_file.save(_JSON.value, results)


def main(argv):
    cli.reject_extra_args(argv)
    results = {}
    if _STEP_MODEL.value:
        results["qat_step"] = benchmark_qat_step(_STEP_MODEL.value)
        print(format_table(results["qat_step"], STEP_COLUMNS), flush=True)
        _save(results)
    if _FLOAT_RUNS.value:
        results["qat"] = benchmark_qat(_FLOAT_RUNS.value, f"{_OUTPUT_DIR.value}/qat",
                                             _QAT_EPOCHS.value, _LEARNING_RATE.value,
                                             _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["qat"], QAT_COLUMNS), flush=True)
        _save(results)
    if _LOW_BIT_RUN.value:
        results["low_bit"] = benchmark_low_bit(
            _LOW_BIT_RUN.value, f"{_OUTPUT_DIR.value}/low_bit", _QAT_EPOCHS.value,
            _LEARNING_RATE.value, _MAX_EVAL.value)
        print(format_table(results["low_bit"], LOW_BIT_COLUMNS), flush=True)
        _save(results)


if __name__ == "__main__":
    cli.run(main)
