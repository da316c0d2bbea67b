"""Training: the config, the train script end to end, and its bad-input errors."""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, product_sources, run_main
from tflite_lite.errors import UserError
from tflite_lite.training import TrainConfig
from tflite_lite.run_record import RunRecord


def test_config_round_trips():
    config = TrainConfig(model="shufflenet_v2_x0_5", epochs=3, augment="flip", dropout=0.2)
    assert TrainConfig.from_config(config.get_config()) == config
    assert config.augment == ("flip",)
    assert config.input_shape == (32, 32, 1)
    assert TrainConfig(dataset="cifar10").input_shape == (32, 32, 3)


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(model="vgg16"), "unknown model 'vgg16'"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(batch_size=-4), "batch_size must be a positive integer"),
    (dict(learning_rate=0.0), "learning_rate must be positive"),
    (dict(optimizer="lion"), "optimizer must be one of"),
    (dict(lr_schedule="linear"), "lr_schedule must be one of"),
    (dict(channels=2), "channels must be 1 or 3"),
    (dict(dropout=1.5), "dropout must be in [0, 1)"),
    (dict(weights="a.h5", init_from="b.keras"), "weights and init_from both choose"),
    (dict(weights=3), "weights must be a file path or \"imagenet\""),
    (dict(weights="a.h5", epochs=3, freeze_epochs=3), "freeze_epochs (3) must be smaller than "
                                                      "epochs (3)"),
    (dict(freeze_epochs=1), "freeze_epochs needs starting weights"),
    (dict(weights="a.h5", freeze_epochs=1, qat=True), "does not combine with qat"),
    (dict(finetune_learning_rate=1e-4), "finetune_learning_rate applies with freeze_epochs"),
    (dict(freeze_epochs=-1), "freeze_epochs must be a non-negative integer"),
])
def test_config_rejects_impossible_values(kwargs, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        TrainConfig(**kwargs)


def test_config_rejects_unknown_keys():
    with pytest.raises(UserError, match="unknown training option"):
        TrainConfig.from_config({"epochs": 2, "epoch": 3})


def test_train_script_end_to_end(tmp_path):
    out = tmp_path / "run"
    result = run_main("train", "--model", "squeezenet_1_1", "--dataset", "fashion_mnist",
                        "--epochs", "2", "--batch_size", "64", "--input_size", "32",
                        "--max_train_examples", "256", "--max_eval_examples", "300",
                        "--keep_checkpoints", "1", "--output_dir", str(out))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "test accuracy" in result.stdout and "on 300 images" in result.stdout

    record = RunRecord.load(out)
    assert 0.0 <= record["test_accuracy"] <= 1.0
    assert record["epochs"] == 2
    assert record["class_names"][0] == "t-shirt/top" and len(record["class_names"]) == 10
    assert record["preprocessing"]["input_shape"] == [32, 32, 1]
    assert record["config"]["max_train_examples"] == 256
    assert record["config"]["max_eval_examples"] == 300
    assert record["num_examples"] == {"train": 256, "validation": 300, "test": 300}
    assert record["test_examples"] == record["validation_examples"] == 300
    assert record["macs"] > 0 and record["train_images_per_second"] > 0

    history = json.loads((out / "history.json").read_text())
    assert len(history["loss"]) == 2 and len(history["val_accuracy"]) == 2
    assert sorted(os.listdir(out / "checkpoints")) == ["epoch_002.keras"]
    assert os.listdir(out / "logs")
    assert not [f for f in os.listdir(out) if ".tmp" in f]

    from tflite_lite.training import load_run

    model, loaded = load_run(str(out))
    assert loaded == record
    probs = model.predict(np.zeros((1, 32, 32, 1), np.float32), verbose=0)
    assert probs.shape == (1, 10)


@pytest.mark.parametrize("args,fragments", [
    (["--model", "resnet_50"], ["unknown model 'resnet_50'", "--model list"]),
    (["--model", "shufflenet_v2_x05"], ["did you mean shufflenet_v2_x0_5"]),
    (["--dataset", "imagenet"], ["unknown dataset 'imagenet'"]),
    (["--epochs", "0"], ["epochs"]),
    (["--input_size", "16"], ["input_size"]),
    (["--input_size", "160x120"], ["--input_size=160x120", "inputs are square"]),
    (["--learning_rate", "-1"], ["learning_rate"]),
    (["--dataset", "folder:/nonexistent/images"], ["image folder not found"]),
    (["--validation_split", "0"], ["validation_split must be in (0, 1)"]),
    (["--channels", "2"], ["--channels=2", "<auto|1|3>"]),
    (["--prune_schedule", "constant"], ["--prune_schedule applies with --prune_final_sparsity "
                                        "or --prune_m_by_n"]),
    (["--temperature", "2"], ["--temperature applies with --teacher"]),
])
def test_train_script_bad_input_is_one_line(tmp_path, args, fragments):
    result = run_main("train", "--output_dir", str(tmp_path / "run"), "--epochs", "1", *args)
    assert_one_line_error(result, *fragments)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_train_script_rejects_one_class_folder(tmp_path):
    os.makedirs(tmp_path / "images" / "only")
    (tmp_path / "images" / "only" / "a.png").write_bytes(b"")
    result = run_main("train", "--dataset", f"folder:{tmp_path / 'images'}",
                        "--output_dir", str(tmp_path / "run"))
    assert_one_line_error(result, "has one class (only)")


def test_train_flags_are_made_from_the_config_classes():
    """Every plain TrainConfig field is a flag of that name with the field's default and its
    docstring as help; the compression flags keep their names."""
    import dataclasses
    import importlib.util

    from absl import flags
    from absl.testing import flagsaver

    from tflite_lite import cli
    from tflite_lite.training import TrainConfig

    docs = cli.attribute_docs(TrainConfig)
    with flagsaver.flagsaver():
        path = os.path.join(REPO, "scripts", "train.py")
        spec = importlib.util.spec_from_file_location("_script_train", path)
        spec.loader.exec_module(importlib.util.module_from_spec(spec))
        for field in dataclasses.fields(TrainConfig):
            if field.type in (int, float, bool, str) and field.name not in (
                    "model", "output_dir", "channels", "small_input", "verbose"):
                flag = flags.FLAGS[field.name]
                assert flag.default == field.default, field.name
                assert docs[field.name].startswith(flag.help.split(">: ")[-1]), field.name
        for name in ("prune_final_sparsity", "prune_m_by_n", "channel_prune_target_macs",
                     "clusters", "cluster_init", "low_rank_energy", "teacher", "alpha",
                     "cache_teacher_logits"):
            assert name in flags.FLAGS, name


def test_model_list():
    result = run_main("train", "--model", "list")
    assert result.returncode == 0
    assert "shufflenet_v2_x1_0" in result.stdout.split()


def test_training_step_is_traced_once():
    """`train()` creates the optimizer's and the metrics' variables before `fit()`: created in
    the first step, they make TensorFlow trace the step a second time."""
    from tflite_lite._keras import keras, tf
    from tflite_lite.training.loop import _build_step_state

    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    data = tf.data.Dataset.from_tensor_slices((np.zeros((4, 8, 8, 1), np.float32),
                                               np.zeros(4, np.int32))).batch(2)
    _build_step_state(model, model.output_shape, data.element_spec)
    model.fit(data, epochs=2, verbose=0)
    assert model.train_function.experimental_get_tracing_count() == 1


@pytest.mark.slow  # a benchmark (10 s)
def test_bench_train_prints_table_and_writes_json(tmp_path):
    result = run_main("benchmarks/training", "--models", "squeezenet_1_1,mobilenet_v1_025",
                      "--epochs", "1", "--max_train_examples", "64",
                      "--max_eval_examples", "64", "--output_dir", str(tmp_path),
                      "--json", str(tmp_path / "bench_train.json"))
    assert result.returncode == 0, result.stderr[-3000:]
    assert "train img/s" in result.stdout and "squeezenet_1_1" in result.stdout
    rows = json.loads((tmp_path / "bench_train.json").read_text())["rows"]
    assert [row["model"] for row in rows] == ["squeezenet_1_1", "mobilenet_v1_025"]
    assert all(0 <= row["test_accuracy"] <= 1 and row["params"] > 0 for row in rows)


def test_no_module_imports_keras_directly():
    """Keras 2 is chosen in one place (tflite_lite/_keras.py), which also hands out Keras 3
    for `.keras` files it saved; nobody else imports Keras."""
    pattern = re.compile(r"^\s*(import keras\b|from keras\b|import tf_keras\b|from tf_keras\b)"
                         r"|\btf\.keras\b", re.MULTILINE)
    offenders = [path for path, text in product_sources()
                 if path != os.path.join("tflite_lite", "_keras.py") and pattern.search(text)]
    assert not offenders


def test_tensorflow_is_imported_through_keras_module_only():
    """`import tensorflow` happens in tflite_lite/_keras.py (quietly, with Keras 2); other
    TensorFlow and tfmot imports follow an import of `_keras` in the same file or in the
    package's `__init__.py`."""
    plain = re.compile(r"^\s*import tensorflow( as tf)?\s*$", re.MULTILINE)
    other = re.compile(r"^\s*(from|import) tensorflow", re.MULTILINE)
    keras_module = re.compile(r"^\s*from tflite_lite(\._keras)? import .*\b(_keras|tf)\b",
                              re.MULTILINE)
    sources = dict(product_sources())
    offenders = []
    for path, text in sources.items():
        if path == os.path.join("tflite_lite", "_keras.py"):
            continue
        if plain.search(text):
            offenders.append(path)
        first = other.search(text)
        if first:
            package = sources.get(os.path.join(os.path.dirname(path), "__init__.py"), "")
            found = keras_module.search(text)
            if not (keras_module.search(package) or (found and found.start() < first.start())):
                offenders.append(path)
    assert not offenders


@pytest.mark.parametrize("module", ["tflite_lite", "tflite_lite.convert", "tflite_lite.benchmark",
                                    "tools.fuzzing", "tflite_lite.cli",
                                    "tflite_lite_scripts.inspect_tflite",
                                    "tflite_lite_scripts.benchmark",
                                    "tools.fuzz_tflite"])
def test_litert_only_paths_do_not_import_tensorflow(module):
    code = (f"import sys, {module}; print(sorted(m for m in ('tensorflow', 'tf_keras') "
            "if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_package_face_loads_names_on_first_use():
    import tflite_lite
    from tflite_lite import convert

    assert tflite_lite.keras.__name__ == "tf_keras"
    assert "describe_file" in dir(convert) and "export_model" in convert.__all__
    assert convert.describe_file.__module__ == "tflite_lite.convert.probe"
    with pytest.raises(AttributeError, match="no_such_name"):
        convert.no_such_name  # noqa: B018


@pytest.mark.parametrize("script", sorted(
    os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, "scripts", "*.py"))
    if not os.path.basename(p).startswith("_")))
def test_every_command_refuses_a_bad_flag_before_tensorflow_loads(script):
    """Flags are parsed first: a typo is one line and exit status 2, TensorFlow not loaded."""
    code = ("import runpy, sys\n"
            f"sys.argv = ['{script}.py', '--bogus']\n"
            "try:\n"
            f"    runpy.run_path('scripts/{script}.py', run_name='__main__')\n"
            "except SystemExit as exit_:\n"
            "    print(exit_.code, 'tensorflow' in sys.modules)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.stdout.split() == ["2", "False"], result.stdout + result.stderr[-500:]
    assert result.stderr.strip().splitlines() == [
        "error: Unknown command line flag 'bogus' (see --helpfull)"]
