"""Recipes: a JSON file that describes a whole run, checked completely before anything trains.

    {
      "name": "mobilenet_v2_035_fashion",
      "dataset": {"name": "fashion_mnist", "input_size": 32},  # "input_range": [0, 1]
      "teacher": {"model": "mobilenet_v1_050", "epochs": 30},      # or {"load": "t.keras"},
                                             # or {"recipe": "models/x/recipe.json"}
      "student": {"model": "mobilenet_v2_035", "epochs": 15},
      "baseline": true,                          # the student again, without the teacher
      "distillation": {"temperature": 4.0, "alpha": 0.5},
      "pruning": {"final_sparsity": 0.5, "epochs": 2},
      "qat": {"epochs": 1, "learning_rate": 0.0002},
      "export": {"modes": ["float32", "int8"], "evaluate": true},  # "ptq": "none" or "cle"
                          # (a float model's int8: "auto" unless told), "per_tensor": true,
                          # "target": "micro"
      "benchmark": {"threads": [1], "num_runs": 200},
      "presets": {"short": {"student": {"epochs": 2}}}
    }

A preset is a partial recipe merged over the rest (nested objects key by key; null removes a
key). No preset given means the recipe's empty preset (`"full": {}`), if it has one, so the run
folder is named the same either way. Every section is optional except `student`. A teacher given as another recipe is that
recipe's student (its float model), trained first in that recipe's own run folder
(`runs/<name>`) unless it has finished there.

Paths (`teacher.load`, `teacher.recipe`, `dataset.name` = `folder:PATH`): a relative path is
read from the recipe's own folder and may not leave it (no `..` out of it, no symlink out of
it), so a recipe means the same from any working folder and cannot reach files it does not ship
with. An absolute path is taken as written. `teacher.recipe` may also be the name of another
entry of the same zoo (`"mobilenet_v1_050_fashion"` → `../mobilenet_v1_050_fashion/recipe.json`).
A recipe is JSON data: nothing in it is ever executed.
"""

import copy
import dataclasses
import json
import os
import re

from tflite_lite import data as data_lib
from tflite_lite.architectures._blocks import MIN_INPUT_SIZE
from tflite_lite.augmentation import DEFAULT_AUGMENTATIONS
from tflite_lite.compression import PRESERVE, WEIGHT_QUANTIZERS, DistillationConfig, PruningConfig
from tflite_lite.compression import ptq
from tflite_lite.convert import MODES
from tflite_lite.errors import UserError

DATASET_DEFAULTS = {"name": "fashion_mnist", "input_size": 32, "channels": None,
                    "batch_size": 128, "augment": list(DEFAULT_AUGMENTATIONS),
                    "validation_split": 0.1, "max_train_examples": None,
                    "max_eval_examples": None, "nothing_fraction": 0.0,
                    "plain_fraction": 0.0, "seed": 0}
# How 0-255 pixels become the model's input, when not the builders' own (`TrainConfig`): set
# only when given, so that recipes without them keep their stage fingerprints.
INPUT_SCALING_KEYS = ("input_range", "input_mean", "input_std")
# TrainConfig fields a training section may set.
TRAIN_KEYS = ("model", "epochs", "learning_rate", "lr_schedule", "optimizer", "warmup_epochs",
              "weight_decay", "dropout", "small_input", "weights", "freeze_epochs",
              "finetune_learning_rate", "channel_pruning", "architecture")
# TrainConfig fields a fine-tuning section (pruning, qat) may set; and "distill", which keeps
# the teacher while fine-tuning.
FINETUNE_KEYS = ("epochs", "learning_rate", "lr_schedule", "optimizer", "warmup_epochs",
                 "weight_decay")
FINETUNE_DEFAULTS = {"epochs": 1, "warmup_epochs": 0.0, "distill": False}
QAT_WEIGHT_KEYS = ("weight_quantizer", "weight_bits")  # TrainConfig fields of a qat section
QAT_KEYS = (*FINETUNE_KEYS, "distill", *QAT_WEIGHT_KEYS)
PRUNING_KEYS = (*FINETUNE_KEYS, "distill", *(f.name for f in dataclasses.fields(PruningConfig)))
EXPORT_DEFAULTS = {"modes": ["float32", "int8"], "evaluate": True, "max_eval_examples": None,
                   "compare": True, "ptq": None, "per_tensor": False, "target": None}
BENCHMARK_DEFAULTS = {"threads": [1], "num_runs": 200, "warmup_runs": 10}
SECTIONS = ("name", "description", "dataset", "teacher", "student", "baseline", "distillation",
            "pruning", "qat", "export", "benchmark", "presets")
# Modes exported from the final float model; the others come from the final (QAT) model.
FLOAT_MODES = ("float32", "float16", "dynamic")


def _check_keys(section, value, allowed):
    if not isinstance(value, dict):
        raise UserError(f"recipe {section}: expected an object, got {value!r}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise UserError(f"recipe {section}: unknown key(s) {', '.join(map(repr, unknown))}; "
                        f"allowed: {', '.join(allowed)}")


def _merge(base, override):
    """`override` over `base`, nested objects key by key; a null removes the key (so a preset
    can drop a section, or replace a teacher `recipe` by a teacher `model`)."""
    merged = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


@dataclasses.dataclass
class Recipe:
    """A validated recipe (one preset applied). Build it with `load_recipe` or
    `Recipe.from_config`; each section is a plain dict with its defaults filled in."""

    name: str
    student: dict
    dataset: dict
    description: str = ""
    teacher: dict = None
    baseline: bool = False
    distillation: dict = None
    pruning: dict = None
    qat: dict = None
    export: dict = None
    benchmark: dict = None
    preset: str = None
    teacher_recipe: "Recipe" = dataclasses.field(default=None, repr=False)

    @classmethod
    def from_config(cls, config, preset=None, _parents=(), base_dir=None):
        """Validates a recipe dict, applies `preset`, and fills in defaults.

        `base_dir` is the folder relative paths are read from (the recipe file's folder);
        None: the current folder.

        Raises:
          UserError: naming the first unknown key, missing section, bad value or
            incompatible combination.
        """
        _check_keys("", config, SECTIONS)
        presets = config.get("presets") or {}
        _check_keys("presets", presets, list(presets))
        if preset is None:  # the recipe as written is its empty preset, if it has one
            preset = next((name for name, override in presets.items() if override == {}), None)
        if preset is not None:
            if preset not in presets:
                raise UserError(f"recipe has no preset {preset!r}; presets: "
                                f"{', '.join(presets) or 'none'}")
            _check_keys(f"presets.{preset}", presets[preset], [s for s in SECTIONS
                                                                 if s != "presets"])
            config = _merge(config, presets[preset])
        name = config.get("name")
        if not isinstance(name, str) or not name or os.sep in name or name.startswith("."):
            raise UserError(f"recipe name must be a plain folder name, got {name!r}")
        if "student" not in config:
            raise UserError("recipe has no student section")
        config = _resolve_paths(config, base_dir or os.getcwd())
        recipe = cls(
            name=name, description=config.get("description", ""), preset=preset,
            dataset=_merge(DATASET_DEFAULTS, _section(config, "dataset",
                                                             (*DATASET_DEFAULTS,
                                                              *INPUT_SCALING_KEYS))),
            teacher=config.get("teacher"), student=_section(config, "student", TRAIN_KEYS),
            baseline=config.get("baseline", False),
            distillation=config.get("distillation"),
            pruning=_finetune(config, "pruning", PRUNING_KEYS),
            qat=_finetune(config, "qat", QAT_KEYS),
            export=_export_section(config),
            benchmark=(None if config.get("benchmark", {}) is None else _merge(
                BENCHMARK_DEFAULTS, _section(config, "benchmark", BENCHMARK_DEFAULTS))))
        try:
            recipe.validate(_parents)
        except (TypeError, ValueError) as error:  # e.g. a string where a number belongs
            raise UserError(f"recipe {name}: invalid value: {error}") from None
        return recipe

    def validate(self, _parents=()):
        """Cross-section checks; the per-stage configs validate their own fields. `_parents`:
        the recipe files that named this one as teacher (to refuse cycles)."""
        data_lib.dataset_class_names(self.dataset["name"])  # a known dataset, a usable folder
        size = self.dataset["input_size"]
        if not isinstance(size, int) or size < MIN_INPUT_SIZE:
            raise UserError(f"recipe dataset.input_size must be an integer >= {MIN_INPUT_SIZE}, "
                            f"got {size!r}")
        if not isinstance(self.baseline, bool):
            raise UserError(f"recipe baseline must be true or false, got {self.baseline!r}")
        if self.teacher is not None:
            if "load" in self.teacher:
                _check_keys("teacher", self.teacher, ("load",))
            elif "recipe" in self.teacher:
                _check_keys("teacher", self.teacher, ("recipe", "preset"))
            else:
                _check_keys("teacher", self.teacher, TRAIN_KEYS)
                if "model" not in self.teacher:
                    raise UserError("recipe teacher: give `model` (train one), `load` (a "
                                    ".keras file or a run folder) or `recipe`")
        if "model" not in self.student:
            raise UserError("recipe student: `model` is missing")
        if self.distillation is not None:
            _check_keys("distillation", self.distillation,
                        [f.name for f in dataclasses.fields(DistillationConfig)
                         if f.name != "teacher"])
            if self.teacher is None:
                raise UserError("recipe distillation needs a teacher section")
            DistillationConfig("teacher.keras", **self.distillation)
        elif self.teacher is not None:
            raise UserError("recipe has a teacher but no distillation section")
        if self.baseline and self.distillation is None:
            raise UserError("recipe baseline compares with distillation; add a distillation "
                            "section or drop baseline")
        for section in ("pruning", "qat"):
            settings = getattr(self, section)
            if settings and settings["distill"] and self.distillation is None:
                raise UserError(f"recipe {section}.distill needs a distillation section")
        if self.pruning is not None:
            PruningConfig.from_config(self.pruning_config)
        if self.qat is not None:
            if self.qat.get("weight_quantizer", "int8") not in WEIGHT_QUANTIZERS:
                raise UserError(f"recipe qat.weight_quantizer must be one of "
                                f"{', '.join(WEIGHT_QUANTIZERS)}")
        modes = self.export["modes"]
        if not isinstance(modes, list) or not modes or any(m not in MODES for m in modes):
            raise UserError(f"recipe export.modes must be a non-empty list of {', '.join(MODES)},"
                            f" got {modes!r}")
        if self.export["ptq"] != "auto":  # "auto" measures the candidates at export
            ptq.parse_steps(self.export["ptq"])
        if not isinstance(self.export["per_tensor"], bool):
            raise UserError(f"recipe export.per_tensor must be true or false, got "
                            f"{self.export['per_tensor']!r}")
        if self.export["target"] not in (None, "micro"):
            raise UserError(f"recipe export.target must be \"micro\" or null, got "
                            f"{self.export['target']!r}")
        self._validate_training()
        self._check_teacher_file()
        self._load_teacher_recipe(_parents)

    @property
    def pruning_config(self):
        return {key: value for key, value in self.pruning.items()
                if key not in (*FINETUNE_KEYS, "distill")}

    @property
    def qat_preserve(self):
        return PRESERVE[1] if self.pruning is not None else None

    @property
    def input_shape(self):
        channels = self.dataset.get("channels") or (1 if self.dataset["name"] in (
            "fashion_mnist", "mnist") else 3)
        return (self.dataset["input_size"],) * 2 + (channels,)

    def _validate_training(self):
        from tflite_lite.training import TrainConfig  # the recipe sits above training

        if self.teacher is not None and "model" in self.teacher:
            TrainConfig(**self.dataset_settings, **self.stage_settings("teacher"), output_dir="")
        for stage in ("student", "pruned", "qat"):
            if stage == "student" or self.section_of(stage) is not None:
                TrainConfig(**self.dataset_settings, **self.stage_settings(stage), output_dir="")

    def section_of(self, stage):
        """The recipe section a training stage reads ("pruned" reads "pruning")."""
        return {"teacher": self.teacher, "baseline": self.student, "student": self.student,
                "pruned": self.pruning, "qat": self.qat}[stage]

    def stage_settings(self, stage):
        """The `TrainConfig` fields a training stage's section sets (the dataset's, the run's
        folders, its starting model and its teacher aside): the one mapping from a recipe to
        training, which validation and the runner share."""
        section = self.section_of(stage)
        if stage in ("teacher", "baseline", "student"):
            return dict(section)
        settings = {key: section[key] for key in FINETUNE_KEYS if key in section}
        if stage == "pruned":
            return dict(settings, model=self.student["model"], pruning=self.pruning_config)
        return dict(settings, model=self.student["model"], qat=True,
                    qat_preserve=self.qat_preserve,
                    **{key: section[key] for key in QAT_WEIGHT_KEYS if key in section})

    @property
    def dataset_settings(self):
        """The dataset section as `TrainConfig` fields."""
        settings = dict(self.dataset)
        return dict(settings, dataset=settings.pop("name"))

    def teacher_path(self, run_dir):
        """The teacher `.keras` file: loaded, or the one the teacher stage writes."""
        if self.teacher is None:
            return None
        if "recipe" in self.teacher:
            return os.path.join(default_run_dir(self.teacher_recipe), "student", "model.keras")
        if "load" in self.teacher:
            path = self.teacher["load"]
            return os.path.join(path, "model.keras") if os.path.isdir(path) else path
        return os.path.join(run_dir, "teacher", "model.keras")

    def _check_teacher_file(self):
        """A loaded teacher must exist and fit the student's input and classes."""
        if self.teacher is None or "load" not in self.teacher:
            return
        path = self.teacher_path("")
        if not isinstance(self.teacher["load"], str) or not os.path.isfile(path):
            raise UserError(f"recipe teacher.load: {self.teacher['load']}: no such model file "
                            "or run folder")
        from tflite_lite.compression import check_compatible
        from tflite_lite.compression import load_model

        num_classes = len(data_lib.dataset_class_names(self.dataset["name"]))
        check_compatible(load_model(path), self.input_shape, num_classes)

    def _load_teacher_recipe(self, parents):
        if self.teacher is None or "recipe" not in self.teacher:
            return
        path = self.teacher["recipe"]
        if not isinstance(path, str) or not os.path.isfile(path):
            raise UserError(f"recipe teacher.recipe: {path}: no such file")
        teacher = load_recipe(path, self.teacher.get("preset"), _parents=parents)
        if teacher.input_shape != self.input_shape:
            raise UserError(f"recipe teacher.recipe {path} trains on {teacher.input_shape} inputs, "
                            f"this recipe on {self.input_shape}")
        classes = [len(data_lib.dataset_class_names(r.dataset["name"])) for r in (teacher, self)]
        if classes[0] != classes[1]:
            raise UserError(f"recipe teacher.recipe {path} has {classes[0]} classes, this "
                            f"recipe's dataset {classes[1]}")
        self.teacher_recipe = teacher

    def get_config(self):
        config = dataclasses.asdict(self)
        config.pop("teacher_recipe")
        return config


_ZOO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _inside(base_dir, path, field):
    """`path` as an absolute path: relative ones from `base_dir`, which they may not leave."""
    if not isinstance(path, str) or not path:
        raise UserError(f"recipe {field} must be a path, got {path!r}")
    if os.path.isabs(path):
        return path
    base = os.path.realpath(base_dir)
    resolved = os.path.realpath(os.path.join(base, path))
    if os.path.commonpath([base, resolved]) != base:
        raise UserError(f"recipe {field}: {path} leaves the recipe's folder {base_dir}; "
                        "keep it inside that folder or write an absolute path")
    return resolved


def _resolve_paths(config, base_dir):
    """A copy of `config` whose paths are absolute (see the module docstring for the rule)."""
    config = copy.deepcopy(config)
    dataset = config.get("dataset")
    if isinstance(dataset, dict) and str(dataset.get("name", "")).startswith("folder:"):
        folder = _inside(base_dir, dataset["name"][len("folder:"):], "dataset.name")
        dataset["name"] = "folder:" + folder
    for key in ("teacher", "baseline", "student"):
        section = config.get(key)
        weights = section.get("weights") if isinstance(section, dict) else None
        if isinstance(weights, str) and weights != "imagenet":
            section["weights"] = _inside(base_dir, weights, f"{key}.weights")
    teacher = config.get("teacher")
    if isinstance(teacher, dict) and "load" in teacher:
        teacher["load"] = _inside(base_dir, teacher["load"], "teacher.load")
    if isinstance(teacher, dict) and teacher.get("recipe") is not None:
        path = teacher["recipe"]
        if isinstance(path, str) and _ZOO_NAME.match(path) and not path.endswith(".json"):
            teacher["recipe"] = os.path.join(os.path.dirname(os.path.abspath(base_dir)), path,
                                             "recipe.json")
        else:
            teacher["recipe"] = _inside(base_dir, path, "teacher.recipe")
    return config


def _section(config, key, allowed):
    value = config.get(key) or {}
    _check_keys(key, value, allowed)
    return value


def _finetune(config, key, allowed):
    if config.get(key) is None:
        return None
    return _merge(FINETUNE_DEFAULTS, _section(config, key, allowed))


def default_run_dir(recipe):
    """`runs/<name>`, with `_<preset>` for a preset."""
    return os.path.join("runs", recipe.name + (f"_{recipe.preset}" if recipe.preset else ""))


def _export_section(config):
    """The export settings; evaluation uses the training runs' test images (the dataset's
    `max_eval_examples`) unless the export section says otherwise, so that a report compares
    figures measured on the same images."""
    export = _merge(EXPORT_DEFAULTS, _section(config, "export", EXPORT_DEFAULTS))
    if "max_eval_examples" not in (config.get("export") or {}):
        export["max_eval_examples"] = (config.get("dataset") or {}).get("max_eval_examples")
    return export


def load_recipe(path, preset=None, _parents=()):
    """Reads and validates a recipe file (and a teacher recipe it names).

    Raises:
      UserError: a missing or unreadable file, invalid JSON, or an invalid recipe.
    """
    if not os.path.isfile(path):
        raise UserError(f"recipe {path}: no such file")
    if os.path.abspath(path) in _parents:
        raise UserError(f"recipe {path} is its own teacher (through {', '.join(_parents)})")
    try:
        with open(path) as f:
            config = json.load(f)
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"recipe {path}: cannot read it ({error})") from None
    except json.JSONDecodeError as error:
        raise UserError(f"recipe {path}: invalid JSON at line {error.lineno}: {error.msg}") from None
    if not isinstance(config, dict):
        raise UserError(f"recipe {path}: a recipe is a JSON object, got {type(config).__name__}")
    return Recipe.from_config(config, preset, _parents + (os.path.abspath(path),),
                              base_dir=os.path.dirname(os.path.abspath(path)))
