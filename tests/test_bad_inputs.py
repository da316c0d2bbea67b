"""The bad-input catalog: every case must fail with one `error:` line, exit status 2, no
traceback and no artifact.

Script cases run each script's `main()` in this process, through the command line's own flag
parsing and error handling (`run_main`); the slow step runs every one of them again as the
real program in a subprocess. `CLI_WIRING` runs a few real programs in the fast suite too,
one per script, to prove the wiring. Library cases call the library and expect one
`UserError` whose message is one line. Paths in the arguments are written `{name}` and filled
from the `bad` fixture.
"""

import concurrent.futures
import json
import os
import zipfile

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, mark_slow, run_main, run_script
from tflite_lite.errors import UserError
from tflite_lite.run_record import FILE as RUN_FILE
from tflite_lite.run_record import RunRecord

ZOO_INT8 = os.path.join(REPO, "models", "mobilenet_v1_050_fashion", "model_int8.tflite")

# (id, script, arguments, fragment of the error line, paths that must not exist afterwards)
SCRIPT_CASES = [
    ("tflite_empty", "inspect_tflite", ["--model", "{empty_tflite}"], "empty file", []),
    ("tflite_truncated", "inspect_tflite", ["--model", "{truncated_tflite}"], "truncated", []),
    ("tflite_random_bytes", "inspect_tflite", ["--model", "{random_tflite}"], "not a TFLite", []),
    ("tflite_is_a_zip", "inspect_tflite", ["--model", "{zip_tflite}"], "not a TFLite", []),
    ("tflite_corrupt_body", "inspect_tflite", ["--model", "{corrupt_tflite}"], "corrupt_tflite",
     []),
    ("tflite_missing", "inspect_tflite", ["--model", "{tmp}/none.tflite"], "no such file", []),
    ("tflite_is_a_folder", "inspect_tflite", ["--model", "{tmp}"], "not a file", []),
    ("tflite_json_output_unwritable", "inspect_tflite",
     ["--model", ZOO_INT8, "--json", "{a_file}/d.json"], "a_file", []),
    ("benchmark_truncated", "benchmark", ["--models", "{truncated_tflite}"], "truncated", []),
    ("benchmark_random_bytes", "benchmark", ["--models", "{random_tflite}"], "not a TFLite", []),
    ("benchmark_zero_threads", "benchmark", ["--models", ZOO_INT8, "--threads", "0"], "thread counts",
     []),
    ("export_missing_model", "export", ["--model", "{tmp}/none.keras", "--output",
                                        "{tmp}/out1/m.tflite"], "no such model file",
     ["{tmp}/out1"]),
    ("export_random_keras", "export", ["--model", "{random_keras}", "--output",
                                       "{tmp}/out2/m.tflite"], "neither a zip archive nor an HDF5",
     ["{tmp}/out2"]),
    ("export_tflite_as_keras", "export", ["--model", "{tflite_as_keras}", "--output",
                                          "{tmp}/out3/m.tflite"], "not a Keras model but a TFLite",
     ["{tmp}/out3"]),
    ("export_lambda_layer", "export", ["--model", "{lambda_keras}", "--output",
                                       "{tmp}/out4/m.tflite"], "Lambda", ["{tmp}/out4"]),
    ("export_bad_mode", "export", ["--model", "{trained}", "--mode", "int4"], "int4", []),
    ("export_not_an_image_model", "export",
     ["--model", "{flat_keras}", "--mode", "float32", "--output", "{tmp}/out7/m.tflite"],
     "expected an image classifier (H, W, C)", ["{tmp}/out7"]),
    ("export_two_output_model", "export",
     ["--model", "{two_heads_keras}", "--mode", "float32", "--output", "{tmp}/out8/m.tflite"],
     "one input and one output", ["{tmp}/out8"]),
    ("export_saved_model_folder_without_model", "export",
     ["--model", "{empty_folder}", "--mode", "float32", "--output", "{tmp}/out9/m.tflite"],
     "not a SavedModel", ["{tmp}/out9"]),
    ("export_class_count_mismatch", "export",
     ["--model", "{trained}", "--dataset", "folder:{three_classes}", "--output",
      "{tmp}/out5/m.tflite"], "10 classes", ["{tmp}/out5"]),
    ("export_missing_dataset_folder", "export",
     ["--model", "{trained}", "--dataset", "folder:{tmp}/no_images", "--output",
      "{tmp}/out6/m.tflite"], "not found", ["{tmp}/out6"]),
    ("export_unwritable_output", "export",
     ["--model", "{trained}", "--mode", "float32", "--output", "{a_file}/m.tflite"],
     "cannot write", []),
    ("train_other_architecture", "train",
     ["--model", "mobilenet_v2_035", "--init_from", "{squeezenet_keras}", "--epochs", "1",
      "--output_dir", "{tmp}/run1"], "not a mobilenet_v2_035", ["{tmp}/run1"]),
    ("train_other_architecture_by_run", "train",
     ["--model", "mobilenet_v2_035", "--init_from", "{squeezenet_run}/model.keras", "--epochs",
      "1", "--output_dir", "{tmp}/run2"], "is a squeezenet_1_1", ["{tmp}/run2"]),
    ("train_missing_dataset_folder", "train",
     ["--dataset", "folder:{tmp}/no_images", "--output_dir", "{tmp}/run3"], "not found",
     ["{tmp}/run3"]),
    ("train_empty_dataset_folder", "train",
     ["--dataset", "folder:{empty_folder}", "--output_dir", "{tmp}/run4"], "no class sub-folders",
     ["{tmp}/run4"]),
    ("train_one_class_folder", "train",
     ["--dataset", "folder:{one_class}", "--output_dir", "{tmp}/run5"], "one class",
     ["{tmp}/run5"]),
    ("train_channel_mismatch", "train",
     ["--init_from", "{trained}", "--channels", "3", "--epochs", "1", "--output_dir",
      "{tmp}/run6"], "(32, 32, 3)", ["{tmp}/run6"]),
    ("train_class_count_mismatch", "train",
     ["--init_from", "{trained}", "--dataset", "folder:{three_classes}", "--channels", "1",
      "--epochs", "1", "--output_dir", "{tmp}/run7"], "to 3 classes", ["{tmp}/run7"]),
    ("train_zero_epochs", "train", ["--epochs", "0", "--output_dir", "{tmp}/run8"], "epochs",
     ["{tmp}/run8"]),
    ("train_nan_learning_rate", "train", ["--learning_rate", "nan", "--output_dir",
                                          "{tmp}/run9"], "learning_rate", ["{tmp}/run9"]),
    ("train_validation_split_above_one", "train",
     ["--validation_split", "1.5", "--output_dir", "{tmp}/run10"], "validation_split",
     ["{tmp}/run10"]),
    ("train_unknown_model", "train", ["--model", "resnet_999", "--output_dir", "{tmp}/run11"],
     "unknown model", ["{tmp}/run11"]),
    ("train_unknown_dataset", "train", ["--dataset", "imagenet_22k", "--output_dir",
                                        "{tmp}/run12"], "unknown dataset", ["{tmp}/run12"]),
    ("train_unknown_strategy", "train", ["--strategy", "parameter_server", "--output_dir",
                                         "{tmp}/run13"], "strategy", ["{tmp}/run13"]),
    ("train_nan_loss", "train",
     ["--model", "squeezenet_1_1", "--learning_rate", "1e30", "--lr_schedule", "constant",
      "--epochs", "2", "--max_train_examples", "256", "--max_eval_examples", "64",
      "--output_dir", "{tmp}/run14"],
     "diverged", ["{tmp}/run14/model.keras", "{tmp}/run14/" + RUN_FILE,
                  "{tmp}/run14/checkpoints/epoch_001.keras", "{tmp}/run14/backup"]),
    ("train_unwritable_output", "train", ["--epochs", "1", "--output_dir", "{a_file}/run"],
     "a_file", []),
    ("train_teacher_not_keras", "train",
     ["--teacher", "{random_keras}", "--epochs", "1", "--output_dir", "{tmp}/run15"],
     "not a Keras model", ["{tmp}/run15"]),
    ("recipe_path_outside_its_folder", "pipeline",
     ["--recipe", "{recipes}/outside.json", "--output_dir", "{tmp}/pipe1"], "leaves the recipe",
     ["{tmp}/pipe1"]),
    ("recipe_dataset_outside_its_folder", "pipeline",
     ["--recipe", "{recipes}/outside_data.json", "--output_dir", "{tmp}/pipe2"],
     "leaves the recipe", ["{tmp}/pipe2"]),
    ("recipe_is_python_code", "pipeline", ["--recipe", "{recipes}/code.json", "--output_dir",
                                           "{tmp}/pipe3"], "invalid JSON", ["{tmp}/pipe3"]),
    ("recipe_name_climbs_out", "pipeline", ["--recipe", "{recipes}/climb.json"],
     "plain folder name", []),
    ("recipe_is_a_list", "pipeline", ["--recipe", "{recipes}/list.json", "--output_dir",
                                      "{tmp}/pipe4"], "JSON object", ["{tmp}/pipe4"]),
]


def _fill(text, paths):
    return text.format(**paths)


@pytest.fixture(scope="module")
def bad(tmp_path_factory, trained_run):
    """The bad inputs, written once: broken files, odd folders, recipes; {name: path}."""
    from tflite_lite._keras import keras
    from tflite_lite.architectures import create_model

    tmp = tmp_path_factory.mktemp("bad_inputs")
    good = open(ZOO_INT8, "rb").read()
    rng = np.random.default_rng(0)
    corrupt = bytearray(good)
    corrupt[64:4096] = bytes(rng.integers(0, 256, 4096 - 64, dtype=np.uint8))
    files = {
        "empty_tflite": b"",
        "truncated_tflite": good[:len(good) // 3],
        "random_tflite": bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
        "corrupt_tflite": bytes(corrupt),
        "random_keras": bytes(rng.integers(0, 256, 4096, dtype=np.uint8)),
        "tflite_as_keras": good,
        "a_file": b"a file where a folder belongs\n",
    }
    paths = {"tmp": str(tmp), "trained": str(trained_run / "model.keras")}
    for name, content in files.items():
        suffix = {"a_file": "", "tflite_as_keras": ".keras"}.get(name, "." + name.split("_")[-1])
        path = tmp / (name + suffix)
        path.write_bytes(content)
        paths[name] = str(path)
    with zipfile.ZipFile(tmp / "zip.tflite", "w") as archive:
        archive.writestr("config.json", "{}")
    paths["zip_tflite"] = str(tmp / "zip.tflite")

    flat = keras.Input((32, 32))
    keras.Model(flat, keras.layers.Dense(10)(keras.layers.Flatten()(flat))).save(
        tmp / "flat.keras")
    paths["flat_keras"] = str(tmp / "flat.keras")
    image = keras.Input((32, 32, 1))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(image))
    keras.Model(image, [keras.layers.Dense(10)(features), keras.layers.Dense(2)(features)]).save(
        tmp / "two_heads.keras")
    paths["two_heads_keras"] = str(tmp / "two_heads.keras")

    inputs = keras.Input((32, 32, 1))
    outputs = keras.layers.Lambda(lambda x: x * 2.0, name="doubled")(inputs)
    outputs = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(outputs))
    keras.Model(inputs, outputs).save(tmp / "lambda.keras")
    paths["lambda_keras"] = str(tmp / "lambda.keras")
    squeezenet = create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=10)
    squeezenet.save(tmp / "squeezenet.keras")
    paths["squeezenet_keras"] = str(tmp / "squeezenet.keras")
    (tmp / "squeezenet_run").mkdir()
    squeezenet.save(tmp / "squeezenet_run" / "model.keras")
    RunRecord(model="squeezenet_1_1", config={"model": "squeezenet_1_1"}).save(
        tmp / "squeezenet_run")
    paths["squeezenet_run"] = str(tmp / "squeezenet_run")

    from PIL import Image  # noqa: PLC0415  (Keras' image loading needs Pillow anyway)

    def images(folder, classes, count=4):
        for name in classes:
            (folder / name).mkdir(parents=True)
            for index in range(count):
                pixels = rng.integers(0, 256, (28, 28), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / name / f"{index}.png")
        return str(folder)

    paths["three_classes"] = images(tmp / "three", ["a", "b", "c"])
    paths["one_class"] = images(tmp / "one", ["only"])
    (tmp / "empty_folder" / "cats").mkdir(parents=True)
    paths["empty_folder"] = str(tmp / "empty_folder")

    recipes = tmp / "recipes"
    recipes.mkdir()
    base = {"name": "r", "student": {"model": "squeezenet_1_1", "epochs": 1}}
    (tmp / "outside.keras").write_bytes(good)
    recipe_files = {
        "outside.json": dict(base, teacher={"load": "../outside.keras"}, distillation={}),
        "outside_data.json": dict(base, dataset={"name": "folder:../three"}),
        "climb.json": dict(base, name="../../escaped"),
        "list.json": [base],
    }
    for name, content in recipe_files.items():
        (recipes / name).write_text(json.dumps(content))
    (recipes / "code.json").write_text("import os\nos.system('touch pwned')\n")
    paths["recipes"] = str(recipes)
    return paths


# One real program per script in the catalog: the command-line wiring (flag errors and
# UserErrors become one `error:` line on stderr and exit status 2, never a traceback). The
# fast suite starts TensorFlow (5 s a program) in one of them, the export; the slow step runs
# every case as the real program (`test_every_case_through_the_real_program`).
_WIRING_CASES = ["tflite_missing", "benchmark_zero_threads", "export_bad_mode",
                 "train_unknown_model", "recipe_is_a_list"]
_SLOW_WIRING = ("train_unknown_model", "recipe_is_a_list")
CLI_WIRING = mark_slow(_WIRING_CASES, lambda name: name in _SLOW_WIRING)


def _check_case(case, result, paths):
    name, _, _, fragment, forbidden = case
    assert_one_line_error(result, fragment)
    for path in forbidden:
        assert not os.path.exists(_fill(path, paths)), f"{name} left {_fill(path, paths)}"
    assert not os.path.exists(os.path.join(REPO, "pwned"))


def _run_script_case(case, paths):
    _, script, args, _, _ = case
    return run_script(script, *[_fill(a, paths) for a in args], timeout=600)


@pytest.mark.parametrize("case", SCRIPT_CASES, ids=[case[0] for case in SCRIPT_CASES])
def test_script_fails_with_one_line(case, bad):
    _, script, args, _, _ = case
    _check_case(case, run_main(script, *[_fill(a, bad) for a in args]), bad)


@pytest.mark.parametrize("name", CLI_WIRING)
def test_real_program_fails_with_one_line(name, bad):
    case = next(case for case in SCRIPT_CASES if case[0] == name)
    _check_case(case, _run_script_case(case, bad), bad)


@pytest.fixture(scope="module")
def program_results(bad):
    """Every script case's CompletedProcess as the real program, three at a time."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        results = pool.map(lambda case: _run_script_case(case, bad), SCRIPT_CASES)
        return {case[0]: result for case, result in zip(SCRIPT_CASES, results)}


@pytest.mark.slow
@pytest.mark.parametrize("case", SCRIPT_CASES, ids=[case[0] for case in SCRIPT_CASES])
def test_every_case_through_the_real_program(case, bad, program_results):
    _check_case(case, program_results[case[0]], bad)


def _library_cases():
    from tflite_lite import compression, data
    from tflite_lite.architectures import create_model
    from tflite_lite.convert import (ExportConfig, TFLiteClassifier, describe_file, export_model,
                                     flatbuffer)
    from tflite_lite.pipeline import load_recipe
    from tflite_lite.compression import load_model
    from tflite_lite.training import TrainConfig

    return [
        ("read_empty_tflite", lambda p: flatbuffer.read_bytes(p["empty_tflite"]), "empty file"),
        ("describe_truncated", lambda p: describe_file(p["truncated_tflite"]), "truncated"),
        ("interpreter_on_random_bytes",
         lambda p: TFLiteClassifier(open(p["random_tflite"], "rb").read()), "TFLite"),
        ("load_random_keras", lambda p: load_model(p["random_keras"]), "not a Keras model"),
        ("load_lambda_keras", lambda p: load_model(p["lambda_keras"]), "Lambda"),
        ("dataset_one_class", lambda p: data.load_dataset("folder:" + p["one_class"]),
         "one class"),
        ("dataset_bad_channels", lambda p: data.load_dataset("mnist", input_shape=(32, 32, 2)),
         "1 or 3"),
        ("train_config_zero_batch", lambda p: TrainConfig(batch_size=0), "batch_size"),
        ("export_bad_mode",
         lambda p: export_model(ExportConfig(model_path=p["trained"],
                                             output=p["tmp"] + "/x.tflite", mode="int4")),
         "int4"),
        ("pruning_full_sparsity", lambda p: compression.PruningConfig(final_sparsity=1.0),
         "final_sparsity"),
        ("distillation_zero_temperature",
         lambda p: compression.DistillationConfig(p["trained"], temperature=0), "temperature"),
        ("recipe_outside_its_folder", lambda p: load_recipe(p["recipes"] + "/outside.json"),
         "leaves the recipe"),
        ("unknown_architecture", lambda p: create_model("resnet_999"), "resnet_999"),
    ]


LIBRARY_CASE_IDS = ["read_empty_tflite", "describe_truncated", "interpreter_on_random_bytes",
                    "load_random_keras", "load_lambda_keras", "dataset_one_class",
                    "dataset_bad_channels", "train_config_zero_batch", "export_bad_mode",
                    "pruning_full_sparsity", "distillation_zero_temperature",
                    "recipe_outside_its_folder", "unknown_architecture"]


@pytest.mark.parametrize("name", LIBRARY_CASE_IDS)
def test_library_raises_one_line_user_error(name, bad):
    call, fragment = {case[0]: case[1:] for case in _library_cases()}[name]
    before = sorted(os.listdir(bad["tmp"]))
    with pytest.raises(UserError) as raised:
        call(bad)
    message = str(raised.value)
    assert fragment in message and "\n" not in message, message
    assert sorted(os.listdir(bad["tmp"])) == before


def test_catalog_covers_at_least_thirty_cases():
    assert len(SCRIPT_CASES) + len(LIBRARY_CASE_IDS) >= 30
    assert len({case[0] for case in SCRIPT_CASES}) == len(SCRIPT_CASES)
    scripts = {case[1] for case in SCRIPT_CASES}
    assert {case[1] for case in SCRIPT_CASES if case[0] in _WIRING_CASES} == scripts
