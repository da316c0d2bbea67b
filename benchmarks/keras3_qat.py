"""Benchmarks Keras 3 QAT (`compression.keras3`) against the float model it starts from and
against tfmot's QAT of the same weights on the tf_keras twin.

Usage:
  python -m benchmarks.keras3_qat --train_examples 20000 --float_epochs 4

Each model (keras.applications MobileNetV2 0.35 and MobileNetV3 Small 0.75 with `weights=None`
and batch-norm momentum 0.9, and one registered model per family built with `keras=3`), at
32x32x1: trained float on
Fashion-MNIST, then fine-tuned one QAT epoch, then exported int8 (default float head) and
evaluated on the test images. A registered model's float weights also go to its tf_keras twin,
which fine-tunes the same epoch with tfmot. One row per model: float, Keras 3 QAT and tfmot
QAT int8 accuracy, agreement of each int8 file with its own Keras model, float ops, and the
QAT training step's time over the float step's (both Keras 3, batch 128, same process).
With `KERAS_BACKEND=jax` the models train and fine-tune on JAX, and each QAT model goes the
user's way: saved as `.keras`, exported by `scripts/export.py` on TensorFlow, its int8 file
scored against the model as JAX computes it (no tfmot rows there).
`--prune_model NAME` also trains NAME dense and pruned to 75% for the same epochs and compares
their int8 files (accuracy, zeros in the pruned kernels); `--models=` runs only that.
"""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite._keras import keras as tf_keras
from tflite_lite._keras import keras3
from tflite_lite.architectures import create_model, list_families
from tflite_lite.compression import quantize_model
from tflite_lite.convert.api import export
from tflite_lite.data import load_dataset
from tflite_lite.report import format_table

COLUMNS = (
    ("model", "model", "s"), ("float_accuracy", "float acc", ".4f"),
    ("qat_int8_accuracy", "K3 QAT int8 acc", ".4f"), ("qat_delta_pp", "Δpp vs float", "+.2f"),
    ("qat_agreement", "K3 agree", ".4f"), ("qat_float_ops", "float ops", "d"),
    ("tfmot_int8_accuracy", "tfmot int8 acc", ".4f"), ("tfmot_agreement", "tfmot agree", ".4f"),
    ("vs_tfmot_pp", "Δpp vs tfmot", "+.2f"), ("step_ratio", "QAT ÷ float step", ".2f"),
)
PRUNE_COLUMNS = (
    ("model", "model", "s"), ("dense_int8_accuracy", "dense int8 acc", ".4f"),
    ("pruned_int8_accuracy", "75% pruned int8 acc", ".4f"), ("delta_pp", "Δpp", "+.2f"),
    ("keras_zeros", "Keras zeros", ".3f"), ("int8_zeros", "int8 zeros", ".3f"),
)
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
APPLICATIONS = ("keras_mobilenet_v2_035", "keras_mobilenet_v3_small_075")
INPUT_SHAPE = (32, 32, 1)

_MODELS = flags.DEFINE_list("models", None, "Models to run (default: the two keras."
                            "applications models and one registered model per family).")
_TRAIN = flags.DEFINE_integer("train_examples", 20000, "Training images.", lower_bound=256)
_EPOCHS = flags.DEFINE_integer("float_epochs", 4, "Float training epochs.", lower_bound=1)
_TEST = flags.DEFINE_integer("test_examples", 10000, "Test images.", lower_bound=100)
_TFMOT = flags.DEFINE_boolean("tfmot", True, "Also fine-tune the tf_keras twins with tfmot.")
_PRUNE = flags.DEFINE_string("prune_model", None, "Also train this registered model (Keras 3) "
                             "dense and pruned to 75% for the same epochs, and compare.")
_APPEND = flags.DEFINE_boolean("append", False, "Keep the rows of other models already in "
                               "--json (each row records the commit it was measured at).")
_JSON = flags.DEFINE_string("json", "benchmarks/results/keras3_qat.json", "Results file.")


def default_models():
    families = [names[0] for family, names in list_families().items()
                if family != "efficientnet_lite"]
    return [*APPLICATIONS, *families]


def build_keras3(name):
    """A fresh Keras 3 classifier for 32x32x1 Fashion-MNIST."""
    keras = keras3()
    if name == "keras_mobilenet_v2_035":
        model = keras.applications.MobileNetV2(input_shape=INPUT_SHAPE, alpha=0.35,
                                               weights=None, classes=10)
    elif name == "keras_mobilenet_v3_small_075":
        model = keras.applications.MobileNetV3Small(
            input_shape=INPUT_SHAPE, alpha=0.75, weights=None, classes=10,
            include_preprocessing=False)
    else:
        return create_model(name, input_shape=INPUT_SHAPE, num_classes=10, keras=3)
    # keras.applications' batch norms average at 0.999: a few hundred steps leave their
    # statistics near their start. The builders' 0.9 (`_blocks.BN_MOMENTUM`).
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.momentum = 0.9
    return model


def _compile(model, learning_rate, library):
    model.compile(library.optimizers.Adam(learning_rate), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _ms_per_step(model, images, labels, steps=10):
    model.train_on_batch(images, labels)  # traced once
    start = time.perf_counter()
    for _ in range(steps):
        model.train_on_batch(images, labels)
    return (time.perf_counter() - start) / steps * 1000


def _int8(model, data):
    if keras3().backend.backend() != "tensorflow":
        return _int8_through_tensorflow(model, data)
    result = export(model, mode="int8", calibration=data, evaluate_on=data,
                    max_eval_examples=_TEST.value, allow_float_ops=True)
    return result.evaluation, len(result.float_ops)


def _int8_through_tensorflow(model, data):
    """On another backend (JAX), a user's path: the model saved as `.keras`, exported by
    `scripts/export.py` on TensorFlow; the int8 file then scored here against the model as
    this backend computes it."""
    from tflite_lite.contract import Contract  # noqa: PLC0415
    from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement  # noqa: PLC0415

    with tempfile.TemporaryDirectory() as folder:
        path, output = os.path.join(folder, "qat.keras"), os.path.join(folder, "int8.tflite")
        model.save(path)
        done = subprocess.run(
            [sys.executable, os.path.join(REPO, "scripts", "export.py"), "--model", path,
             "--mode", "int8", "--dataset", "fashion_mnist", "--input_range=-1,1",
             "--allow_float_ops", "--noevaluate", "--output", output],
            env=dict(os.environ, KERAS_BACKEND="tensorflow"), capture_output=True, text=True,
            check=False)
        if done.returncode:
            raise RuntimeError(f"export on TensorFlow failed: {done.stderr.strip()[-500:]}")
        with open(output, "rb") as f:
            classifier = TFLiteClassifier(f.read())
        float_ops = len(Contract.beside(output).get("float_ops") or [])
    test = data.test.unbatch().take(_TEST.value).batch(128)
    return evaluate_agreement(model, classifier, test), float_ops


def benchmark_model(name, data):
    """One row of `COLUMNS` for `name` (see the module docstring)."""
    keras = keras3()
    keras.utils.set_random_seed(0)
    model = _compile(build_keras3(name), 1e-3, keras)
    model.fit(data.train, epochs=_EPOCHS.value, verbose=0)
    float_accuracy = model.evaluate(data.test.unbatch().take(_TEST.value).batch(128),
                                    verbose=0)[1]
    qat = _compile(quantize_model(model), 1e-4, keras)
    images, labels = (np.asarray(t) for t in next(iter(data.train)))
    step_ratio = _ms_per_step(qat, images, labels) / _ms_per_step(
        _compile(keras.models.clone_model(model), 1e-4, keras), images, labels)
    qat.fit(data.train, epochs=1, verbose=0)
    evaluation, float_ops = _int8(qat, data)
    row = {"model": name, "float_accuracy": float_accuracy,
           "qat_int8_accuracy": evaluation["tflite_accuracy"],
           "qat_delta_pp": 100 * (evaluation["tflite_accuracy"] - float_accuracy),
           "qat_agreement": evaluation["agreement"], "qat_float_ops": float_ops,
           "step_ratio": step_ratio, "backend": keras.backend.backend()}
    if _TFMOT.value and name not in APPLICATIONS and keras.backend.backend() == "tensorflow":
        twin = create_model(name, input_shape=INPUT_SHAPE, num_classes=10)
        twin.set_weights(model.get_weights())
        tfmot_qat = _compile(quantize_model(twin), 1e-4, tf_keras)
        tfmot_qat.fit(data.train, epochs=1, verbose=0)
        tfmot_eval, _ = _int8(tfmot_qat, data)
        row.update(tfmot_int8_accuracy=tfmot_eval["tflite_accuracy"],
                   tfmot_agreement=tfmot_eval["agreement"],
                   vs_tfmot_pp=100 * (evaluation["tflite_accuracy"]
                                      - tfmot_eval["tflite_accuracy"]))
    return row


def _int8_kernel_zeros(tflite):
    """Fraction of zeros in the int8 kernels of the CONV_2D and FULLY_CONNECTED ops (the
    layers magnitude pruning prunes)."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    from tflite_lite.convert.flatbuffer import describe, stored_weights  # noqa: PLC0415

    interpreter = Interpreter(model_content=tflite)
    description = describe(tflite)
    zeros = total = 0
    for op in description["ops"]:
        if op["op"] in ("CONV_2D", "FULLY_CONNECTED"):
            kernel = interpreter.get_tensor(stored_weights(description, op))
            if kernel.dtype == np.int8:
                zeros, total = zeros + int(np.sum(kernel == 0)), total + kernel.size
    return zeros / total


def benchmark_pruning(name, data):
    """`name` trained dense and pruned (polynomial to 75% over the first two thirds of the
    steps) for the same epochs, both exported int8: accuracy and zeros."""
    from tflite_lite.compression import PruningConfig, prune_model, strip_pruning  # noqa: PLC0415
    from tflite_lite.compression import weight_sparsity  # noqa: PLC0415

    keras = keras3()
    steps = _EPOCHS.value * int(data.train.cardinality())
    results = {}
    for variant in ("dense", "pruned"):
        keras.utils.set_random_seed(0)
        model = build_keras3(name)
        if variant == "pruned":
            model = prune_model(model, PruningConfig(
                final_sparsity=0.75, frequency=max(1, steps // 30), end_step=2 * steps // 3))
        _compile(model, 1e-3, keras).fit(data.train, epochs=_EPOCHS.value, verbose=0)
        model = strip_pruning(model)
        result = export(model, mode="int8", calibration=data, evaluate_on=data,
                        max_eval_examples=_TEST.value)
        pruned_layers = [v for k, v in weight_sparsity(model)["layers"].items()
                         if type(model.get_layer(k)).__name__ != "DepthwiseConv2D"]
        results[variant] = (result.evaluation["tflite_accuracy"], float(np.mean(pruned_layers)),
                            _int8_kernel_zeros(result.tflite))
    return {"model": name, "dense_int8_accuracy": results["dense"][0],
            "pruned_int8_accuracy": results["pruned"][0],
            "delta_pp": 100 * (results["pruned"][0] - results["dense"][0]),
            "keras_zeros": results["pruned"][1], "int8_zeros": results["pruned"][2]}


def main(argv):
    cli.reject_extra_args(argv)
    data = load_dataset("fashion_mnist", input_shape=INPUT_SHAPE, batch_size=128,
                        max_train_examples=_TRAIN.value)
    rows, measured = _earlier_rows(), {}
    if _PRUNE.value:
        measured["pruning"] = [benchmark_pruning(_PRUNE.value, data)]
        print(format_table(measured["pruning"], PRUNE_COLUMNS), flush=True)
    models = default_models() if _MODELS.value is None else [m for m in _MODELS.value if m]
    commit = results_file.commit()  # the code this process runs
    for name in models:
        rows = [row for row in rows if row["model"] != name]
        rows.append(dict(benchmark_model(name, data), commit=commit))
        print(format_table(rows[-1:], COLUMNS), flush=True)
        _save(rows, measured)
    _save(rows, measured)
    print(format_table(rows, COLUMNS))


def _earlier_rows():
    if not (_APPEND.value and _JSON.value and os.path.isfile(_JSON.value)):
        return []
    return list(results_file.load(_JSON.value).get("rows", []))


def _save(rows, measured):
    """The QAT rows, or with `--models=` the pruning rows alone, as the figures page shows."""
    if not _JSON.value:
        return
    settings = (f"{_TRAIN.value:,} Fashion-MNIST training images, {_EPOCHS.value} float "
                f"epochs, {_TEST.value:,} test images")
    backend = keras3().backend.backend()
    if rows or not measured:
        results_file.save(_JSON.value, {
            "title": "Keras 3 QAT" + ("" if backend == "tensorflow" else f" on {backend}"),
            "rows": rows, **measured, "about": (
                f"Keras 3 models at 32x32x1, {settings}, then one QAT epoch; int8 files with "
                "the default float head. " + (
                    "tfmot: the same float weights in the tf_keras twin, one tfmot QAT epoch."
                    if backend == "tensorflow" else
                    f"Trained on {backend}; each QAT model saved as .keras, exported by "
                    "scripts/export.py on TensorFlow, its int8 file's agreement measured "
                    f"against the model as {backend} computes it."))}, columns=COLUMNS)
    else:
        results_file.save(_JSON.value, {
            "title": "Keras 3 pruning", "rows": measured["pruning"], "about": (
                f"A Keras 3 model trained dense and pruned (polynomial to 75%) for the same "
                f"epochs, {settings}; zeros in the Conv2D / Dense kernels "
                "(depthwise kernels are not pruned).")}, columns=PRUNE_COLUMNS)


if __name__ == "__main__":
    cli.run(main)
