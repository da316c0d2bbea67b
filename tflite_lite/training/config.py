"""`TrainConfig`: everything that defines a training run, validated, as JSON data and back;
`finetune_config` builds one that fine-tunes a finished run."""

import dataclasses
import math
import os

from tflite_lite import _io
from tflite_lite._config import Config
from tflite_lite._input_scaling import stated_mean_std
from tflite_lite.augmentation import DEFAULT_AUGMENTATIONS, check_fraction
from tflite_lite.compression import (ChannelPruningConfig, ClusteringConfig, DistillationConfig,
                                     LowRankConfig, PruningConfig, QATConfig)
from tflite_lite.errors import UserError
from tflite_lite.run_record import RunRecord

OPTIMIZERS = ("adamw", "adam", "sgd")
STRATEGIES = ("mirrored", "multi_worker")  # `distributed.make_strategy`
LR_SCHEDULES = ("cosine", "step", "constant")
_NATURAL_CHANNELS = {"fashion_mnist": 1, "mnist": 1, "cifar10": 3}


COMPRESSION_CONFIGS = {"pruning": PruningConfig, "clustering": ClusteringConfig,
                        "channel_pruning": ChannelPruningConfig, "low_rank": LowRankConfig}
NESTED_CONFIGS = {**COMPRESSION_CONFIGS, "distillation": DistillationConfig}


@dataclasses.dataclass
class TrainConfig(Config):
    """Everything that defines a training run.

    Attributes:
      model: registered model name. Defaults to "mobilenet_v2_035".
      architecture: the `searchable_ir` model's stages (a dict, `architectures.searchable`; a
        search candidate's). Defaults to None (that model's default architecture).
      dataset: dataset name for `load_dataset`. Defaults to "fashion_mnist".
      output_dir: folder for the run's files. Defaults to "runs/train".
      input_size: square input side in pixels, at least 28. Defaults to 32.
      channels: input channels, 1 or 3; None takes the dataset's own. Defaults to None.
      epochs: training epochs. Defaults to 10.
      batch_size: examples per step. Defaults to 128.
      optimizer: "adamw", "adam" or "sgd" (momentum 0.9, Nesterov). Defaults to "adamw".
      learning_rate: peak learning rate. Defaults to 0.002.
      lr_schedule: "cosine" (to zero, after warm-up), "step" (x0.1 at 50% and 75%) or
        "constant". Defaults to "cosine".
      warmup_epochs: linear warm-up length for the cosine schedule. Defaults to 1.
      weight_decay: decoupled weight decay, not applied to batch norm and biases.
        Defaults to 5e-5.
      augment: training augmentations by name, or "none": flip, translate, and the camera's
        polarity, background, contrast, blur, noise, rotate, scale. Defaults to flip and
        translate.
      nothing_fraction: with a value in (0, 1), the model gets a "nothing" class after the
        dataset's, trained on this fraction of garment-free frames (`load_dataset`), so that
        an app can show "nothing recognized". Defaults to 0.0 (no such class).
      plain_fraction: this fraction of the training images keep the dataset's own look (flip
        and translate only) under camera augmentations (`load_dataset`). Defaults to 0.0.
      dropout: dropout before the classifier; None keeps the builder's default.
      small_input: small-input variant; None lets the builder choose by input size.
      validation_split: fraction of training data held out. Defaults to 0.1.
      max_train_examples: cap on training examples for quick runs. Defaults to None.
      max_eval_examples: cap on validation and test examples each (the first ones), for quick
        runs; the run record's `num_examples` says how many each figure used. Defaults to None.
      keep_checkpoints: how many per-epoch checkpoints to keep. Defaults to 2.
      seed: seeds data order, augmentation and weights. Defaults to 0.
      verbose: Keras progress output: 1 (bar), 2 (a line per epoch), 0, or None for a bar
        on a terminal and lines otherwise. Defaults to None.
      init_from: a float `.keras` to start from (fine-tuning) instead of fresh weights; `model`
        may then be None and is read from the run record beside it. Defaults to None.
      weights: start from pretrained `keras.applications` weights: "imagenet" (Keras'
        published file) or a weights or model file (`architectures.weights`). Defaults to None.
      freeze_epochs: with `weights` or `init_from`, train only the classifier for this many
        epochs (batch norm in inference mode), then fine-tune every layer
        (`training.transfer`). Defaults to 0.
      finetune_learning_rate: the peak rate of the fine-tuning after `freeze_epochs`; None
        takes a tenth of `learning_rate`. Defaults to None.
      qat: quantization-aware training (tfmot fake quantization). Defaults to False.
      weight_quantizer: with `qat`: "int8", "uniform", "ternary" or "binary". Defaults to "int8".
      weight_bits: with `qat` and the uniform quantizer: bits per weight, 2-8. Defaults to 8.
      qat_preserve: with `qat`: "sparsity" or "clusters", to keep a pruned or clustered
        `init_from` model's structure through QAT. Defaults to None.
      pruning: a `PruningConfig` (or its dict): magnitude / m:n pruning during
        training; the saved model is stripped. Defaults to None.
      clustering: a `ClusteringConfig` (or its dict): weight clustering during
        training (needs `init_from`); the saved model is stripped. Defaults to None.
      channel_pruning: a `ChannelPruningConfig` (or its dict): remove channels from the
        `init_from` model before training (fine-tuning); without `init_from`, from the built
        model (a thinner architecture trained from scratch). Defaults to None.
      low_rank: a `LowRankConfig` (or its dict): SVD-factorize the `init_from` model
        before training. Defaults to None.
      distillation: a `DistillationConfig` (or its dict): learn from a teacher's
        logits as well as the labels; combines with `qat` and `pruning`. Defaults to None.
      strategy: None (one device), "mirrored" (all local GPUs) or "multi_worker" (the
        machines TF_CONFIG lists; each runs the same command). Float training and QAT.
        Defaults to None.
      input_range: the model's input for 0-255 pixels, as (low, high): (0, 1) for pixels / 255,
        (-1, 1) for (pixels - 127.5) / 127.5. Defaults to None (see `input_mean`).
      input_mean: per-channel values subtracted from 0-255 pixels (with `input_std`, instead
        of `input_range`). Defaults to None: the `init_from` run's, else pixels as they are
        for a model with a Rescaling or Normalization layer at its input, else the
        registered model's own.
      input_std: per-channel divisors applied after `input_mean`. Defaults to None.
    """

    _kind = "training"

    model: str = "mobilenet_v2_035"
    architecture: dict = None
    dataset: str = "fashion_mnist"
    output_dir: str = "runs/train"
    input_size: int = 32
    channels: int = None
    epochs: int = 10
    batch_size: int = 128
    optimizer: str = "adamw"
    learning_rate: float = 2e-3
    lr_schedule: str = "cosine"
    warmup_epochs: float = 1.0
    weight_decay: float = 5e-5
    augment: tuple = DEFAULT_AUGMENTATIONS
    nothing_fraction: float = 0.0
    plain_fraction: float = 0.0
    dropout: float = None
    small_input: bool = None
    validation_split: float = 0.1
    max_train_examples: int = None
    max_eval_examples: int = None
    keep_checkpoints: int = 2
    seed: int = 0
    verbose: int = None
    init_from: str = None
    weights: str = None
    freeze_epochs: int = 0
    finetune_learning_rate: float = None
    qat: bool = False
    weight_quantizer: str = "int8"
    weight_bits: int = 8
    qat_preserve: str = None
    pruning: PruningConfig = None
    clustering: ClusteringConfig = None
    channel_pruning: ChannelPruningConfig = None
    low_rank: LowRankConfig = None
    distillation: DistillationConfig = None
    strategy: str = None
    input_range: tuple = None
    input_mean: tuple = None
    input_std: tuple = None

    def __post_init__(self):
        for key, kind in NESTED_CONFIGS.items():
            if isinstance(getattr(self, key), dict):
                setattr(self, key, kind.from_config(getattr(self, key)))
        if isinstance(self.augment, str):
            self.augment = tuple(a.strip() for a in self.augment.split(",") if a.strip())
        self.augment = tuple(self.augment)
        self.source_run = self._resolve_init_from()  # not a field: the record it was read from
        self.validate()

    def _resolve_init_from(self):
        """Fills in what `init_from` implies, the model and `small_input` of the run it comes
        from, reading that run's record once; returns it (an empty one without `init_from`)."""
        if self.init_from is None or not os.path.isfile(self.init_from):
            return RunRecord()
        source = RunRecord.beside(self.init_from)
        # A bare file: a model the builders made is named after its registered name.
        self.model = (self.model or source.config.get("model")
                      or _io.saved_keras_model_name(self.init_from))
        if self.small_input is None:
            self.small_input = source.config.get("small_input")
        if self.architecture is None:
            self.architecture = source.config.get("architecture")
        return source

    def validate(self):
        """Raises `UserError` naming the first invalid field; changes nothing and reads only
        the head of the `init_from` file."""
        if self.weights is not None and not isinstance(self.weights, str):
            raise UserError(f"weights must be a file path or \"imagenet\", got {self.weights!r}")
        if self.weights and self.init_from:
            raise UserError("weights and init_from both choose the starting weights; give one")
        self._validate_transfer()
        if self.init_from is not None and not os.path.isfile(self.init_from):
            raise UserError(f"init_from: {self.init_from}: no such model file")
        if self.init_from is not None and self.output_dir and os.path.abspath(
                os.path.dirname(self.init_from)) == os.path.abspath(self.output_dir):
            raise UserError(f"output_dir {self.output_dir} holds the init_from model; write "
                            "the new run elsewhere")
        # The registry loads the builders (and TensorFlow): only now, not when flags are made.
        from tflite_lite.architectures import list_models, unknown_model_message  # noqa: PLC0415
        from tflite_lite.architectures._blocks import MIN_INPUT_SIZE  # noqa: PLC0415

        if self.init_from is not None:
            self._check_init_from_file()
        if self.model not in list_models() and not self._is_bare_file_model():
            raise UserError(unknown_model_message(self.model))
        self.input_mean_std()
        self._validate_numbers(MIN_INPUT_SIZE)
        self._validate_architecture()
        self._validate_choices()
        self._validate_compression()

    def _is_bare_file_model(self):
        """Whether `model` is the name the `init_from` file itself records (a model the
        builders did not make, fine-tuned as it is)."""
        return self.init_from is not None and self.model == _io.saved_keras_model_name(
            self.init_from)

    def input_mean_std(self):
        """(mean, std) of 0-255 pixels as this run feeds the model: as stated, else as the
        `init_from` run trained it, else pixels as they are for a model that rescales its own
        input, else the registered model's.

        Raises:
          UserError: a statement that contradicts the `init_from` run's, or a model that
            none of these describes (the line says what to pass).
        """
        from tflite_lite.architectures import get_model_config, list_models  # noqa: PLC0415

        stated = stated_mean_std(self.input_range, self.input_mean, self.input_std)
        trained = self.source_run.preprocessing
        if trained is not None:
            trained = tuple(trained["mean"]), tuple(trained["std"])
            if stated not in (None, trained):
                raise UserError(f"init_from: {self.init_from} was trained with input mean "
                                f"{trained[0]} / std {trained[1]}, not the stated {stated[0]} "
                                f"/ {stated[1]}")
        if stated or trained:
            return stated or trained
        if self.init_from is not None and _io.saved_keras_rescales_input(self.init_from):
            return (0.0,), (1.0,)
        if self.model in list_models():
            model_config = get_model_config(self.model)
            return model_config.mean, model_config.std
        raise UserError(f"init_from: {self.init_from} holds model {self.model!r}, which is not a "
                        "registered one, and nothing says how its inputs are scaled (no run "
                        "record beside it, no Rescaling layer at its input); pass "
                        "--input_range=0,1 for pixels / 255, --input_range=-1,1, or "
                        "--input_mean and --input_std (or --model with its registered name)")

    def _check_init_from_file(self):
        """A file that is not a tf_keras model is named in one line, before any training."""
        version = _io.saved_keras_version(self.init_from)
        if version is None and not _io.is_hdf5(self.init_from):
            raise UserError(f"init_from: {self.init_from} is not a Keras model file (a .keras "
                            "zip archive or an .h5 file)")
        if version and version.startswith("3"):
            self._check_keras3_options(version)

    def _check_keras3_options(self, version):
        """A Keras 3 file fine-tunes float, with QAT (8-bit weights) or with pruning; the
        other stages run on tf_keras models only."""
        tf_keras_only = [name for name, given in (
            ("clustering", self.clustering), ("channel_pruning", self.channel_pruning),
            ("low_rank", self.low_rank), ("distillation", self.distillation),
            ("freeze_epochs", self.freeze_epochs), ("strategy", self.strategy),
            ("weight_quantizer", self.weight_quantizer != "int8"),
            ("qat_preserve", self.qat_preserve == "clusters")) if given]
        if tf_keras_only:
            raise UserError(f"init_from: {self.init_from} was saved by Keras {version}: "
                            f"{', '.join(tf_keras_only)} need a tf_keras model; a Keras 3 model "
                            "fine-tunes float, with --qat (8-bit weights) or with pruning")

    def _validate_numbers(self, min_input_size):
        for key in ("epochs", "batch_size", "input_size", "keep_checkpoints"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{key} must be a positive integer, got {value!r}")
        if self.input_size < min_input_size:
            raise UserError(f"input_size must be at least {min_input_size} px, got "
                            f"{self.input_size}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not self.weight_decay >= 0:
            raise UserError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not self.warmup_epochs >= 0:
            raise UserError(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        if not 0 < self.validation_split < 1:
            raise UserError(f"validation_split must be in (0, 1), got {self.validation_split!r}")
        check_fraction("nothing_fraction", self.nothing_fraction)
        check_fraction("plain_fraction", self.plain_fraction)
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for key in ("max_train_examples", "max_eval_examples"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{key} must be a positive integer, got {value!r}")

    def _validate_architecture(self):
        if self.architecture is None:
            return
        from tflite_lite.architectures import get_model_config, list_models  # noqa: PLC0415
        from tflite_lite.architectures.searchable import check_architecture  # noqa: PLC0415
        if self.model not in list_models() or get_model_config(
                self.model).family != "searchable":
            raise UserError(f"architecture applies to the searchable family (searchable_ir), "
                            f"not {self.model}")
        self.architecture = check_architecture(self.architecture)

    def _validate_choices(self):
        if self.channels not in (None, 1, 3):
            raise UserError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                            f"got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                            f"got {self.lr_schedule!r}")
        if self.nothing_fraction and self.distillation is not None:
            raise UserError("nothing_fraction cannot combine with distillation: the teacher has "
                            "no \"nothing\" class")
        if self.verbose not in (None, 0, 1, 2):
            raise UserError(f"verbose must be 0, 1 or 2, got {self.verbose!r}")
        if self.strategy not in (None, *STRATEGIES):
            raise UserError(f"strategy must be one of {', '.join(STRATEGIES)}, "
                            f"got {self.strategy!r}")
        unsupported = [key for key in ("pruning", "clustering", "distillation")
                       if getattr(self, key) is not None]
        if self.strategy and unsupported:
            raise UserError(f"strategy {self.strategy} trains float and QAT models; "
                            f"{unsupported[0]} runs on one device")
        if self.qat:
            self.qat_config.validate()
        elif (self.weight_quantizer, self.weight_bits, self.qat_preserve) != ("int8", 8, None):
            raise UserError("weight_quantizer, weight_bits and qat_preserve apply with qat only")

    def _validate_transfer(self):
        if isinstance(self.freeze_epochs, bool) or not isinstance(self.freeze_epochs, int) or (
                self.freeze_epochs < 0):
            raise UserError(f"freeze_epochs must be a non-negative integer, got "
                            f"{self.freeze_epochs!r}")
        if self.finetune_learning_rate is not None and not (
                isinstance(self.finetune_learning_rate, (int, float))
                and self.finetune_learning_rate > 0 and math.isfinite(self.finetune_learning_rate)):
            raise UserError(f"finetune_learning_rate must be positive, got "
                            f"{self.finetune_learning_rate!r}")
        if not self.freeze_epochs:
            if self.finetune_learning_rate is not None:
                raise UserError("finetune_learning_rate applies with freeze_epochs only")
            return
        if isinstance(self.epochs, int) and self.freeze_epochs >= self.epochs:
            raise UserError(f"freeze_epochs ({self.freeze_epochs}) must be smaller than epochs "
                            f"({self.epochs}): fine-tuning needs at least one epoch")
        if not (self.weights or self.init_from):
            raise UserError("freeze_epochs needs starting weights: give weights or init_from")
        others = [key for key in ("qat", "pruning", "clustering", "distillation")
                  if getattr(self, key)]
        if others:
            raise UserError(f"freeze_epochs trains a float model; it does not combine with "
                            f"{others[0]}")

    def _validate_compression(self):
        for key, kind in NESTED_CONFIGS.items():
            value = getattr(self, key)
            if value is not None and not isinstance(value, kind):
                raise UserError(f"{key} must be a {kind.__name__} or its dict, got {value!r}")
        during = [key for key in ("qat", "pruning", "clustering") if getattr(self, key)]
        if len(during) > 1:
            raise UserError(f"{' and '.join(during)} cannot run in one training run: prune or "
                            "cluster first, then fine-tune that run with --init_from")
        needs_weights = [key for key in ("clustering", "low_rank")
                         if getattr(self, key) is not None]
        if needs_weights and self.init_from is None:
            raise UserError(f"{needs_weights[0]} starts from trained weights: set init_from")
        if self.distillation is not None:
            self.distillation.check_teacher_file()

    @property
    def qat_config(self):
        return QATConfig(self.weight_quantizer, self.weight_bits, preserve=self.qat_preserve)

    @property
    def restructures(self):
        """Whether the run changes the layer structure (so the builder cannot rebuild it)."""
        return self.channel_pruning is not None or self.low_rank is not None

    def get_config(self):
        config = dataclasses.asdict(self)
        config["augment"] = list(self.augment)
        for key in NESTED_CONFIGS:
            value = getattr(self, key)
            config[key] = None if value is None else value.get_config()
        return config

    @property
    def input_shape(self):
        channels = self.channels or _NATURAL_CHANNELS.get(self.dataset, 3)
        return (self.input_size, self.input_size, channels)


def finetune_config(run_dir, output_dir, epochs, learning_rate=2e-4, **overrides):
    """A `TrainConfig` that fine-tunes the run in `run_dir` with its own dataset (its cap on
    training images included), input and batch size (no warm-up); `overrides` set the rest
    (e.g. `qat=True`, `pruning=...`)."""
    source = RunRecord.load(run_dir, required=True).config
    settings = dict(init_from=os.path.join(run_dir, "model.keras"), model=None,
                    dataset=source["dataset"], input_size=source["input_size"],
                    channels=source["channels"], batch_size=source["batch_size"], epochs=epochs,
                    max_train_examples=source.get("max_train_examples"),
                    learning_rate=learning_rate, warmup_epochs=0, output_dir=output_dir,
                    verbose=2)
    settings.update(overrides)
    return TrainConfig(**settings)


