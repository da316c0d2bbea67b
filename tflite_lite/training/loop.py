"""Float training of a registered model on a dataset, with everything recorded.

    result = train(TrainConfig(model="mobilenet_v2_035", epochs=10, output_dir="runs/m"))

Writes into `output_dir` (each file atomically): `model.keras`, `checkpoints/epoch_NNN.keras`
(the newest few), `history.json` (kept current after every epoch), the run record
(`RunRecord`: config, class names, preprocessing, model profile and measured test accuracy)
and TensorBoard logs under `logs/`. While training runs, `backup/` holds the state of the
last finished epoch: the same command after a kill resumes from there and ends with the same
number of epochs.
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
from tflite_lite import _io, compression, distributed
from tflite_lite._keras import is_keras3_model, keras, keras3, tf
from tflite_lite.architectures import create_model, get_model_config, list_models, profile
from tflite_lite.architectures.weights import load_weights
from tflite_lite.architectures.deploy import transfer_weights
from tflite_lite.compression import is_quantized, load_model, quantize_model, with_default_scheme
from tflite_lite.data import load_dataset
from tflite_lite.errors import UserError
from tflite_lite.run_record import HISTORY_FILE, RunRecord
from tflite_lite.training.callbacks import EpochCheckpoint, EpochLog, TrainingThroughput
from tflite_lite.training import transfer
from tflite_lite.training.config import COMPRESSION_CONFIGS


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


def _library(model):
    """The Keras that `model` is made with: tf_keras, or Keras 3 for a Keras 3 file."""
    return keras3() if is_keras3_model(model) else keras


def _learning_rate(config, steps_per_epoch, api=keras):
    total = config.epochs * steps_per_epoch
    if config.freeze_epochs:
        return transfer.TransferSchedule(
            config.learning_rate, config.freeze_epochs * steps_per_epoch,
            config.finetune_learning_rate or config.learning_rate / 10, total)
    if config.lr_schedule == "constant":
        return config.learning_rate
    if config.lr_schedule == "step":
        return api.optimizers.schedules.PiecewiseConstantDecay(
            [int(total * 0.5), int(total * 0.75)],
            [config.learning_rate, config.learning_rate * 0.1, config.learning_rate * 0.01])
    warmup = min(int(config.warmup_epochs * steps_per_epoch), total - 1)
    return api.optimizers.schedules.CosineDecay(
        0.0 if warmup else config.learning_rate, decay_steps=total - warmup,
        warmup_target=config.learning_rate if warmup else None, warmup_steps=warmup)


def _optimizer(config, steps_per_epoch, api=keras):
    learning_rate = _learning_rate(config, steps_per_epoch, api)
    if config.optimizer == "sgd":
        optimizer = api.optimizers.SGD(learning_rate, momentum=0.9, nesterov=True,
                                       weight_decay=config.weight_decay or None)
    elif config.optimizer == "adamw":
        optimizer = api.optimizers.AdamW(learning_rate, weight_decay=config.weight_decay)
    else:
        optimizer = api.optimizers.Adam(learning_rate)
    if config.weight_decay and config.optimizer != "adam":
        optimizer.exclude_from_weight_decay(var_names=["_bn/", "bias"])
    return optimizer


def _initial_model(config, num_classes, builder_kwargs):
    """(model, what loading pretrained weights did or None)."""
    if config.init_from is None:
        model = create_model(config.model, input_shape=config.input_shape,
                             num_classes=num_classes, **builder_kwargs)
        if not config.weights:
            return model, None
        loaded = load_weights(model, config.model, get_model_config(config.model).family,
                              config.weights)
        return model, loaded.get_config()
    model = load_model(config.init_from, allow_keras3=True)
    source = config.source_run
    if is_quantized(model):
        raise UserError(f"init_from: {config.init_from} is already quantization-aware; "
                        "start from its float model")
    source_model = source.model
    if source_model not in (None, config.model):
        raise UserError(f"init_from: {config.init_from} is a {source_model}, not {config.model}")
    shapes = (tuple(model.inputs[0].shape[1:]), model.outputs[0].shape[-1])
    if shapes != (config.input_shape, num_classes):
        raise UserError(f"init_from: {config.init_from} maps {shapes[0]} to {shapes[1]} classes;"
                        f" this run needs {config.input_shape} to {num_classes} classes")
    restructured = source.restructured
    if config.model in list_models() and not restructured and not is_keras3_model(model):
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
    return model, None


def _restructure(model, config, data):
    """Channel pruning and low-rank factorization: one-off changes before fine-tuning."""
    if config.channel_pruning is not None:
        calibration = None
        if config.channel_pruning.criterion == "activation":
            source = data.validation if data.validation is not None else data.train
            calibration = np.concatenate([images.numpy() for images, _ in source.take(4)])
        model = compression.prune_channels(model, config.channel_pruning, calibration)
    if config.low_rank is not None:
        model = compression.factorize(model, config.low_rank)
    return model


def _wrap_for_training(model, config, total_steps, log_dir):
    """The model `fit()` trains (QAT / pruning / clustering wrappers) and the callbacks it needs."""
    if config.qat:
        return quantize_model(model, config.qat_config), []
    if config.pruning is not None:
        schedule = config.pruning.with_steps(total_steps)
        # Keras 3's pruning wrappers count their own steps: no callback.
        callbacks = [] if is_keras3_model(model) else compression.pruning_callbacks(log_dir)
        return compression.prune_model(model, schedule), callbacks
    if config.clustering is not None:
        return compression.cluster_model(model, config.clustering), []
    return model, []


def _unwrap(model, float_model, config):
    """The trained model as it is saved: pruning and clustering wrappers stripped, and
    cluster-preserving QAT under the default scheme (its extra variables do not reload)."""
    if config.qat and config.qat_preserve == "clusters":
        return with_default_scheme(model, float_model)
    if is_keras3_model(model):
        return compression.strip_pruning(model)
    return compression.strip_clustering(compression.strip_pruning(model))


def _distiller(model, config, data):
    """The `Distiller` that trains `model`, its callbacks and the training data (the teacher's
    logits attached once when cached); checks the teacher against the data first."""
    settings = config.distillation
    teacher = load_model(settings.teacher)
    compression.check_compatible(teacher, config.input_shape, data.num_classes)
    teacher_preprocessing = RunRecord.beside(settings.teacher).preprocessing
    if teacher_preprocessing not in (None, data.preprocessing.get_config()):
        raise UserError(f"distillation teacher {settings.teacher} was trained with preprocessing "
                        f"{teacher_preprocessing}, the student uses "
                        f"{data.preprocessing.get_config()}")
    train = data.train
    if settings.cache_teacher_logits:
        train = data.with_train_targets(compression.teacher_logits_fn(teacher)).train
        teacher = None
    distiller = compression.Distiller(model, teacher, settings.temperature, settings.alpha)
    return distiller, [compression.DistillationSchedule(settings, config.epochs)], train


def _compression_record(model, config):
    source = config.source_run
    configs = {key: None if getattr(config, key) is None else getattr(config, key).get_config()
               for key in COMPRESSION_CONFIGS}
    sparsity = compression.weight_sparsity(model)
    distinct = compression.distinct_weights(model)
    return dict(
        configs,
        restructured=config.restructures or source.restructured,
        qat_preserve=config.qat_preserve,
        sparsity=sparsity["overall"],
        layer_sparsity=sparsity["layers"],
        max_distinct_weights=max(distinct.values()) if distinct else None,
    )


def _distillation_record(config):
    if config.distillation is None:
        return None
    teacher_run = RunRecord.beside(config.distillation.teacher)
    return dict(config.distillation.get_config(),
                teacher=os.path.abspath(config.distillation.teacher),
                teacher_model=teacher_run.model,
                teacher_test_accuracy=teacher_run.test_accuracy)


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


@dataclasses.dataclass
class _Run:
    """What the phases of one training share."""

    config: object
    strategy: object
    worker: object
    output_dir: str  # this worker's files (the chief's are the run's)
    backup_dir: str  # shared by the workers
    started: float


@dataclasses.dataclass
class _Models:
    """The models of one training: `model` as built (and wrapped for compression), `trained`
    what `fit()` runs (a `Distiller` around it when distilling)."""

    model: object
    float_model: object
    trained: object
    train_data: object
    callbacks: list
    pretrained: object
    profile: dict


def train(config):
    """Trains a registered model as `config` says and writes the run's files.

    Args:
      config: a `TrainConfig`.

    Returns:
      The `RunRecord` written into `output_dir` (`record.test_accuracy`, ...).

    Raises:
      UserError: for invalid configuration or data, an unwritable output folder, or a loss
        that became NaN.
    """
    run = _start(config)
    data = _load_data(run)
    models = _build_models(run, data)
    _prepare_folder(run)
    epoch_log = _fit(run, data, models)
    model, test_loss, test_accuracy = _evaluate(run, data, models)
    _io.save_keras_model(model, os.path.join(run.output_dir, "model.keras"))
    record = _record(run, data, models, model, epoch_log, test_loss, test_accuracy)
    record.save(run.output_dir)
    if run.worker.is_chief:
        _remove_backup(run.backup_dir)
    return record


def _start(config):
    """Checks the config and the run folder, resumable or new; sets the strategy and seed."""
    started = time.perf_counter()
    config.validate()
    strategy, worker = distributed.make_strategy(config.strategy)  # before any other TF work
    output_dir = (config.output_dir if worker.is_chief
                  else os.path.join(config.output_dir, f"worker_{worker.index}"))
    run = _Run(config, strategy, worker, output_dir, os.path.join(config.output_dir, "backup"),
               started)
    _check_writable(run.output_dir)
    _check_resumable(run.backup_dir, config)
    keras.utils.set_random_seed(config.seed)
    return run


def _load_data(run):
    """The dataset scaled as the model takes it (`TrainConfig.input_mean_std`), each
    worker's shard."""
    config = run.config
    mean, std = config.input_mean_std()
    data = load_dataset(config.dataset, input_shape=config.input_shape,
                        batch_size=config.batch_size, mean=mean, std=std, augment=config.augment,
                        validation_split=config.validation_split,
                        max_train_examples=config.max_train_examples,
                        max_eval_examples=config.max_eval_examples,
                        nothing_fraction=config.nothing_fraction,
                        plain_fraction=config.plain_fraction, seed=config.seed)
    if run.worker.count > 1:
        data = dataclasses.replace(data, **{split: distributed.shard_per_worker(getattr(data, split))
                                            for split in ("train", "validation", "test")})
    return data


def _build_models(run, data):
    """Builds or loads the model, restructures and wraps it for compression, and compiles
    what `fit()` will run."""
    config = run.config
    builder_kwargs = {key: getattr(config, key) for key in ("dropout", "small_input",
                                                           "architecture")
                      if getattr(config, key) is not None}
    steps_per_epoch = math.ceil(data.num_examples["train"] / config.batch_size)
    with run.strategy.scope():
        initial, pretrained = _initial_model(config, data.num_classes, builder_kwargs)
        float_model = _restructure(initial, config, data)
        model, callbacks = _wrap_for_training(float_model, config,
                                              config.epochs * steps_per_epoch,
                                              os.path.join(run.output_dir, "logs"))
        trained, train_data = model, data.train
        if config.distillation is not None:
            trained, distill_callbacks, train_data = _distiller(model, config, data)
            callbacks += distill_callbacks
            trained.compile(optimizer=_optimizer(config, steps_per_epoch), metrics=["accuracy"])
        else:
            model.compile(optimizer=_optimizer(config, steps_per_epoch, _library(model)),
                          loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        if not is_keras3_model(model):
            _build_step_state(trained, model.output_shape, train_data.element_spec)
    return _Models(model, float_model, trained, train_data, callbacks, pretrained,
                   profile(float_model))


def _prepare_folder(run):
    """The run folder and the resume settings, written once the data and the model are
    known to be usable."""
    try:
        os.makedirs(os.path.join(run.output_dir, "checkpoints"), exist_ok=True)
        _io.write_json(os.path.join(run.backup_dir, "config.json"), _resume_settings(run.config))
    except OSError as error:
        raise UserError(f"cannot write to output folder {run.output_dir}: "
                        f"{error.strerror}") from None


def _fit(run, data, models):
    """`fit()` with the run's callbacks; returns the epoch log (the whole run's history).

    Raises:
      UserError: a loss that became NaN.
    """
    config, output_dir = run.config, run.output_dir
    verbose = config.verbose if config.verbose is not None else (1 if sys.stdout.isatty() else 2)
    epoch_log = EpochLog(output_dir)
    api = _library(models.model)  # our callbacks serve both Kerases; Keras' own must match
    callbacks = [
        TrainingThroughput(),
        api.callbacks.TerminateOnNaN(),
        api.callbacks.TensorBoard(os.path.join(output_dir, "logs"), profile_batch=0),
        *models.callbacks,
        *([transfer.BackboneFreeze(config.freeze_epochs, models.model)]
          if config.freeze_epochs else []),
        *([distributed.SyncWorkerState(run.strategy)] if run.worker.count > 1 else []),
        # In this order, an epoch's checkpoint file proves that its backup is complete.
        epoch_log,
        api.callbacks.BackupAndRestore(os.path.join(run.backup_dir, "keras")),
        EpochCheckpoint(os.path.join(output_dir, "checkpoints"), keep=config.keep_checkpoints,
                        model=models.model),
    ]
    models.trained.fit(models.train_data, validation_data=data.validation,
                       epochs=config.epochs, callbacks=callbacks, verbose=verbose)
    losses = epoch_log.rows.get("loss", [])
    if any(not math.isfinite(loss) for loss in losses):
        _remove_backup(run.backup_dir)  # a diverged state is not worth resuming
        raise UserError(f"training diverged: the loss became NaN in epoch {len(losses)}; "
                        "lower --learning_rate")
    return epoch_log


def _evaluate(run, data, models):
    """The model as saved (compression wrappers stripped) and its test loss and accuracy."""
    with run.strategy.scope():
        model = _unwrap(models.model, models.float_model, run.config)
        model.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    test_loss, test_accuracy = model.evaluate(data.test, verbose=0)
    return model, float(test_loss), float(test_accuracy)


def _record(run, data, models, model, epoch_log, test_loss, test_accuracy):
    """The run's `RunRecord`: what it was and what it measured."""
    config, history = run.config, epoch_log.rows
    epoch_seconds = history["train_seconds"]
    steady = epoch_seconds[1:] or epoch_seconds  # the first epoch also traces the graph
    return RunRecord(
        model=config.model,
        dataset=config.dataset,
        dataset_source=data.source,
        test_accuracy=test_accuracy,
        test_loss=test_loss,
        test_examples=data.num_examples["test"],
        best_val_accuracy=float(max(history["val_accuracy"])),
        validation_examples=data.num_examples["validation"],
        epochs=len(history["loss"]),
        class_names=list(data.class_names),
        nothing_class=data.nothing_class,
        preprocessing=data.preprocessing.get_config(),
        input_shape=list(config.input_shape),
        num_examples=data.num_examples,
        params=models.profile["params"],
        macs=models.profile["macs"],
        keras_params=models.profile["keras_params"],
        train_seconds=float(sum(epoch_seconds)),
        train_images_per_second=float(data.num_examples["train"] * len(steady) / sum(steady)),
        wall_seconds=float(time.perf_counter() - run.started),
        quantization=config.qat_config.get_config() if config.qat else None,
        init_from=config.init_from and os.path.abspath(config.init_from),
        pretrained=models.pretrained,
        compression=_compression_record(model, config),
        distillation=_distillation_record(config),
        distribution={"strategy": config.strategy, "workers": run.worker.count,
                      "worker_index": run.worker.index,
                      "replicas": int(run.strategy.num_replicas_in_sync)},
        resumed_from_epoch=epoch_log.resumed_from_epoch,
        output_dir=run.output_dir,
        config=config.get_config(),
        model_config=(get_model_config(config.model).get_config()
                      if config.model in list_models() else None),
        artifacts={"model": "model.keras", "history": HISTORY_FILE,
                   "checkpoints": "checkpoints", "tensorboard": "logs"},
        versions=versions(),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )


def load_run(run_dir):
    """Reads a training run: returns (model, record) from `model.keras` and its `RunRecord`."""
    model_path = os.path.join(run_dir, "model.keras")
    if not os.path.isfile(model_path):
        raise UserError(f"not a training run folder: {model_path} is missing")
    return load_model(model_path), RunRecord.load(run_dir, required=True)
