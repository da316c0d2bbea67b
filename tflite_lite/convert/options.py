"""How a model is converted: `ExportOptions`, the one list of the conversion settings, and the
names they take; `ExportConfig`, a run's model, output and dataset plus those options.
`export(model, **options)`, `export_model(ExportConfig(...))`, `scripts/export.py`'s flags
and the pipeline all read this list. It imports without TensorFlow, so the command line
parses before TensorFlow loads.
"""

import dataclasses
import os

from tflite_lite._config import Config
from tflite_lite._input_scaling import stated_mean_std
from tflite_lite.contract import LABELS_FILE, Contract
from tflite_lite.compression.config import parse_ptq_steps
from tflite_lite.errors import UserError

MODES = ("float32", "dynamic", "float16", "int8", "int16x8", "w4a8", "dynamic_int4")
CALIBRATED_MODES = ("int8", "int16x8", "w4a8")  # the modes that need calibration images
QUANTIZERS = ("converter", "litert")
LITERT_MODES = ("int8", "int16x8", "w4a8", "dynamic_int4")  # LiteRT Quantizer's
LITERT_ONLY_MODES = ("w4a8", "dynamic_int4")
SCORES = ("float_logits", "logits", "probabilities")
TARGETS = (None, "micro")


def validate_mode(mode):
    if mode not in MODES:
        raise UserError(f"unknown export mode {mode!r}; choose one of {', '.join(MODES)}")


def validate_scores(scores):
    """Raises a one-line `UserError` unless `scores` is None or one of `SCORES`."""
    if scores is not None and scores not in SCORES:
        raise UserError(f"unknown scores {scores!r}; choose one of {', '.join(SCORES)}")


@dataclasses.dataclass(kw_only=True)
class ExportOptions(Config):
    """How a model is converted and checked.

    Attributes:
      mode: "float32", "dynamic", "float16", "int8" (int8 input and compute; `scores` sets the
        output) or "int16x8". Defaults to "int8".
      representative_examples: calibration images used for int8 / int16x8. Defaults to 256.
      allow_float_ops: accept an integer export with ops left in float. Defaults to False.
      keep_float_layers: int8 only: keep the N layers with the worst quantization error in
        float (TFLite's QuantizationDebugger); implies `allow_float_ops`. Defaults to 0.
      accuracy_budget_pp: int8 only: choose per-layer precision (int8, int8 with some layers in
        float, or int16x8) within this many percentage points of the float model's validation
        accuracy (see `mixed_precision`). Defaults to None (plain int8).
      max_float_layers: with `accuracy_budget_pp`, the most layers kept in float. Defaults to 8.
      sparse: store pruned weights in TFLite's sparse format where the converter finds it pays.
        Defaults to False.
      scores: "float_logits" (int8 compute, the classifier in float, float32 logits out; int8
        outputs tie close classes), "logits" (int8 logits) or "probabilities" (the softmax in
        the graph); apps apply the softmax to logits. Defaults to None: float logits in int8
        where the softmax splits off and the head can run in float, else int8 logits; the
        softmax in float modes.
      ptq: int8 only: post-training steps run on the float model before calibration, by name,
        comma-separated ("cle", "adaround", "bias_correction"; see `compression.ptq`), or
        "auto": each candidate measured on validation images, the first within budget kept
        (`auto_ptq`), or "none". Defaults to None: no step for `export()` in memory;
        `export_model` (scripts/export.py, the pipeline) takes "auto" for a float model's
        plain int8 export from a dataset (`export_files.default_ptq`).
      per_tensor: int8 only: one weight scale per tensor (for NPUs and DSPs that need it)
        instead of one per output channel. Defaults to False.
      adaround_seconds_per_layer: AdaRound's time budget per layer. Defaults to 10.0.
      quantizer: "converter" (TFLite's converter) or "litert" (LiteRT Quantizer, the extra
        `quantizer`; modes int8, int16x8, w4a8 and dynamic_int4; see `litert_quantizer`).
        Defaults to "converter".
      target: "micro" for TensorFlow Lite Micro: int8 with int8 logits, refused if TFLM lacks
        an op, the contract's `micro` records arena and flash, and saving writes the C source
        pair. Defaults to None (LiteRT).
      max_eval_examples: evaluate on the first N test images only (and `ptq="auto"` scores on
        at most N validation images). Defaults to None (all; auto: 2,000).
    """

    _kind = "export"

    mode: str = "int8"
    representative_examples: int = 256
    allow_float_ops: bool = False
    keep_float_layers: int = 0
    accuracy_budget_pp: float = None
    max_float_layers: int = 8
    sparse: bool = False
    scores: str = None
    ptq: str = None
    per_tensor: bool = False
    adaround_seconds_per_layer: float = 10.0
    quantizer: str = "converter"
    target: str = None
    max_eval_examples: int = None

    def validate(self):
        validate_mode(self.mode)
        if not isinstance(self.representative_examples, int) or self.representative_examples < 1:
            raise UserError("representative_examples must be at least 1, got "
                            f"{self.representative_examples}")
        self._check_precision()
        self._check_quantizer()
        validate_scores(self.scores)
        self._check_target()
        if not self.adaround_seconds_per_layer > 0:
            raise UserError("adaround_seconds_per_layer must be positive, got "
                            f"{self.adaround_seconds_per_layer!r}")
        if self.max_eval_examples is not None and self.max_eval_examples < 1:
            raise UserError(f"max_eval_examples must be >= 1, got {self.max_eval_examples}")

    def _check_precision(self):
        """A precision choice that does not fit the mode or another choice."""
        mode, keep, budget = self.mode, self.keep_float_layers, self.accuracy_budget_pp
        if (self.ptq == "auto" or self.ptq_steps) and mode != "int8":
            raise UserError(f"PTQ steps apply to int8 exports, not {mode}")
        if self.ptq == "auto" and (keep or budget is not None):
            raise UserError("ptq='auto' chooses the steps of a plain int8 export: not with "
                            "keep_float_layers or accuracy_budget_pp")
        if self.per_tensor and (mode != "int8" or keep or budget is not None):
            raise UserError("per_tensor applies to plain int8 exports (no keep_float_layers or "
                            "accuracy_budget_pp)")
        if keep < 0:
            raise UserError(f"keep_float_layers must be >= 0, got {keep}")
        if keep and mode != "int8":
            raise UserError("keep_float_layers applies to int8 exports only")
        if budget is not None:
            if mode != "int8" or keep:
                raise UserError("accuracy_budget_pp applies to int8 exports without "
                                "keep_float_layers")
            if not budget >= 0:
                raise UserError(f"accuracy_budget_pp must be >= 0, got {budget}")
        if self.max_float_layers < 0:
            raise UserError(f"max_float_layers must be >= 0, got {self.max_float_layers}")
        if self.sparse and (keep or budget is not None):
            raise UserError("sparse applies to plain exports (no keep_float_layers or "
                            "accuracy_budget_pp)")

    def _check_quantizer(self):
        """LiteRT Quantizer's modes, and no converter-only option with it."""
        if self.quantizer not in QUANTIZERS:
            raise UserError(f"unknown quantizer {self.quantizer!r}; choose one of "
                            f"{', '.join(QUANTIZERS)}")
        if self.quantizer == "converter":
            if self.mode in LITERT_ONLY_MODES:
                raise UserError(f"mode {self.mode} needs quantizer='litert' (LiteRT Quantizer)")
            return
        if self.mode not in LITERT_MODES:
            raise UserError(f"quantizer='litert' takes mode {', '.join(LITERT_MODES)}, not "
                            f"{self.mode!r}")
        converter_only = [name for name, given in (
            ("keep_float_layers", self.keep_float_layers),
            ("accuracy_budget_pp", self.accuracy_budget_pp is not None),
            ("sparse", self.sparse), ("per_tensor", self.per_tensor),
            ("ptq='auto'", self.ptq == "auto"), ("target", self.target)) if given]
        if converter_only:
            raise UserError(f"quantizer='litert' does not take {', '.join(converter_only)}")

    def _check_target(self):
        if self.target not in TARGETS:
            raise UserError(f"unknown export target {self.target!r}; known: micro (or none)")
        if self.target != "micro":
            return
        if self.mode != "int8":
            raise UserError(f"the micro export is int8 only, got mode {self.mode!r}")
        if (self.scores == "float_logits" or self.keep_float_layers
                or self.accuracy_budget_pp is not None):
            raise UserError("the micro export is all int8: no float_logits scores, "
                            "keep_float_layers or accuracy_budget_pp")

    @property
    def target_scores(self):
        """The scores the export gives: the micro target exports int8 logits unless told
        otherwise."""
        return self.scores or "logits" if self.target == "micro" else self.scores

    @property
    def ptq_steps(self):
        """The PTQ steps, parsed, in the order they run (none for "auto": it chooses)."""
        return () if self.ptq == "auto" else parse_ptq_steps(self.ptq)


@dataclasses.dataclass
class ExportConfig(ExportOptions):
    """What to export, from where to where: a run's model, the output path and the dataset,
    plus the conversion settings it inherits from `ExportOptions` (`mode`, `scores`, `ptq`,
    ...; see there), which are keyword-only: `ExportConfig("m.keras", "m.tflite", mode="int8")`.

    Attributes:
      model_path: a `.keras` file or a SavedModel folder; the training run's record beside
        it, if any, gives preprocessing, class names and dataset.
      output: the `.tflite` path.
      dataset: dataset for calibration and evaluation. Defaults to None (the run's dataset).
      evaluate: measure Keras vs TFLite accuracy and agreement on the test set. Defaults to False.
      seed: shuffling seed for the representative set. Defaults to 0.
      input_range: the model's input for 0-255 pixels, as (low, high): (0, 1) for pixels / 255,
        (-1, 1) for (pixels - 127.5) / 127.5. Defaults to None: the run's record, else a
        Rescaling or Normalization layer at the model's input (it takes pixels as they are).
      input_mean: per-channel values subtracted from 0-255 pixels (with `input_std`, instead
        of `input_range`). Defaults to None.
      input_std: per-channel divisors applied after `input_mean`. Defaults to None.
    """

    model_path: str
    output: str
    dataset: str = None
    evaluate: bool = False
    seed: int = 0
    input_range: tuple = None
    input_mean: tuple = None
    input_std: tuple = None

    def validate(self):
        super().validate()
        if not self.output.endswith(".tflite"):
            raise UserError(f"output must end with .tflite, got {self.output!r}")
        self.stated_mean_std()

    def stated_mean_std(self):
        """(mean, std) of 0-255 pixels the settings state, or None (`_input_scaling`)."""
        return stated_mean_std(self.input_range, self.input_mean, self.input_std)

    @property
    def options(self):
        """The conversion settings alone, as `export` takes them."""
        fields = {f.name for f in dataclasses.fields(ExportOptions)}
        return ExportOptions(**{k: v for k, v in self.get_config().items() if k in fields})

    @property
    def contract_path(self):
        return Contract.path_beside(self.output)

    @property
    def labels_path(self):
        return os.path.join(os.path.dirname(self.output), LABELS_FILE)

