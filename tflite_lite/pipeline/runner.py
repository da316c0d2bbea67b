"""Runs a recipe's stages into one run folder; a stage that already finished is skipped.

Stages, in order (those the recipe asks for): `teacher`, `baseline`, `student`, `pruned`,
`qat` (each a training run folder), `export` (`.tflite` files and contracts), `benchmark`
(`benchmark.json`), then the report (`pipeline.json`, `report.md`, plots), which is always rewritten.

A finished stage leaves `stage.json` with its fingerprint: a hash of its settings and of the
fingerprints of the stages it reads. On a rerun a stage whose fingerprint matches is skipped;
change a setting and that stage and the ones after it run again. A training folder without
stage.json that holds a finished run with the same settings (its `RunRecord`) is adopted, when the
stage reads no other stage.
"""

import dataclasses
import hashlib
import json
import os
import time

from tflite_lite import _io, _progress
from tflite_lite.android import write_bundle
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.benchmark.results import FILE as BENCHMARK_FILE
from tflite_lite.benchmark.results import save_results
from tflite_lite.convert import ExportConfig, export_model
from tflite_lite.compression import DistillationConfig
from tflite_lite.pipeline import report
from tflite_lite.pipeline.release import final_int8
from tflite_lite.report import format_table
from tflite_lite.run_record import RunRecord
from tflite_lite.pipeline.recipe import FLOAT_MODES, default_run_dir
from tflite_lite.training import TrainConfig, train

STAGE_FILE = "stage.json"
TRAIN_STAGES = ("teacher", "baseline", "student", "pruned", "qat")
# Settings that do not change what a training run computes.
_UNFINGERPRINTED = ("output_dir", "verbose", "keep_checkpoints")


@dataclasses.dataclass
class Stage:
    """One step of a run: `kind` is "train", "export" or "benchmark"; `settings` is plain
    JSON (the stage's config); `inputs` are the stages it reads."""

    name: str
    kind: str
    folder: str
    settings: dict
    inputs: tuple = ()
    fingerprint: str = ""


def _fingerprint(settings, upstream):
    text = json.dumps({"settings": settings, "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _train_settings(recipe, name, run_dir):
    """TrainConfig keyword arguments of a training stage."""
    settings = dict(recipe.dataset_settings, **recipe.stage_settings(name),
                    output_dir=os.path.join(run_dir, name))
    distill = dict(recipe.distillation or {}, teacher=recipe.teacher_path(run_dir))
    if name in ("teacher", "baseline"):
        return settings
    if name == "student":
        return dict(settings, distillation=distill if recipe.distillation else None)
    source = "pruned" if name == "qat" and recipe.pruning is not None else "student"
    return dict(settings, init_from=os.path.join(run_dir, source, "model.keras"),
                distillation=distill if recipe.section_of(name)["distill"] else None)


def _train_inputs(recipe, name):
    inputs = {"teacher": (), "baseline": ()}.get(name)
    if inputs is not None:
        return inputs
    distills = name == "student" and recipe.distillation or (
        name in ("pruned", "qat") and getattr(recipe, "qat" if name == "qat" else "pruning")[
            "distill"])
    source = () if name == "student" else (
        ("pruned",) if name == "qat" and recipe.pruning is not None else ("student",))
    return source + (("teacher",) if distills else ())


def _int8_options(export, source, mode):
    """The recipe's PTQ steps (for float models: a QAT model's rounding is trained), per-tensor
    weights and target, for an int8 export; only those set, so that recipes without them keep
    their stage fingerprints."""
    options = {}
    if mode == "int8" and export["ptq"] and source != "qat":
        options["ptq"] = export["ptq"]
    if mode == "int8" and export["per_tensor"]:
        options["per_tensor"] = True
    if mode == "int8" and export["target"] and source in ("qat", "pruned", "student"):
        options["target"] = export["target"]  # the final model: a C source pair beside it
    return options


def plan(recipe, run_dir):
    """The recipe's stages, in order, with their fingerprints."""
    stages = []
    wanted = {"teacher": recipe.teacher is not None and "model" in recipe.teacher,
              "baseline": recipe.baseline, "student": True,
              "pruned": recipe.pruning is not None, "qat": recipe.qat is not None}
    for name in TRAIN_STAGES:
        if wanted[name]:
            stages.append(Stage(name, "train", os.path.join(run_dir, name),
                                _train_settings(recipe, name, run_dir),
                                _train_inputs(recipe, name)))
    trained = [s.name for s in stages]
    final_float = "pruned" if "pruned" in trained else "student"
    final = "qat" if "qat" in trained else final_float
    export_dir = os.path.join(run_dir, "export")
    jobs = []
    for mode in recipe.export["modes"]:
        source = final_float if mode in FLOAT_MODES else final
        jobs.append((source, mode))
    if recipe.export["compare"]:
        for source in ("teacher", "baseline", "student"):
            if source in trained and (source, "int8") not in jobs:
                jobs.append((source, "int8"))
    exports = [dict(stage=source, mode=mode, model_path=os.path.join(run_dir, source,
                                                                     "model.keras"),
                    output=os.path.join(export_dir, f"{source}_{mode}.tflite"),
                    dataset=recipe.dataset["name"], evaluate=recipe.export["evaluate"],
                    max_eval_examples=recipe.export["max_eval_examples"],
                    **_int8_options(recipe.export, source, mode))
               for source, mode in jobs]
    stages.append(Stage("export", "export", export_dir, {"exports": exports},
                        tuple(dict.fromkeys(job[0] for job in jobs))))
    if recipe.benchmark is not None:
        stages.append(Stage("benchmark", "benchmark", os.path.join(run_dir, "benchmark"),
                            dict(recipe.benchmark, models=[e["output"] for e in exports]),
                            ("export",)))
    fingerprints = {}
    if recipe.teacher_recipe is not None:
        teacher_stages = plan(recipe.teacher_recipe, _teacher_run_dir(recipe))
        fingerprints["teacher"] = next(s.fingerprint for s in teacher_stages
                                       if s.name == "student")
    elif recipe.teacher is not None and "load" in recipe.teacher:
        fingerprints["teacher"] = _file_digest(recipe.teacher_path(run_dir))
    for stage in stages:
        settings = {k: v for k, v in stage.settings.items() if k not in _UNFINGERPRINTED}
        stage.fingerprint = _fingerprint(settings, [fingerprints[i] for i in stage.inputs])
        fingerprints[stage.name] = stage.fingerprint
    return stages


def _teacher_run_dir(recipe):
    return default_run_dir(recipe.teacher_recipe)


def _file_digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def _train_config(stage):
    settings = dict(stage.settings, verbose=None)
    if settings.get("distillation"):
        settings["distillation"] = DistillationConfig(**settings["distillation"])
    return TrainConfig(**settings)


def _comparable(config):
    """A training config without the fields that do not change the result; a field that an
    older run record lacks counts as its default."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)
                if f.default is not dataclasses.MISSING}
    return {k: v for k, v in {**defaults, **config}.items() if k not in _UNFINGERPRINTED}


def _finished(stage):
    """Whether `stage` already ran with these settings: its stage.json, or for a training
    stage that reads no other stage and has none, a finished run record with the same config."""
    marker = _read_json(os.path.join(stage.folder, STAGE_FILE))
    if marker:
        return marker.get("fingerprint") == stage.fingerprint
    if stage.kind == "train" and not stage.inputs:  # an upstream change would not show
        record = RunRecord.load(stage.folder)
        model_file = os.path.join(stage.folder, "model.keras")
        if record and os.path.isfile(model_file):
            wanted = _train_config(stage).get_config()
            return _comparable(record.config) == _comparable(wanted)
    return False


def describe_plan(recipe, run_dir):
    """The `--check` listing: a table of the stages, their folders, whether each has already
    finished with these settings, and their fingerprints (a hash of the settings and inputs)."""
    rows = []
    if recipe.teacher_recipe is not None:
        teacher_dir = _teacher_run_dir(recipe)
        teacher = next(s for s in plan(recipe.teacher_recipe, teacher_dir) if s.name == "student")
        rows.append({"stage": "teacher", "kind": f"recipe {recipe.teacher_recipe.name}",
                     "folder": teacher.folder, "state": _state(teacher),
                     "fingerprint": teacher.fingerprint})
    for stage in plan(recipe, run_dir):
        rows.append({"stage": stage.name, "kind": stage.kind, "folder": stage.folder,
                     "state": _state(stage), "fingerprint": stage.fingerprint})
    return format_table(rows, (("stage", "stage", "s"), ("kind", "kind", "s"),
                               ("state", "state", "s"), ("fingerprint", "fingerprint", "s"),
                               ("folder", "folder", "s")))


def _state(stage):
    if _finished(stage):
        return "finished"
    return "to rerun" if os.path.isfile(os.path.join(stage.folder, STAGE_FILE)) else "to run"


def _read_json(path):
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def _run_stage(stage, log):
    if stage.kind == "train":
        record = train(_train_config(stage))
        return {"test_accuracy": record.test_accuracy}
    if stage.kind == "export":
        figures = {}
        for job in stage.settings["exports"]:
            log(f"pipeline: export {job['stage']} → {job['mode']}")
            config = ExportConfig(**{k: v for k, v in job.items() if k not in ("stage",)})
            contract = export_model(config, verbose=1)
            figures[os.path.basename(config.output)] = contract.get("evaluation")
        return figures
    config = BenchmarkConfig(models=tuple(stage.settings["models"]),
                             threads=tuple(stage.settings["threads"]),
                             num_runs=stage.settings["num_runs"],
                             warmup_runs=stage.settings["warmup_runs"])
    rows = benchmark_host(config)
    save_results(os.path.join(stage.folder, BENCHMARK_FILE), rows, config)
    return {"p50_ms": {os.path.basename(r["model"]): r["p50_ms"] for r in rows}}


def run_pipeline(recipe, run_dir, log=print):
    """Runs every stage of `recipe` that has not finished into `run_dir`, then writes the
    report.

    Args:
      recipe: a validated `Recipe`.
      run_dir: the run folder.
      log: a function that prints progress lines. Defaults to `print`.

    Returns:
      The run record, also written to `run_dir/pipeline.json`; its `android_bundle` is the
      app-ready copy of the final int8 model (`run_dir/android/<run folder name>/`, e.g.
      `mobilenet_v1_050_fashion_camera_short`), which the Android demo lists beside its own
      models once copied into its `assets/models/`.
    """
    if recipe.teacher_recipe is not None:
        log(f"pipeline: teacher: the recipe {recipe.teacher_recipe.name} first")
        run_pipeline(recipe.teacher_recipe, _teacher_run_dir(recipe), log)
    stages = plan(recipe, run_dir)
    history = {}
    for stage in stages:
        if _finished(stage):
            log(f"pipeline: {stage.name}: finished before, skipped")
            history[stage.name] = {"status": "skipped", "fingerprint": stage.fingerprint}
            if not os.path.isfile(os.path.join(stage.folder, STAGE_FILE)):
                _mark_done(stage, None, {})
            continue
        log(f"pipeline: {stage.name}: running")
        started = time.perf_counter()
        os.makedirs(stage.folder, exist_ok=True)
        figures = _run_stage(stage, log)
        seconds = time.perf_counter() - started
        _mark_done(stage, seconds, figures)
        history[stage.name] = {"status": "ran", "seconds": seconds,
                               "fingerprint": stage.fingerprint}
        log(f"pipeline: {stage.name}: done in {_progress.format_seconds(seconds)}")
    record = report.write_report(recipe, run_dir, stages, history)
    if any(row["mode"] == "int8" for row in record["artifacts"]):
        final = final_int8(record)
        record["android_bundle"] = write_bundle(
            os.path.join(run_dir, "export", final["file"]),
            os.path.join(run_dir, "android", os.path.basename(os.path.abspath(run_dir))))
    return record


def _mark_done(stage, seconds, figures):
    _io.write_json(os.path.join(stage.folder, STAGE_FILE),
                   {"stage": stage.name, "fingerprint": stage.fingerprint, "seconds": seconds,
                    "settings": stage.settings, "figures": figures,
                    "finished": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
