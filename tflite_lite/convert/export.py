"""Exporting a trained `.keras` classifier: flatbuffer, labels and contract, checked and measured.

    contract = export_model(ExportConfig(model_path="runs/a/model.keras", mode="int8",
                                         output="runs/a/model_int8.tflite", evaluate=True))

Writes, each atomically: the `.tflite`; `labels.txt` (one class name per line, in output
order) beside it; and `<stem>.json`, the contract an app or a later stage reads: input and
output tensors (shape, dtype, scale, zero point), preprocessing, class names, ops, size, MACs
and, with `evaluate`, Keras vs TFLite accuracy and their top-1 agreement on the test set.
Its file paths (`source_model`, `export_config.model_path` / `output`) are relative to the
contract's own folder, so no machine's folders leak into a model that is shipped.

The contract JSON is the source of truth. The flatbuffer also carries the labels and the
runtime part of the contract as model metadata entries (`tflite_lite.labels`,
`tflite_lite.contract`); the TFLite Support metadata schema needs the `tflite-support` package,
which has no build for this TensorFlow.
"""

import dataclasses
import os

import numpy as np

from tflite_lite import _progress
from tflite_lite import quantization
from tflite_lite._config import Config
from tflite_lite.architectures import deploy_form, list_models
from tflite_lite.convert import converter as _converter
from tflite_lite.convert.api import (LABELS_FILE, calibration_images, finish_export,
                                     load_keras_model, model_shapes)
from tflite_lite.convert.layer_errors import measure_layer_errors
from tflite_lite.convert.mixed_precision import select_mixed_precision
from tflite_lite.data import Preprocessing, load_dataset
from tflite_lite.errors import UserError
from tflite_lite.run_record import FILE as RUN_FILE
from tflite_lite.run_record import RunRecord

_EXPORT_CONFIG_PATHS = ("model_path", "output")


@dataclasses.dataclass
class ExportConfig(Config):
    """What to export and how.

    Attributes:
      model_path: a `.keras` file; its `run.json` (if beside it) gives preprocessing, class
        names and dataset.
      output: the `.tflite` path.
      mode: one of `converter.MODES`. Defaults to "int8".
      dataset: dataset for calibration and evaluation. Defaults to None (the run's dataset).
      evaluate: measure Keras vs TFLite accuracy and agreement on the test set. Defaults to False.
      representative_examples: calibration images from the training split. Defaults to 256.
      allow_float_ops: accept an integer export with ops left in float. Defaults to False.
      keep_float_layers: int8 only: keep the N layers with the worst quantization error in
        float (measured with TFLite's QuantizationDebugger); implies `allow_float_ops`.
        Defaults to 0.
      max_eval_examples: evaluate on the first N test images only. Defaults to None (all).
      accuracy_budget_pp: int8 only: choose per-layer precision (int8, some layers in float,
        or int16x8) so that validation accuracy stays within this many percentage points of
        the float model (see `mixed_precision`). Defaults to None (plain int8).
      max_float_layers: with `accuracy_budget_pp`, the most layers kept in float. Defaults to 8.
      sparse: store pruned weights in TFLite's sparse format where the converter finds it pays
        (`Optimize.EXPERIMENTAL_SPARSITY`). Defaults to False.
      seed: shuffling seed for the representative set. Defaults to 0.
    """

    _kind = "export"

    model_path: str
    output: str
    mode: str = "int8"
    dataset: str = None
    evaluate: bool = False
    representative_examples: int = 256
    allow_float_ops: bool = False
    keep_float_layers: int = 0
    max_eval_examples: int = None
    accuracy_budget_pp: float = None
    max_float_layers: int = 8
    sparse: bool = False
    seed: int = 0

    def validate(self):
        _converter.validate_mode(self.mode)
        if not self.output.endswith(".tflite"):
            raise UserError(f"output must end with .tflite, got {self.output!r}")
        if self.representative_examples < 1:
            raise UserError("representative_examples must be at least 1, got "
                            f"{self.representative_examples}")
        if self.keep_float_layers < 0:
            raise UserError(f"keep_float_layers must be >= 0, got {self.keep_float_layers}")
        if self.keep_float_layers and self.mode != "int8":
            raise UserError("keep_float_layers applies to int8 exports only")
        if self.accuracy_budget_pp is not None:
            if self.mode != "int8" or self.keep_float_layers:
                raise UserError("accuracy_budget_pp applies to int8 exports without "
                                "keep_float_layers")
            if not self.accuracy_budget_pp >= 0:
                raise UserError(f"accuracy_budget_pp must be >= 0, got {self.accuracy_budget_pp}")
        if self.sparse and (self.keep_float_layers or self.accuracy_budget_pp is not None):
            raise UserError("sparse applies to plain exports (no keep_float_layers or "
                            "accuracy_budget_pp)")
        if self.max_eval_examples is not None and self.max_eval_examples < 1:
            raise UserError(f"max_eval_examples must be >= 1, got {self.max_eval_examples}")

    @property
    def contract_path(self):
        return os.path.splitext(self.output)[0] + ".json"

    @property
    def labels_path(self):
        return os.path.join(os.path.dirname(self.output), LABELS_FILE)


def rebase_contract(contract, old_folder, new_folder):
    """`contract` with its file paths, relative to `old_folder` (or absolute, as older
    contracts wrote them), made relative to `new_folder`, where the contract is going."""

    def move(path):
        if path is None:
            return None
        return os.path.relpath(os.path.abspath(os.path.join(old_folder, path)),
                               os.path.abspath(new_folder))

    contract = dict(contract, source_model=move(contract.get("source_model")))
    if contract.get("export_config"):
        contract["export_config"] = dict(contract["export_config"], **{
            key: move(contract["export_config"].get(key)) for key in _EXPORT_CONFIG_PATHS})
    return contract


def _validation_set(data, limit=2000):
    """Up to `limit` validation images and labels: what a precision choice may look at."""
    images, labels = [], []
    for batch, batch_labels in data.validation:
        images.append(batch.numpy())
        labels.append(batch_labels.numpy().reshape(-1))
        if sum(len(b) for b in images) >= limit:
            break
    if not images:
        raise UserError("accuracy_budget_pp needs validation images; the dataset has none")
    return np.concatenate(images)[:limit], np.concatenate(labels)[:limit]


def export_model(config, verbose=0):
    """Converts, checks, optionally evaluates, and writes the export files.

    Args:
      config: an `ExportConfig`.
      verbose: 1 prints each step (calibration and conversion, evaluation with a progress
        bar) as it runs. Defaults to 0.

    Returns:
      The contract (also written to `config.contract_path`).

    Raises:
      UserError: bad model file, mismatched dataset, failed conversion, or float ops in an
        integer export that does not allow them.
    """
    config.validate()
    model = load_keras_model(config.model_path)
    input_shape, num_classes = model_shapes(model)
    run = RunRecord.beside(config.model_path)
    restructured = (run.get("compression") or {}).get("restructured")
    registered = run.model if run.model in list_models() else None
    small_input = run.config.get("small_input")
    if not quantization.is_quantized(model):
        model = deploy_form(model, None if restructured else registered, small_input)
    elif registered and not restructured:
        qat_config = quantization.QATConfig.from_config(run.get("quantization") or {})
        model = quantization.deploy_qat_model(model, run["model"], small_input, qat_config)
    preprocessing = run.preprocessing or Preprocessing(input_shape=input_shape)
    if preprocessing.input_shape != input_shape:
        raise UserError(f"{RUN_FILE} says input {preprocessing.input_shape}, the model has "
                        f"{input_shape}")
    dataset_name = config.dataset or run.dataset
    needs_data = config.mode in _converter.CALIBRATED_MODES or config.evaluate
    if needs_data and not dataset_name:
        raise UserError(f"{config.mode} export{' with evaluate' if config.evaluate else ''} "
                        f"needs a dataset (no {RUN_FILE} beside the model names one)")
    data, class_names = None, run.class_names
    if needs_data:
        data = load_dataset(dataset_name, input_shape=input_shape, batch_size=128,
                            mean=preprocessing.mean, std=preprocessing.std, seed=config.seed)
        if data.num_classes != num_classes:
            raise UserError(f"the model predicts {num_classes} classes, dataset "
                            f"{dataset_name!r} has {data.num_classes}")
        class_names = class_names or list(data.class_names)
    class_names = list(class_names or [str(i) for i in range(num_classes)])
    if len(class_names) != num_classes:
        raise UserError(f"{RUN_FILE} lists {len(class_names)} class names, the model predicts "
                        f"{num_classes} classes")

    representative = (calibration_images(data, config.representative_examples, input_shape)
                      if config.mode in _converter.CALIBRATED_MODES else None)
    kept_float, mixed_plan, mode = [], None, config.mode
    calibrating = (f", calibrating on {len(representative):,} images"
                   if representative is not None else "")
    if config.accuracy_budget_pp is not None:
        images, labels = _validation_set(data)
        with _progress.step(f"{config.output}: trying int8, int8 with float layers and "
                            f"int16x8 on {len(images):,} validation images{calibrating}",
                            verbose):
            tflite, mixed_plan = select_mixed_precision(
                model, representative, images, labels, config.accuracy_budget_pp,
                config.max_float_layers)
        chosen = next(c for c in mixed_plan["candidates"] if c["candidate"] == mixed_plan["chosen"])
        mode, kept_float = chosen["mode"], chosen["float_layers"]
    elif config.keep_float_layers:
        with _progress.step(f"{config.output}: converting to int8{calibrating}, keeping "
                            f"{config.keep_float_layers} layer(s) in float", verbose):
            calibrated = _converter.calibrate(model, representative)
            errors = measure_layer_errors(calibrated, representative[:64])
            kept_float = errors[:config.keep_float_layers]
            tflite = _converter.quantize_calibrated(calibrated,
                                                    [row["tensor"] for row in kept_float])
    else:
        with _progress.step(f"{config.output}: converting to {config.mode}{calibrating}",
                            verbose):
            tflite = _converter.convert_model(model, config.mode, representative,
                                              sparse=config.sparse)

    result = finish_export(
        model, tflite, mode, preprocessing, class_names,
        allow_float_ops=config.allow_float_ops or bool(kept_float),
        evaluate_on=data if config.evaluate else None,
        max_eval_examples=config.max_eval_examples, verbose=verbose,
        quantization=run.get("quantization"), compression=run.get("compression"),
        mixed_precision=mixed_plan,
        float_layers=[{"tensor": row["tensor"], "layer": row.get("layer"),
                       "rmse_over_scale": row["rmse_over_scale"]} for row in kept_float],
        representative_examples=0 if representative is None else len(representative),
        source_model=config.model_path, export_config=config.get_config())
    if result.evaluation is not None:
        result.evaluation["dataset"] = dataset_name
    result.contract = rebase_contract(result.contract, os.getcwd(),
                                      os.path.dirname(config.contract_path) or ".")
    result.save(config.output)
    return dict(result.contract, model_file=os.path.basename(config.output),
                labels_file=LABELS_FILE)
