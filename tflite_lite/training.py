"""Float training of a registered model on a dataset, with everything recorded.

    result = train(TrainConfig(model="mobilenet_v2_035", epochs=10, output_dir="runs/m"))

Writes into `output_dir` (each file atomically): `model.keras`, `checkpoints/epoch_NNN.keras`
(the newest few), `history.json` (kept current after every epoch), `run.json` (config, class
names, preprocessing, model profile and measured test accuracy) and TensorBoard logs under
`logs/`. While training runs, `backup/` holds the state of the last finished epoch: the same
command after a kill resumes from there and ends with the same number of epochs.
"""

import dataclasses
import datetime
import json
import math
import os
import platform
import shutil
import sys
import time

import numpy as np

import tflite_lite
from tflite_lite import _io, distributed, pruning
from tflite_lite import distillation as distillation_lib
from tflite_lite._config import Config
from tflite_lite._keras import keras, tf
from tflite_lite.architectures import (create_model, get_model_config, list_models, profile,
                                       unknown_model_message)
from tflite_lite.architectures.deploy import transfer_weights
from tflite_lite.data import AUGMENTATIONS, load_dataset
from tflite_lite.errors import UserError
from tflite_lite.pruning import ChannelPruningConfig, ClusteringConfig, LowRankConfig, PruningConfig
from tflite_lite.run_record import RunRecord
from tflite_lite.quantization import (
    QATConfig,
    is_quantized,
    load_model,
    quantize_model,
    with_default_scheme,
)

OPTIMIZERS = ("adamw", "adam", "sgd")
LR_SCHEDULES = ("cosine", "step", "constant")
_NATURAL_CHANNELS = {"fashion_mnist": 1, "mnist": 1, "cifar10": 3}


_COMPRESSION_CONFIGS = {"pruning": PruningConfig, "clustering": ClusteringConfig,
                        "channel_pruning": ChannelPruningConfig, "low_rank": LowRankConfig}
_NESTED_CONFIGS = {**_COMPRESSION_CONFIGS, "distillation": distillation_lib.DistillationConfig}


@dataclasses.dataclass
class TrainConfig(Config):
    """Everything that defines a training run.

    Attributes:
      model: registered model name. Defaults to "mobilenet_v2_035".
      dataset: dataset name for `load_dataset`. Defaults to "fashion_mnist".
      output_dir: folder for the run's files. Defaults to "runs/train".
      input_size: square input side in pixels. Defaults to 32.
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
      augment: training augmentations from ("flip", "translate"). Defaults to both.
      dropout: dropout before the classifier; None keeps the builder's default.
      small_input: small-input variant; None lets the builder choose by input size.
      validation_split: fraction of training data held out. Defaults to 0.1.
      max_train_examples: cap on training examples for quick runs. Defaults to None.
      max_eval_examples: cap on validation and test examples each (the first ones), for quick
        runs; `run.json`'s `num_examples` says how many each figure used. Defaults to None.
      keep_checkpoints: how many per-epoch checkpoints to keep. Defaults to 2.
      seed: seeds data order, augmentation and weights. Defaults to 0.
      verbose: Keras progress output: 1 (bar), 2 (a line per epoch), 0, or None for a bar
        on a terminal and lines otherwise. Defaults to None.
      init_from: a float `.keras` to start from (fine-tuning) instead of fresh weights; `model`
        may then be None and is read from the `run.json` beside it. Defaults to None.
      qat: quantization-aware training (tfmot fake quantization). Defaults to False.
      weight_quantizer: with `qat`: "int8", "uniform", "ternary" or "binary". Defaults to "int8".
      weight_bits: with `qat` and the uniform quantizer: bits per weight, 2-8. Defaults to 8.
      qat_preserve: with `qat`: "sparsity" or "clusters", to keep a pruned or clustered
        `init_from` model's structure through QAT. Defaults to None.
      pruning: a `pruning.PruningConfig` (or its dict): magnitude / m:n pruning during
        training; the saved model is stripped. Defaults to None.
      clustering: a `pruning.ClusteringConfig` (or its dict): weight clustering during
        training (needs `init_from`); the saved model is stripped. Defaults to None.
      channel_pruning: a `pruning.ChannelPruningConfig` (or its dict): remove channels from the
        `init_from` model before training (fine-tuning). Defaults to None.
      low_rank: a `pruning.LowRankConfig` (or its dict): SVD-factorize the `init_from` model
        before training. Defaults to None.
      distillation: a `distillation_lib.DistillationConfig` (or its dict): learn from a teacher's
        logits as well as the labels; combines with `qat` and `pruning`. Defaults to None.
      strategy: None (one device), "mirrored" (all local GPUs) or "multi_worker" (the
        machines TF_CONFIG lists; each runs the same command). Float training and QAT.
        Defaults to None.
    """

    _kind = "training"

    model: str = "mobilenet_v2_035"
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
    augment: tuple = AUGMENTATIONS
    dropout: float = None
    small_input: bool = None
    validation_split: float = 0.1
    max_train_examples: int = None
    max_eval_examples: int = None
    keep_checkpoints: int = 2
    seed: int = 0
    verbose: int = None
    init_from: str = None
    qat: bool = False
    weight_quantizer: str = "int8"
    weight_bits: int = 8
    qat_preserve: str = None
    pruning: PruningConfig = None
    clustering: ClusteringConfig = None
    channel_pruning: ChannelPruningConfig = None
    low_rank: LowRankConfig = None
    distillation: distillation_lib.DistillationConfig = None
    strategy: str = None

    def __post_init__(self):
        for key, kind in _NESTED_CONFIGS.items():
            if isinstance(getattr(self, key), dict):
                setattr(self, key, kind.from_config(getattr(self, key)))
        if isinstance(self.augment, str):
            self.augment = tuple(a.strip() for a in self.augment.split(",") if a.strip())
        self.augment = tuple(self.augment)
        self.validate()

    def validate(self):
        """Raises `UserError` naming the first invalid field."""
        if self.init_from is not None and not os.path.isfile(self.init_from):
            raise UserError(f"init_from: {self.init_from}: no such model file")
        if self.init_from is not None:
            if self.output_dir and os.path.abspath(os.path.dirname(self.init_from)) == (
                    os.path.abspath(self.output_dir)):
                raise UserError(f"output_dir {self.output_dir} holds the init_from model; "
                                "write the new run elsewhere")
            source_config = _source_run(self.init_from).get("config", {})
            self.model = self.model or source_config.get("model")
            if self.small_input is None:
                self.small_input = source_config.get("small_input")
        if self.model not in list_models():
            raise UserError(unknown_model_message(self.model))
        for key in ("epochs", "batch_size", "input_size", "keep_checkpoints"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{key} must be a positive integer, got {value!r}")
        if self.channels not in (None, 1, 3):
            raise UserError(f"channels must be 1 or 3, got {self.channels!r}")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"optimizer must be one of {', '.join(OPTIMIZERS)}, "
                            f"got {self.optimizer!r}")
        if self.lr_schedule not in LR_SCHEDULES:
            raise UserError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}, "
                            f"got {self.lr_schedule!r}")
        if not (self.learning_rate > 0 and math.isfinite(self.learning_rate)):
            raise UserError(f"learning_rate must be positive, got {self.learning_rate!r}")
        if not self.weight_decay >= 0:
            raise UserError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        if not self.warmup_epochs >= 0:
            raise UserError(f"warmup_epochs must be >= 0, got {self.warmup_epochs!r}")
        if self.dropout is not None and not 0 <= self.dropout < 1:
            raise UserError(f"dropout must be in [0, 1), got {self.dropout!r}")
        for key in ("max_train_examples", "max_eval_examples"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{key} must be a positive integer, got {value!r}")
        if self.verbose not in (None, 0, 1, 2):
            raise UserError(f"verbose must be 0, 1 or 2, got {self.verbose!r}")
        if self.strategy not in (None, *distributed.STRATEGIES):
            raise UserError(f"strategy must be one of {', '.join(distributed.STRATEGIES)}, "
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
        self._validate_compression()

    def _validate_compression(self):
        for key, kind in _NESTED_CONFIGS.items():
            value = getattr(self, key)
            if value is not None and not isinstance(value, kind):
                raise UserError(f"{key} must be a {kind.__name__} or its dict, got {value!r}")
        during = [key for key in ("qat", "pruning", "clustering") if getattr(self, key)]
        if len(during) > 1:
            raise UserError(f"{' and '.join(during)} cannot run in one training run: prune or "
                            "cluster first, then fine-tune that run with --init_from")
        needs_weights = [key for key in ("clustering", "channel_pruning", "low_rank")
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
        for key in _NESTED_CONFIGS:
            value = getattr(self, key)
            config[key] = None if value is None else value.get_config()
        return config


    @property
    def input_shape(self):
        channels = self.channels or _NATURAL_CHANNELS.get(self.dataset, 3)
        return (self.input_size, self.input_size, channels)


class EpochCheckpoint(keras.callbacks.Callback):
    """Saves `epoch_NNN.keras` atomically after every epoch and keeps only the newest few.

    `model` is what is saved (e.g. a `Distiller`'s student); None saves the model `fit()` trains.
    """

    def __init__(self, folder, keep=2, model=None):
        super().__init__()
        self.folder = folder
        self.keep = keep
        self.saved_model = model

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite((logs or {}).get("loss", 0.0)):
            return  # a diverged epoch is no checkpoint
        _io.save_keras_model(self.saved_model or self.model,
                             os.path.join(self.folder, f"epoch_{epoch + 1:03d}.keras"))
        saved = sorted(f for f in os.listdir(self.folder) if f.startswith("epoch_"))
        for old in saved[:-self.keep]:
            os.remove(os.path.join(self.folder, old))


class TrainingThroughput(keras.callbacks.Callback):
    """Records each epoch's training time (validation excluded) as `train_seconds`."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._seconds = None

    def on_test_begin(self, logs=None):
        if self._seconds is None:  # the validation pass at the end of an epoch
            self._seconds = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["train_seconds"] = self._seconds or time.perf_counter() - self._start


class EpochLog(keras.callbacks.Callback):
    """Rewrites `history.json` after every epoch. When `fit()` resumes at epoch k (from
    `BackupAndRestore`), the first k rows of the earlier file are kept, so `rows` ends as the
    history of the whole run. List it before `BackupAndRestore`: the rows are then never
    behind the backup."""

    def __init__(self, path):
        super().__init__()
        self.path = path
        self.rows = None
        self.resumed_from_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.resumed_from_epoch = epoch
            earlier = {}
            if epoch and os.path.isfile(self.path):
                with open(self.path) as f:
                    earlier = json.load(f)
            self.rows = {key: values[:epoch] for key, values in earlier.items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.rows.setdefault(key, []).append(float(value))
        _io.write_json(self.path, self.rows)


def _resume_settings(config):
    """The settings a resumed run must share with the interrupted one, as JSON would hold them."""
    return json.loads(json.dumps(dict(config.get_config(), verbose=None)))


def _check_writable(folder):
    """Raises `UserError` unless `folder` exists writable or can be created (creates nothing)."""
    existing = os.path.abspath(folder)
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise UserError(f"output folder {folder}: {existing} is a file")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UserError(f"output folder {folder} is not writable ({existing})")


def _check_resumable(backup_dir, config):
    """Refuses to resume an interrupted run (a Keras backup in `backup_dir`) that had other
    settings than `config`."""
    path = os.path.join(backup_dir, "config.json")
    if not (os.path.isdir(os.path.join(backup_dir, "keras")) and os.path.isfile(path)):
        return
    with open(path) as f:
        earlier = json.load(f)
    settings = _resume_settings(config)
    if earlier != settings:
        changed = sorted(key for key in settings if earlier.get(key) != settings[key])
        raise UserError(f"{os.path.dirname(backup_dir)} holds an interrupted run with other "
                        f"settings ({', '.join(changed) or 'fields'}); rerun it unchanged to "
                        f"resume, or delete {backup_dir} to start over")


def _remove_backup(backup_dir):
    if os.path.isdir(backup_dir):
        shutil.rmtree(backup_dir, ignore_errors=True)


def _learning_rate(config, steps_per_epoch):
    total = config.epochs * steps_per_epoch
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "step":
        return keras.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)],
            [config.learning_rate, config.learning_rate * 0.1, config.learning_rate * 0.01])
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return keras.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate, decay_steps=total - warmup,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def _optimizer(config, steps_per_epoch):
    learning_rate = _learning_rate(config, steps_per_epoch)
    if config.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True,
                                         weight_decay=config.weight_decay or None)
    elif config.optimizer == "adamw":
        optimizer = keras.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    else:
        optimizer = keras.optimizers.Adam(learning_rate)
    if config.weight_decay and config.optimizer != "adam":
        optimizer.exclude_from_weight_decay(var_names=["_bn/", "bias"])
    return optimizer


def finetune_config(run_dir, output_dir, epochs, learning_rate=2e-4, **overrides):
    """A `TrainConfig` that fine-tunes the run in `run_dir` with its own dataset, input and
    batch size (no warm-up); `overrides` set the rest (e.g. `qat=True`, `pruning=...`)."""
    source = RunRecord.load(run_dir, required=True).config
    settings = dict(init_from=os.path.join(run_dir, "model.keras"), model=None,
                    dataset=source["dataset"], input_size=source["input_size"],
                    channels=source["channels"], batch_size=source["batch_size"], epochs=epochs,
                    learning_rate=learning_rate, warmup_epochs=0, output_dir=output_dir,
                    verbose=2)
    settings.update(overrides)
    return TrainConfig(**settings)


def _source_run(model_path):
    """The record of the run beside a `.keras` file ({} if none)."""
    return RunRecord.beside(model_path)


def _initial_model(config, num_classes, builder_kwargs):
    if config.init_from is None:
        return create_model(config.model, input_shape=config.input_shape,
                            num_classes=num_classes, **builder_kwargs)
    model = load_model(config.init_from)
    source = _source_run(config.init_from)
    if is_quantized(model):
        raise UserError(f"init_from: {config.init_from} is already quantization-aware; "
                        "start from its float model")
    source_model = source.get("model")
    if source_model not in (None, config.model):
        raise UserError(f"init_from: {config.init_from} is a {source_model}, not {config.model}")
    shapes = (tuple(model.inputs[0].shape[1:]), model.outputs[0].shape[-1])
    if shapes != (config.input_shape, num_classes):
        raise UserError(f"init_from: {config.init_from} maps {shapes[0]} to {shapes[1]} classes;"
                        f" this run needs {config.input_shape} to {num_classes} classes")
    restructured = bool(source.get("compression", {}).get("restructured"))
    if config.model in list_models() and not restructured:
        # Rebuild with today's builder and copy the weights by layer name, so that the
        # structure (and so its quantized deployment form) is the registered one.
        fresh = create_model(config.model, input_shape=config.input_shape,
                             num_classes=num_classes, **builder_kwargs)
        try:
            transfer_weights(model, fresh)
        except UserError as error:
            raise UserError(f"init_from: {config.init_from} is not a {config.model} "
                            f"({error})") from None
        model = fresh
    return model


def _restructure(model, config, data):
    """Channel pruning and low-rank factorization: one-off changes before fine-tuning."""
    if config.channel_pruning is not None:
        calibration = None
        if config.channel_pruning.criterion == "activation":
            source = data.validation if data.validation is not None else data.train
            calibration = np.concatenate([images.numpy() for images, _ in source.take(4)])
        model = pruning.prune_channels(model, config.channel_pruning, calibration)
    if config.low_rank is not None:
        model = pruning.factorize(model, config.low_rank)
    return model


def _wrap_for_training(model, config, total_steps, log_dir):
    """The model `fit()` trains (QAT / pruning / clustering wrappers) and the callbacks it needs."""
    if config.qat:
        return quantize_model(model, config.qat_config), []
    if config.pruning is not None:
        schedule = config.pruning.with_steps(total_steps)
        return pruning.prune_model(model, schedule), pruning.pruning_callbacks(log_dir)
    if config.clustering is not None:
        return pruning.cluster_model(model, config.clustering), []
    return model, []


def _unwrap(model, float_model, config):
    """The trained model as it is saved: pruning and clustering wrappers stripped, and
    cluster-preserving QAT under the default scheme (its extra variables do not reload)."""
    if config.qat and config.qat_preserve == "clusters":
        return with_default_scheme(model, float_model)
    return pruning.strip_clustering(pruning.strip_pruning(model))


def _distiller(model, config, data):
    """The `Distiller` that trains `model`, its callbacks and the training data (the teacher's
    logits attached once when cached); checks the teacher against the data first."""
    settings = config.distillation
    teacher = load_model(settings.teacher)
    distillation_lib.check_compatible(teacher, config.input_shape, data.num_classes)
    teacher_preprocessing = _source_run(settings.teacher).get("preprocessing")
    if teacher_preprocessing not in (None, data.preprocessing.get_config()):
        raise UserError(f"distillation teacher {settings.teacher} was trained with preprocessing "
                        f"{teacher_preprocessing}, the student uses "
                        f"{data.preprocessing.get_config()}")
    train = data.train
    if settings.cache_teacher_logits:
        train = data.with_train_targets(distillation_lib.teacher_logits_fn(teacher)).train
        teacher = None
    distiller = distillation_lib.Distiller(model, teacher, settings.temperature, settings.alpha)
    return distiller, [distillation_lib.DistillationSchedule(settings, config.epochs)], train


def _compression_record(model, config):
    source = _source_run(config.init_from) if config.init_from else {}
    compression = {key: None if getattr(config, key) is None else getattr(config, key).get_config()
                   for key in _COMPRESSION_CONFIGS}
    sparsity = pruning.weight_sparsity(model)
    distinct = pruning.distinct_weights(model)
    return dict(
        compression,
        restructured=config.restructures or bool(source.get("compression", {}).get("restructured")),
        qat_preserve=config.qat_preserve,
        sparsity=sparsity["overall"],
        layer_sparsity=sparsity["layers"],
        max_distinct_weights=max(distinct.values()) if distinct else None,
    )


def _distillation_record(config):
    if config.distillation is None:
        return None
    teacher_run = _source_run(config.distillation.teacher)
    return dict(config.distillation.get_config(),
                teacher=os.path.abspath(config.distillation.teacher),
                teacher_model=teacher_run.get("model"),
                teacher_test_accuracy=teacher_run.get("test_accuracy"))


def _build_step_state(trained, output_shape, element_spec):
    """Creates the optimizer's slots and the compiled loss and metrics before `fit()`. Left to
    the first step, their creation makes TensorFlow trace the training step twice (once that
    creates variables, once that may not): about 3 s more before training starts."""
    labels = element_spec[1]
    if isinstance(labels, tuple):  # (labels, cached teacher logits)
        labels = labels[0]
    y_true = tf.zeros([1, *labels.shape[1:]], labels.dtype)
    y_pred = tf.zeros([1, *output_shape[1:]])
    trained.optimizer.build(trained.trainable_variables)
    trained.compiled_loss.build(y_pred)
    trained.compiled_metrics.build(y_pred, y_true)


def versions():
    """The versions a run record notes: tflite_lite, TensorFlow, tf_keras, Python."""
    return {"tflite_lite": tflite_lite.__version__, "tensorflow": tf.__version__,
            "tf_keras": keras.__version__, "python": platform.python_version()}


def train(config):
    """Trains a registered model as `config` says and writes the run's files.

    Args:
      config: a `TrainConfig`.

    Returns:
      The run record written to `run.json` (a dict; `test_accuracy` among its keys).

    Raises:
      UserError: for invalid configuration or data, an unwritable output folder, or a loss
        that became NaN.
    """
    started = time.perf_counter()
    config.validate()
    strategy, worker = distributed.make_strategy(config.strategy)  # before any other TF work
    # Every worker keeps its own files; the chief's are the run's. The backup is shared.
    output_dir = (config.output_dir if worker.is_chief
                  else os.path.join(config.output_dir, f"worker_{worker.index}"))
    backup_dir = os.path.join(config.output_dir, "backup")
    _check_writable(output_dir)
    _check_resumable(backup_dir, config)

    keras.utils.set_random_seed(config.seed)
    model_config = get_model_config(config.model)
    data = load_dataset(config.dataset, input_shape=config.input_shape,
                        batch_size=config.batch_size, mean=model_config.mean,
                        std=model_config.std, augment=config.augment,
                        validation_split=config.validation_split,
                        max_train_examples=config.max_train_examples,
                        max_eval_examples=config.max_eval_examples, seed=config.seed)
    if worker.count > 1:
        data = dataclasses.replace(data, **{split: distributed.shard_per_worker(getattr(data, split))
                                            for split in ("train", "validation", "test")})
    builder_kwargs = {key: getattr(config, key) for key in ("dropout", "small_input")
                      if getattr(config, key) is not None}
    steps_per_epoch = math.ceil(data.num_examples["train"] / config.batch_size)
    with strategy.scope():
        model = _restructure(_initial_model(config, data.num_classes, builder_kwargs), config,
                             data)
        model_profile = profile(model)
        float_model = model
        model, compression_callbacks = _wrap_for_training(
            model, config, config.epochs * steps_per_epoch, os.path.join(output_dir, "logs"))
        trained, train_data = model, data.train
        if config.distillation is not None:
            trained, distill_callbacks, train_data = _distiller(model, config, data)
            compression_callbacks += distill_callbacks
            trained.compile(optimizer=_optimizer(config, steps_per_epoch), metrics=["accuracy"])
        else:
            model.compile(optimizer=_optimizer(config, steps_per_epoch),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        _build_step_state(trained, model.output_shape, train_data.element_spec)

    try:  # only now that the data and the model are known to be usable
        os.makedirs(os.path.join(output_dir, "checkpoints"), exist_ok=True)
        _io.write_json(os.path.join(backup_dir, "config.json"), _resume_settings(config))
    except OSError as error:
        raise UserError(f"cannot write to output folder {output_dir}: {error.strerror}") from None
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    epoch_log = EpochLog(os.path.join(output_dir, "history.json"))
    callbacks = [
        TrainingThroughput(),
        keras.callbacks.TerminateOnNaN(),
        keras.callbacks.TensorBoard(os.path.join(output_dir, "logs"), profile_batch=0),
        *compression_callbacks,
        *([distributed.SyncWorkerState(strategy)] if worker.count > 1 else []),
        # In this order, an epoch's checkpoint file proves that its backup is complete.
        epoch_log,
        keras.callbacks.BackupAndRestore(os.path.join(backup_dir, "keras")),
        EpochCheckpoint(os.path.join(output_dir, "checkpoints"), keep=config.keep_checkpoints,
                        model=model),
    ]
    trained.fit(train_data, validation_data=data.validation, epochs=config.epochs,
                callbacks=callbacks, verbose=verbose)
    history = epoch_log.rows
    if any(not math.isfinite(loss) for loss in history.get("loss", [])):
        _remove_backup(backup_dir)  # a diverged state is not worth resuming
        raise UserError(f"training diverged: the loss became NaN in epoch {len(history['loss'])}; "
                        "lower --learning_rate")
    with strategy.scope():
        model = _unwrap(model, float_model, config)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    test_loss, test_accuracy = model.evaluate(data.test, verbose=0)

    _io.save_keras_model(model, os.path.join(output_dir, "model.keras"))

    epoch_seconds = history["train_seconds"]
    steady = epoch_seconds[1:] or epoch_seconds  # the first epoch also traces the graph
    record = {
        "model": config.model,
        "dataset": config.dataset,
        "dataset_source": data.source,
        "test_accuracy": float(test_accuracy),
        "test_loss": float(test_loss),
        "test_examples": data.num_examples["test"],
        "best_val_accuracy": float(max(history["val_accuracy"])),
        "validation_examples": data.num_examples["validation"],
        "epochs": len(history["loss"]),
        "class_names": list(data.class_names),
        "preprocessing": data.preprocessing.get_config(),
        "input_shape": list(config.input_shape),
        "num_examples": data.num_examples,
        "params": model_profile["params"],
        "macs": model_profile["macs"],
        "keras_params": model_profile["keras_params"],
        "train_seconds": float(sum(epoch_seconds)),
        "train_images_per_second": float(
            data.num_examples["train"] * len(steady) / sum(steady)),
        "wall_seconds": float(time.perf_counter() - started),
        "quantization": config.qat_config.get_config() if config.qat else None,
        "init_from": config.init_from and os.path.abspath(config.init_from),
        "compression": _compression_record(model, config),
        "distillation": _distillation_record(config),
        "distribution": {"strategy": config.strategy, "workers": worker.count,
                         "worker_index": worker.index,
                         "replicas": int(strategy.num_replicas_in_sync)},
        "resumed_from_epoch": epoch_log.resumed_from_epoch,
        "output_dir": output_dir,
        "config": config.get_config(),
        "model_config": model_config.get_config(),
        "artifacts": {"model": "model.keras", "history": "history.json",
                      "checkpoints": "checkpoints", "tensorboard": "logs"},
        "versions": versions(),
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    RunRecord(record).save(output_dir)
    if worker.is_chief:
        _remove_backup(backup_dir)
    return record


def load_run(run_dir):
    """Reads a training run: returns (model, record) from `model.keras` and `run.json`."""
    model_path = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(model_path):
        raise UserError(f"not a training run folder: {model_path} is missing")
    return load_model(model_path), RunRecord.load(run_dir, required=True)
