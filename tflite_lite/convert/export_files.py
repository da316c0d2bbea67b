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
import hashlib
import os

from tflite_lite import compression
from tflite_lite._graph import classifier_shapes
from tflite_lite.architectures import deploy_form, list_models
from tflite_lite.contract import Contract
from tflite_lite.convert import converter as _converter
from tflite_lite.convert import flatbuffer
from tflite_lite.convert.api import LABELS_FILE, ExportResult, export, load_keras_model
from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement
from tflite_lite.convert.options import ExportConfig  # noqa: F401  (its home before)
from tflite_lite.data import Preprocessing, load_dataset
from tflite_lite.errors import UserError
from tflite_lite.run_record import FILE as RUN_FILE
from tflite_lite.run_record import RunRecord


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
    run = RunRecord.beside(config.model_path)
    model = _deploy_form(load_keras_model(config.model_path), run)
    preprocessing = input_preprocessing(config, run, model)
    data, class_names = _run_data(config, run, model, preprocessing)
    config = default_ptq(config, model, data, run)
    result = export(
        model, options=config.options, calibration=data, class_names=class_names,
        preprocessing=preprocessing, evaluate_on=data if config.evaluate else None,
        nothing_class=run.nothing_class, verbose=verbose, name=config.output)
    result.contract.update(quantization=run.quantization, compression=run.compression,
                           source_model=config.model_path, export_config=config.get_config())
    if result.evaluation is not None:
        result.evaluation["dataset"] = config.dataset or run.dataset
    result.contract = result.contract.rebase(os.getcwd(),
                                             os.path.dirname(config.contract_path) or ".")
    result.save(config.output)
    return dict(result.contract, model_file=os.path.basename(config.output),
                labels_file=LABELS_FILE)


def default_ptq(config, model, data, run=None):
    """`config` with `ptq="auto"` when it names no PTQ steps and the export is a float model's
    plain int8 conversion with a dataset, whose validation split scores the candidates
    (`auto_ptq`); as it is otherwise (QAT models, SavedModels, and clustered runs, whose
    shared weight values CLE and AdaRound would split). `ptq="none"` keeps the plain
    conversion. (`export()` in memory has no such default: its plain int8 is what it was
    asked.)"""
    plain_int8 = (config.mode == "int8" and config.quantizer == "converter"
                  and not config.keep_float_layers and config.accuracy_budget_pp is None)
    float_keras = hasattr(model, "layers") and not compression.is_quantized(model)
    clustered = run is not None and _clustered(run)
    if config.ptq is not None or not plain_int8 or data is None or not float_keras or clustered:
        return config
    return dataclasses.replace(config, ptq="auto")


def _clustered(run):
    """Whether the run's kernels share a few values on purpose (clustering, or QAT keeping
    clusters): at most 256 distinct values in every kernel."""
    record = run.compression or {}
    distinct = record.get("max_distinct_weights")
    return bool(record.get("clustering") or record.get("qat_preserve") == "clusters"
                or (distinct is not None and distinct <= 256))


def input_preprocessing(config, run, model):
    """How 0-255 pixels become the model's input: as `config` states it, else as the run
    record says, else pixels as they are for a model that rescales its own input (a
    Rescaling or Normalization layer first), else the builders' (pixels - 127.5) / 127.5 for
    a model named as a registered one.

    Raises:
      UserError: a model that none of these describes: it names what to pass.
    """
    input_shape = classifier_shapes(model)[0]
    stated = config.stated_mean_std()
    if stated is not None:
        return Preprocessing(input_shape, *stated)
    if run.input_preprocessing is not None:
        return run.input_preprocessing
    if _rescales_its_input(model):
        return Preprocessing(input_shape, mean=(0.0,), std=(1.0,))
    if getattr(model, "name", None) in list_models():
        return Preprocessing(input_shape)
    raise UserError(f"{config.model_path}: nothing says how this model's inputs are scaled (no "
                    f"{RUN_FILE} beside it, no Rescaling layer at its input); pass --input_range=0,1 "
                    "for pixels / 255, --input_range=-1,1, or --input_mean and --input_std")


def _rescales_its_input(model):
    layers = [layer for layer in getattr(model, "layers", [])
              if type(layer).__name__ != "InputLayer"]
    return bool(layers) and type(layers[0]).__name__ in ("Rescaling", "Normalization")


def _deploy_form(model, run):
    """The model as it is deployed: a registered family's deployment form (ShuffleNet V1's
    grouped convolutions), QAT ranges carried over; a SavedModel as it is."""
    registered = run.model if run.model in list_models() else None
    small_input = run.config.get("small_input")
    if not hasattr(model, "layers"):  # a SavedModel: its graph is what it is
        return model
    if not compression.is_quantized(model):
        return deploy_form(model, None if run.restructured else registered, small_input)
    if registered and not run.restructured:
        qat_config = compression.QATConfig.from_config(run.quantization or {})
        return compression.deploy_qat_model(model, run.model, small_input, qat_config)
    return model


def _run_data(config, run, model, preprocessing):
    """(the dataset for calibration and evaluation or None, the class names), as the run
    record and the config say, checked against the model."""
    input_shape, num_classes = classifier_shapes(model)
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
                            mean=preprocessing.mean, std=preprocessing.std,
                            nothing_fraction=run.config.get("nothing_fraction") or 0.0,
                            seed=config.seed)
        if data.num_classes != num_classes:
            raise UserError(f"the model predicts {num_classes} classes, dataset "
                            f"{dataset_name!r} has {data.num_classes}")
        class_names = class_names or list(data.class_names)
    class_names = list(class_names or [str(i) for i in range(num_classes)])
    if len(class_names) != num_classes:
        raise UserError(f"{RUN_FILE} lists {len(class_names)} class names, the model predicts "
                        f"{num_classes} classes")
    return data, class_names


def contract_test_set(contract, max_eval_examples=None, dataset=None):
    """The test split a contract's evaluation was measured on (or `dataset`'s), preprocessed
    as the contract says (`(dataset, total)`); its first `max_eval_examples` images, else as
    many as its evaluation used (else all)."""
    pre, evaluation = contract["preprocessing"], contract.get("evaluation") or {}
    data = load_dataset(dataset or evaluation["dataset"], input_shape=tuple(pre["input_shape"]),
                        mean=pre["mean"], std=pre["std"],
                        max_eval_examples=max_eval_examples or evaluation.get("num_examples"))
    return data.test, data.num_examples["test"]


class _RawOutputs:
    """A `TFLiteClassifier` called like a Keras model: its raw outputs for a batch."""

    def __init__(self, classifier):
        self.classifier = classifier

    def __call__(self, images, training=False):
        return self.classifier.raw_outputs(images)


def export_logits_twin(path, output, float_head=True, max_eval_examples=None, verbose=0):
    """Writes `output` (with its contract and labels): the released softmax model at `path`
    with the softmax left to the app (`flatbuffer.without_final_softmax`) and, with
    `float_head`, its classifier in float (`flatbuffer.with_float_head`), every other
    op and tensor as it was, and its TFLite accuracy measured again on the contract's test set.

    The contract keeps the source's Keras accuracy (the same Keras model) and records
    `changed_top1`, the test images whose top-1 class differs from the softmax model's (its
    ties, resolved); agreement with Keras needs the Keras model, so it is not carried over.
    `max_eval_examples` measures on fewer test images than the source's evaluation did.

    Returns:
      The new contract.

    Raises:
      UserError: a file that is not a TFLite flatbuffer, no contract beside it, or a model
        whose output is not a softmax.
    """
    data = flatbuffer.read_bytes(path)
    contract = Contract.beside(path)
    logits = flatbuffer.without_final_softmax(data, path)
    if float_head:
        logits = flatbuffer.with_float_head(logits, path)
    runtime = Contract.from_json(flatbuffer.read_metadata(logits, flatbuffer.CONTRACT_METADATA))
    contract = contract.rebase(os.path.dirname(path) or ".", os.path.dirname(output) or ".")
    description = flatbuffer.describe(logits)
    contract.update(output=runtime["output"], ops=description["op_counts"],
                    float_ops=flatbuffer.float_ops(description),
                    size_bytes=len(logits), logits_twin_of={
                        "model_file": os.path.basename(path),
                        "sha256": hashlib.sha256(data).hexdigest(),
                        "ops": contract["ops"], "output": contract["output"]})
    evaluation = contract.get("evaluation")
    if evaluation:
        test, total = contract_test_set(contract, max_eval_examples)
        # One pass: the softmax model stands where evaluate_agreement takes the Keras model.
        measured = evaluate_agreement(_RawOutputs(TFLiteClassifier(data)),
                                      TFLiteClassifier(logits), test, total, verbose,
                                      label="evaluating the softmax model and its twin")
        contract["evaluation"] = dict(
            {key: measured[key] for key in ("num_examples", "tflite_accuracy",
                                            "tflite_top1_ties")},
            keras_accuracy=evaluation.get("keras_accuracy"),
            changed_top1=measured["disagreements"], dataset=evaluation["dataset"])
    ExportResult(logits, contract).save(output)
    return dict(contract, model_file=os.path.basename(output), labels_file=LABELS_FILE)
