"""The recipe pipeline: validation before anything trains, fingerprints, a small end-to-end run
that a rerun skips, the zoo recipes, and the script's errors."""

import copy
import glob
import json
import os

import pytest

from tflite_lite.architectures import create_model
from tflite_lite.errors import UserError
from tflite_lite.pipeline import Recipe, default_run_dir, load_recipe, plan, run_pipeline
from tflite_lite.pipeline import report as pipeline_report
from tflite_lite.pipeline.release import release_run

from conftest import REPO, assert_one_line_error, run_main
from tflite_lite.run_record import RunRecord

TINY = {
    "name": "tiny",
    "dataset": {"name": "fashion_mnist", "input_size": 32, "max_train_examples": 128,
                "max_eval_examples": 128, "batch_size": 64},
    "student": {"model": "squeezenet_1_1", "epochs": 1},
    "qat": {"epochs": 1, "learning_rate": 0.0002},
    "export": {"modes": ["float32", "int8"], "compare": False},
    "benchmark": {"num_runs": 5, "warmup_runs": 1},
}
# "ptq": "none": its three float int8 exports would each choose their steps (auto, up to 2 min)
DISTILLED = dict(TINY, export=dict(TINY["export"], compare=True, ptq="none"), teacher={"model": "squeezenet_1_1", "epochs": 1}, baseline=True,
                 distillation={"temperature": 4.0, "alpha": 0.1})


def _with(base, **changes):
    recipe = copy.deepcopy(base)
    for path, value in changes.items():
        *parents, key = path.split("__")
        target = recipe
        for parent in parents:
            target = target.setdefault(parent, {})
        if value is _DELETE:
            target.pop(key)
        else:
            target[key] = value
    return recipe


_DELETE = object()


@pytest.mark.parametrize("changes, fragment", [
    (dict(studnet={"model": "x"}), "unknown key(s) 'studnet'"),
    (dict(student__epoch=3), "recipe student: unknown key(s) 'epoch'"),
    (dict(student=_DELETE), "no student section"),
    (dict(student__model=_DELETE), "student: `model` is missing"),
    (dict(student__model="resnet_50"), "unknown model 'resnet_50'"),
    (dict(student__epochs=0), "epochs must be a positive integer"),
    (dict(student__learning_rate="fast"), "invalid value"),
    (dict(distillation={"temperature": 2.0}), "distillation needs a teacher"),
    (dict(teacher={"model": "squeezenet_1_1"}), "teacher but no distillation"),
    (dict(baseline=True), "baseline compares with distillation"),
    (dict(qat__distill=True), "qat.distill needs a distillation section"),
    (dict(qat__weight_quantizer="septenary"), "qat.weight_quantizer"),
    (dict(pruning={"final_sparsity": 1.5}), "final_sparsity"),
    (dict(export__modes=["int4"]), "export.modes"),
    (dict(export__colour="red"), "export: unknown key(s) 'colour'"),
    (dict(dataset__name="imagenet"), "unknown dataset 'imagenet'"),
    (dict(dataset__input_size=16), "input_size"),
    (dict(dataset__input_range=[1, 0]), "input_range must be LOW,HIGH with LOW < HIGH"),
    (dict(dataset__input_mean=[0.0]), "input_mean and input_std go together"),
    (dict(name="../escape"), "plain folder name"),
    (dict(teacher={"load": "no/such/teacher.keras"}, distillation={}), "no such model file"),
    (dict(teacher={"recipe": "no/such/recipe.json"}, distillation={}), "no such file"),
    (dict(teacher={"epochs": 3}, distillation={}), "give `model`"),
    (dict(distillation__temperature=-1, teacher={"model": "squeezenet_1_1"}), "temperature"),
])
def test_bad_recipes_fail_before_training(changes, fragment):
    with pytest.raises(UserError) as error:
        Recipe.from_config(_with(TINY, **changes))
    assert fragment in str(error.value)


def test_teacher_with_other_classes_or_inputs_is_refused(tmp_path):
    five = create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=5)
    five.save(tmp_path / "five.keras")
    recipe = _with(TINY, teacher={"load": str(tmp_path / "five.keras")}, distillation={})
    with pytest.raises(UserError, match="teacher predicts 5 classes"):
        Recipe.from_config(recipe)
    rgb = create_model("squeezenet_1_1", input_shape=(32, 32, 3), num_classes=10)
    rgb.save(tmp_path / "rgb.keras")
    with pytest.raises(UserError, match="teacher takes"):
        Recipe.from_config(_with(recipe, teacher__load=str(tmp_path / "rgb.keras")))
    teacher_recipe = tmp_path / "teacher.json"
    teacher_recipe.write_text(json.dumps(_with(TINY, name="t", dataset__input_size=40)))
    with pytest.raises(UserError, match="trains on"):
        Recipe.from_config(_with(recipe, teacher={"recipe": str(teacher_recipe)}))


def test_recipe_cycle_is_refused(tmp_path):
    path = tmp_path / "self.json"
    path.write_text(json.dumps(_with(TINY, teacher={"recipe": str(path)}, distillation={})))
    with pytest.raises(UserError, match="its own teacher"):
        load_recipe(str(path))


def test_presets_merge_and_unknown_preset():
    recipe = _with(TINY, presets={"short": {"student": {"epochs": 3}, "qat": None}})
    short = Recipe.from_config(recipe, preset="short")
    assert short.student == {"model": "squeezenet_1_1", "epochs": 3}
    assert short.qat is None
    assert Recipe.from_config(recipe).qat["epochs"] == 1
    with pytest.raises(UserError, match="no preset 'long'"):
        Recipe.from_config(recipe, preset="long")
    assert default_run_dir(short) == os.path.join("runs", "tiny_short")
    with_full = _with(recipe, presets__full={})
    assert default_run_dir(Recipe.from_config(with_full)) == os.path.join("runs", "tiny_full")


def test_fingerprints_follow_the_settings_downstream(tmp_path):
    before = {s.name: s.fingerprint for s in plan(Recipe.from_config(DISTILLED), str(tmp_path))}
    assert list(before) == ["teacher", "baseline", "student", "qat", "export", "benchmark"]
    changed = {s.name: s.fingerprint for s in plan(
        Recipe.from_config(_with(DISTILLED, teacher__epochs=2)), str(tmp_path))}
    assert changed["baseline"] == before["baseline"]
    for name in ("teacher", "student", "qat", "export", "benchmark"):
        assert changed[name] != before[name], name
    more_runs = {s.name: s.fingerprint for s in plan(
        Recipe.from_config(_with(DISTILLED, benchmark__num_runs=9)), str(tmp_path))}
    assert [n for n in before if more_runs[n] != before[n]] == ["benchmark"]


def test_recipe_ptq_steps_go_to_the_int8_exports_of_float_models(tmp_path):
    recipe = Recipe.from_config(_with(DISTILLED, export__ptq="cle,bias_correction",
                                      export__per_tensor=True))
    stages = {s.name: s for s in plan(recipe, str(tmp_path))}
    jobs = {(job["stage"], job["mode"]): job for job in stages["export"].settings["exports"]}
    assert jobs[("student", "int8")]["ptq"] == "cle,bias_correction"
    assert "ptq" not in jobs[("qat", "int8")] and jobs[("qat", "int8")]["per_tensor"]
    assert "ptq" not in jobs[("student", "float32")]
    plain = {s.name: s for s in plan(Recipe.from_config(_with(DISTILLED, export__ptq=_DELETE)),
                                     str(tmp_path))}["export"]
    # Recipes without the options keep their export jobs, and so their fingerprints (a float
    # model's int8 job then takes ptq "auto" in export_model, as scripts/export.py does).
    assert not any({"ptq", "per_tensor"} & set(job) for job in plain.settings["exports"])
    assert plain.fingerprint != stages["export"].fingerprint
    with pytest.raises(UserError, match="unknown PTQ step 'clee'"):
        Recipe.from_config(_with(TINY, export__ptq="clee"))
    with pytest.raises(UserError, match="export.per_tensor must be true or false"):
        Recipe.from_config(_with(TINY, export__per_tensor="yes"))


def test_recipe_input_scaling_goes_to_every_training_stage(tmp_path):
    recipe = Recipe.from_config(_with(DISTILLED, dataset__input_range=[0, 1]))
    stages = {s.name: s for s in plan(recipe, str(tmp_path))}
    trained = [s for s in stages.values() if s.kind == "train"]
    assert len(trained) >= 2 and all(s.settings["input_range"] == [0, 1] for s in trained)
    plain = {s.name: s for s in plan(Recipe.from_config(DISTILLED), str(tmp_path))}
    # Recipes without it keep their stages' settings, and so their fingerprints.
    assert not any("input_range" in s.settings for s in plain.values())


CAMERA = _with(TINY, dataset__augment=["flip", "translate", "polarity", "background", "contrast",
                                        "blur", "noise", "rotate", "scale"],
               dataset__nothing_fraction=0.2)


@pytest.mark.slow  # 35-45 s of training, conversion and benchmarking: a third of the fast budget
def test_small_pipeline_runs_reports_and_skips_on_rerun(tmp_path):
    run_dir = str(tmp_path / "run")
    lines = []
    record = run_pipeline(Recipe.from_config(CAMERA), run_dir, log=lines.append)
    assert [s["status"] for s in record["stages"].values()] == ["ran"] * 4
    # The final int8 model, bundled for the app, with the "nothing" class as its rejection rule.
    bundle = record["android_bundle"]
    assert bundle == os.path.join(run_dir, "android", "run")  # named as the run folder
    assert sorted(os.listdir(bundle)) == ["labels.txt", "qat_int8.json", "qat_int8.tflite"]
    with open(os.path.join(bundle, "qat_int8.json")) as f:
        contract = json.load(f)
    assert contract["class_names"][-1] == "nothing" and contract["num_classes"] == 11
    assert contract["rejection"] == {"nothing_class": 10, "min_score": 0.0}
    assert RunRecord.load(os.path.join(run_dir, "qat"))["nothing_class"] == 10
    files = {row["file"] for row in record["artifacts"]}
    assert files == {"student_float32.tflite", "qat_int8.tflite"}
    for row in record["artifacts"]:
        assert 0 <= row["tflite_accuracy"] <= 1 and row["p50_ms"] > 0 and row["gzip_bytes"] > 0
    assert record["summary"]["best_int8"]["file"] == "qat_int8.tflite"
    for plot in ("accuracy_vs_size.png", "accuracy_vs_latency.png", "training_curves.png"):
        with open(os.path.join(run_dir, plot), "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    report = open(os.path.join(run_dir, "report.md")).read()
    assert "qat_int8.tflite" in report and "![accuracy vs latency]" in report
    # Every accuracy of the report is on the same test images, and says how many.
    assert {row["eval_examples"] for row in record["artifacts"]} == {128}
    assert {row["test_examples"] for row in record["training"]} == {128}
    assert "the first 128 test images (the Training table's too)" in report
    # QAT fine-tunes the student: its curve continues at the student's last epoch.
    assert pipeline_report._epoch_offsets(record["training"]) == (
        {"student": 0, "qat": 1}, {"student": None, "qat": "student"})
    with open(os.path.join(run_dir, "pipeline.json")) as f:
        assert json.load(f)["recipe"]["name"] == "tiny"
    for folder in (run_dir, os.path.join(run_dir, "export")):  # the run, or its exports
        summary = run_main("summarize_run", "--run_dir", folder)
        assert summary.returncode == 0, summary.stderr
        rows = [line.split() for line in summary.stdout.splitlines()[2:]]
        assert sorted(row[0] for row in rows) == ["qat_int8.tflite", "student_float32.tflite"]
        assert all(float(row[6]) > 0 for row in rows), summary.stdout  # p50 ms

    stamp = os.path.getmtime(os.path.join(run_dir, "export", "qat_int8.tflite"))
    again = run_pipeline(Recipe.from_config(CAMERA), run_dir, log=lines.append)
    assert [s["status"] for s in again["stages"].values()] == ["skipped"] * 4
    assert os.path.getmtime(os.path.join(run_dir, "export", "qat_int8.tflite")) == stamp

    # A finished training run without stage.json (trained by scripts/train.py, or by an older
    # version whose run record lacks newer fields) is adopted when it reads no other stage.
    student = tmp_path / "run" / "student"
    os.remove(student / "stage.json")
    run_json = RunRecord.load(student)
    del run_json["config"]["distillation"]
    run_json.save(student)
    adopted = run_pipeline(Recipe.from_config(CAMERA), run_dir, log=lines.append)
    assert [s["status"] for s in adopted["stages"].values()] == ["skipped"] * 4
    assert (student / "stage.json").exists()

    zoo = tmp_path / "zoo"
    card = release_run(run_dir, str(zoo))
    assert sorted(os.listdir(zoo)) == ["README.md", "labels.txt", "model_int8.json",
                                       "model_int8.tflite"]
    contract = json.loads((zoo / "model_int8.json").read_text())
    assert contract["model_file"] == "model_int8.tflite"
    assert not os.path.isabs(contract["source_model"])  # no machine path in the zoo
    assert os.path.samefile(zoo / contract["source_model"], student.parent / "qat" / "model.keras")
    assert (zoo / "model_int8.tflite").read_bytes() == open(
        os.path.join(run_dir, "export", "qat_int8.tflite"), "rb").read()
    assert f"{record['artifacts'][1]['tflite_accuracy']:.4f}" in card

    fewer = run_pipeline(Recipe.from_config(_with(CAMERA, export__modes=["int8"])), run_dir,
                         log=lines.append)
    assert {k: v["status"] for k, v in fewer["stages"].items()} == {
        "student": "skipped", "qat": "skipped", "export": "ran", "benchmark": "ran"}
    assert [row["file"] for row in fewer["artifacts"]] == ["qat_int8.tflite"]


def test_script_errors_are_one_line_and_write_nothing(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_with(TINY, student__epoch=2)))
    result = run_main("pipeline", "--recipe", str(bad), "--output_dir", str(tmp_path / "run"))
    assert_one_line_error(result, "unknown key(s) 'epoch'")
    broken = tmp_path / "broken.json"
    broken.write_text('{"name": "x",')
    assert_one_line_error(run_main("pipeline", "--recipe", str(broken)), "invalid JSON")
    assert_one_line_error(run_main("pipeline", "--recipe", str(tmp_path / "none.json")),
                          "no such file")
    good = tmp_path / "good.json"
    good.write_text(json.dumps(TINY))
    assert_one_line_error(run_main("pipeline", "--recipe", str(good), "--preset", "fast"),
                          "no preset 'fast'")
    assert not (tmp_path / "run").exists()
    listing = run_main("pipeline", "--recipe", str(good), "--check",
                         "--output_dir", str(tmp_path / "run"))
    assert listing.returncode == 0, listing.stderr
    header, _, *rows = listing.stdout.splitlines()
    assert header.split() == ["stage", "kind", "state", "fingerprint", "folder"]
    assert [row.split()[0] for row in rows] == ["student", "qat", "export", "benchmark"]
    assert all(" to run " in row for row in rows)
    assert not (tmp_path / "run").exists()


ZOO_RECIPES = sorted(glob.glob(os.path.join(REPO, "models", "*", "recipe.json")))


def test_zoo_has_three_families_with_cards_and_artifacts():
    assert len(ZOO_RECIPES) >= 3
    families = set()
    for path in ZOO_RECIPES:
        folder = os.path.dirname(path)
        with open(path) as f:
            families.add(json.load(f)["student"]["model"].split("_")[0])
        for name in ("README.md", "model_int8.tflite", "model_int8.json", "labels.txt"):
            assert os.path.isfile(os.path.join(folder, name)), (folder, name)
    assert families >= {"mobilenet", "shufflenet", "squeezenet"}


@pytest.mark.parametrize("path", ZOO_RECIPES, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_zoo_recipes_validate_with_every_preset(path, monkeypatch):
    monkeypatch.chdir(REPO)  # teacher recipes are named from the repository root
    with open(path) as f:
        presets = [None, *json.load(f).get("presets", {})]
    for preset in presets:
        recipe = load_recipe(os.path.relpath(path, REPO), preset)
        assert plan(recipe, default_run_dir(recipe))


@pytest.mark.slow
def test_distilled_pipeline_with_pruning_and_qat(tmp_path):
    recipe = _with(DISTILLED, pruning={"final_sparsity": 0.5, "epochs": 1, "frequency": 1},
                   qat__distill=True)
    record = run_pipeline(Recipe.from_config(recipe), str(tmp_path / "run"), log=print)
    stages = [row["stage"] for row in record["training"]]
    assert stages == ["teacher", "baseline", "student", "pruned", "qat"]
    hows = {row["stage"]: row["how"] for row in record["training"]}
    assert "distilled" in hows["student"] and "pruned" in hows["pruned"]
    assert "QAT" in hows["qat"] and "distilled" in hows["qat"]
    assert "distillation_gain_pp" in record["summary"]
    files = {row["file"] for row in record["artifacts"]}
    assert {"pruned_float32.tflite", "qat_int8.tflite", "teacher_int8.tflite",
            "baseline_int8.tflite", "student_int8.tflite"} == files
    qat_run = RunRecord.load(tmp_path / "run" / "qat")
    assert qat_run["config"]["qat_preserve"] == "sparsity"
    assert qat_run["distillation"]["teacher_model"] == "squeezenet_1_1"


@pytest.mark.parametrize("accuracies", [[0.680, 0.698], [0.95, 0.99], [0.1, 0.9], [0.5], [0.0, 1.0]])
def test_accuracy_axis_shows_a_gap_at_its_true_size(accuracies):
    from tflite_lite.pipeline.report import accuracy_limits

    low, high = accuracy_limits(accuracies)
    assert 0 <= low <= min(accuracies) and max(accuracies) <= high <= 1
    assert high - low >= min(0.10, 1.0) - 1e-9  # a 1.8-point gap is a sliver, not the height
