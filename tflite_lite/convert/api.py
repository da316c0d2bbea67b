"""The converter for a model in memory: `export(model, ...)` → `ExportResult`.

    result = tflite_lite.export(model, mode="int8", calibration=data, evaluate_on=data)
    print(result)                     # mode, size, int8 check, Keras vs TFLite accuracy
    result.save("out/model_int8.tflite")

`model` is a tf_keras (Keras 2) or Keras 3 model, or the path of a `.keras` file saved by
either. `calibration` and `evaluate_on` take a loaded `Dataset` (its training and test
splits), a `tf.data.Dataset` of images or `(images, labels)`, or numpy arrays (`images` or
`(images, labels)`), all already preprocessed as the model expects.
"""

import dataclasses
import datetime
import json
import os

import numpy as np

from tflite_lite import _io, _progress, quantization
from tflite_lite._keras import is_keras3_model, tf
from tflite_lite.convert import converter as _converter
from tflite_lite.convert import flatbuffer
from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement
from tflite_lite.data import Dataset, Preprocessing
from tflite_lite.errors import UserError

CONTRACT_FORMAT = "tflite_lite.contract/1"
LABELS_FILE = "labels.txt"
_EVAL_BATCH = 128


@dataclasses.dataclass
class ExportResult:
    """A converted, checked flatbuffer and its contract.

    Attributes:
      tflite: the flatbuffer bytes (with the labels and runtime contract as metadata).
      contract: what an app needs (input/output dtype, scale, zero point, preprocessing, class
        names) and what was measured (size, MACs, ops, float ops, evaluation).
    """

    tflite: bytes
    contract: dict

    @property
    def float_ops(self):
        """Ops an integer model still computes in float (empty for an all-integer model)."""
        return self.contract["float_ops"]

    @property
    def evaluation(self):
        """Keras vs TFLite accuracy and top-1 agreement, or None without `evaluate_on`."""
        return self.contract["evaluation"]

    def __repr__(self):
        c = self.contract
        text = (f"ExportResult({c['mode']}, {c['size_bytes']:,} bytes, input "
                f"{c['input']['dtype']}{c['input']['shape']}, output {c['output']['dtype']}, "
                f"{len(c['float_ops'])} float ops")
        if c["evaluation"]:
            e = c["evaluation"]
            text += (f", Keras {e['keras_accuracy']:.4f} vs TFLite {e['tflite_accuracy']:.4f} "
                     f"on {e['num_examples']:,} images")
        return text + ")"

    def save(self, path):
        """Writes `path` (a `.tflite`), `<stem>.json` (the contract) and `labels.txt` beside it,
        each atomically, the model last; returns `path`."""
        path = os.fspath(path)
        if not path.endswith(".tflite"):
            raise UserError(f"output must end with .tflite, got {path!r}")
        folder = os.path.dirname(path) or "."
        contract = dict(self.contract, model_file=os.path.basename(path),
                        labels_file=LABELS_FILE)
        try:
            os.makedirs(folder, exist_ok=True)
            with _io.atomic_path(os.path.join(folder, LABELS_FILE)) as tmp:
                with open(tmp, "w") as f:
                    f.write("\n".join(contract["class_names"]) + "\n")
            _io.write_json(os.path.splitext(path)[0] + ".json", contract)
            with _io.atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    f.write(self.tflite)
        except OSError as error:
            raise UserError(f"cannot write the export to {path}: {error.strerror}") from None
        return path


def model_shapes(model):
    """(input shape (H, W, C), number of classes) of a one-input, one-output classifier."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"expected a classifier with one input and one output, got "
                        f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if len(input_shape) != 3 or None in input_shape or len(output_shape) != 1:
        raise UserError(f"expected an image classifier (H, W, C) → (classes,), got "
                        f"{input_shape} → {output_shape}")
    return input_shape, output_shape[0]


def load_keras_model(path):
    """A `.keras` file saved by tf_keras (also QAT-, pruning- or clustering-wrapped) or by
    Keras 3, loaded in safe mode; any failure is one `UserError` line."""
    return quantization.load_model(path, allow_keras3=True)


def _as_model(model):
    if isinstance(model, (str, os.PathLike)):
        return load_keras_model(os.fspath(model))
    if not (hasattr(model, "inputs") and hasattr(model, "outputs") and callable(model)):
        raise UserError(f"expected a Keras model or a .keras path, got {type(model).__name__}")
    return model


def _batched(data, split):
    """`data` as a batched tf.data.Dataset of images or (images, labels)."""
    if isinstance(data, Dataset):
        return getattr(data, split)
    if isinstance(data, tf.data.Dataset):
        first = tf.nest.flatten(data.element_spec)[0]
        return data if first.shape.rank == 4 else data.batch(_EVAL_BATCH)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = (np.asarray(a) for a in data)
        if len(images) != len(labels):
            raise UserError(f"{len(images)} images but {len(labels)} labels")
        return tf.data.Dataset.from_tensor_slices((images.astype(np.float32), labels)).batch(
            _EVAL_BATCH)
    images = np.asarray(data)
    if images.dtype == object or images.ndim != 4:
        raise UserError(f"expected images of shape (N, H, W, C), got {images.shape}")
    return tf.data.Dataset.from_tensor_slices(images.astype(np.float32)).batch(_EVAL_BATCH)


def calibration_images(data, count, input_shape):
    """Up to `count` preprocessed images (N, H, W, C) from `data` (see the module docstring)."""
    batches, total = [], 0
    for element in _batched(data, "train"):
        images = element[0] if isinstance(element, (tuple, list)) else element
        batches.append(np.asarray(images, np.float32))
        total += len(batches[-1])
        if total >= count:
            break
    if not total:
        raise UserError("the calibration data holds no images")
    images = np.concatenate(batches)[:count]
    if tuple(images.shape[1:]) != tuple(input_shape):
        raise UserError(f"calibration images have shape {tuple(images.shape[1:])}, the model "
                        f"expects {tuple(input_shape)}")
    return images


def _evaluation_set(data, input_shape, limit=None):
    test = _batched(data, "test")
    if not isinstance(test.element_spec, tuple):
        raise UserError("evaluate_on needs labels: give (images, labels) or a Dataset")
    if limit is not None:
        test = test.unbatch().take(limit).batch(_EVAL_BATCH)
    shape = tuple(test.element_spec[0].shape[1:])
    if shape != tuple(input_shape):
        raise UserError(f"evaluation images have shape {shape}, the model expects "
                        f"{tuple(input_shape)}")
    total = data.num_examples["test"] if isinstance(data, Dataset) else None
    if total is None:
        cardinality = int(test.unbatch().cardinality()) if limit is None else -1
        total = cardinality if cardinality >= 0 else None
    if limit is not None and total is not None:
        total = min(total, limit)
    return test, total


def _tensor_contract(tensor):
    return {"name": tensor["name"], "shape": tensor["shape"], "dtype": tensor["dtype"],
            "scale": tensor["scale"][0] if tensor["scale"] else None,
            "zero_point": tensor["zero_point"][0] if tensor["zero_point"] else None}


def finish_export(model, tflite, mode, preprocessing, class_names, *, allow_float_ops=False,
                  evaluate_on=None, max_eval_examples=None, verbose=0, **fields):
    """Checks a converted flatbuffer, embeds its runtime contract, optionally evaluates it
    against `model`, and returns the `ExportResult`. `fields` go into the contract as given.

    Raises:
      UserError: an integer mode whose model still computes ops in float, unless
        `allow_float_ops`.
    """
    input_shape, num_classes = model_shapes(model)
    class_names = [str(name) for name in class_names or range(num_classes)]
    if len(class_names) != num_classes:
        raise UserError(f"{len(class_names)} class names for a model of {num_classes} classes")
    description = flatbuffer.describe(tflite)
    float_ops = flatbuffer.float_ops(description) if mode in _converter.CALIBRATED_MODES else []
    if float_ops and not allow_float_ops:
        shown = "; ".join(float_ops[:3]) + (" ..." if len(float_ops) > 3 else "")
        raise UserError(f"{mode} export still computes {len(float_ops)} op(s) in float: "
                        f"{shown} (allow with --allow_float_ops)")
    runtime = {
        "format": CONTRACT_FORMAT,
        "mode": mode,
        "input": _tensor_contract(description["inputs"][0]),
        "output": dict(_tensor_contract(description["outputs"][0]), activation="softmax"),
        "preprocessing": preprocessing.get_config(),
        "class_names": class_names,
    }
    tflite = flatbuffer.embed_metadata(tflite, {
        flatbuffer.CONTRACT_METADATA: json.dumps(runtime).encode(),
        flatbuffer.LABELS_METADATA: ("\n".join(class_names) + "\n").encode()})
    evaluation = None
    if evaluate_on is not None:
        test, total = _evaluation_set(evaluate_on, input_shape, max_eval_examples)
        evaluation = evaluate_agreement(model, TFLiteClassifier(tflite), test, total, verbose)
    contract = dict(
        runtime,
        num_classes=num_classes,
        size_bytes=len(tflite),
        macs=description["macs"],
        ops=description["op_counts"],
        float_ops=float_ops,
        weights=(flatbuffer.measure_weight_bits(tflite)
                 if mode in _converter.CALIBRATED_MODES else None),
        evaluation=evaluation,
        keras="keras3" if is_keras3_model(model) else "tf_keras",
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    contract.update(fields)
    return ExportResult(tflite, contract)


def export(model, *, mode="int8", calibration=None, class_names=None, preprocessing=None,
           evaluate_on=None, representative_examples=256, allow_float_ops=False, sparse=False,
           max_eval_examples=None, verbose=0):
    """Converts a Keras classifier to a checked TFLite flatbuffer.

    Args:
      model: a tf_keras or Keras 3 model (one image input, one class-score output), or a
        `.keras` path saved by either.
      mode: "float32", "dynamic", "float16", "int8" (int8 input and output) or "int16x8".
        Defaults to "int8".
      calibration: images for the int8 / int16x8 ranges (see the module docstring); a
        `Dataset` gives its training split. Required for those modes.
      class_names: one name per output class. Defaults to the `Dataset`'s, else "0", "1", ...
      preprocessing: a `Preprocessing` (or its config) that turns 0-255 pixels into model input,
        recorded for apps. Defaults to the `Dataset`'s, else (pixel - 127.5) / 127.5.
      evaluate_on: `(images, labels)` to measure Keras vs TFLite accuracy and agreement on; a
        `Dataset` gives its test split. Defaults to None (no evaluation).
      representative_examples: calibration images used. Defaults to 256.
      allow_float_ops: accept an integer model with ops left in float. Defaults to False.
      sparse: store pruned weights in TFLite's sparse format. Defaults to False.
      max_eval_examples: evaluate on the first N images only. Defaults to None (all).
      verbose: 1 prints the conversion and an evaluation progress bar. Defaults to 0.

    Returns:
      An `ExportResult`; `.save(path)` writes the `.tflite`, its contract and labels.

    Raises:
      UserError: a model that is not a one-input image classifier, missing or mismatched
        calibration or evaluation data, a failed conversion, or float ops in an integer mode.
    """
    _converter.validate_mode(mode)
    model = _as_model(model)
    input_shape, _ = model_shapes(model)
    source = next((d for d in (calibration, evaluate_on) if isinstance(d, Dataset)), None)
    if preprocessing is None:
        preprocessing = source.preprocessing if source else Preprocessing(input_shape)
    elif isinstance(preprocessing, dict):
        preprocessing = Preprocessing.from_config(preprocessing)
    if tuple(preprocessing.input_shape) != tuple(input_shape):
        raise UserError(f"preprocessing is for input {preprocessing.input_shape}, the model "
                        f"takes {input_shape}")
    if class_names is None and source is not None:
        class_names = list(source.class_names)
    representative = None
    if mode in _converter.CALIBRATED_MODES:
        if calibration is None:
            raise UserError(f"{mode} export needs calibration images (calibration=...)")
        representative = calibration_images(calibration, representative_examples, input_shape)
    with _progress.step(f"converting to {mode}" + (
            f", calibrating on {len(representative):,} images" if representative is not None
            else ""), verbose):
        tflite = _converter.convert_model(model, mode, representative, sparse=sparse)
    return finish_export(model, tflite, mode, preprocessing, class_names,
                         allow_float_ops=allow_float_ops, evaluate_on=evaluate_on,
                         max_eval_examples=max_eval_examples, verbose=verbose,
                         representative_examples=0 if representative is None
                         else len(representative))


def evaluate(tflite, data, keras_model=None, max_examples=None, verbose=0):
    """Top-1 accuracy of a `.tflite` (bytes, path or `ExportResult`) on `(images, labels)` /
    a `Dataset`'s test split; with `keras_model`, also its accuracy and their agreement."""
    if isinstance(tflite, ExportResult):
        tflite = tflite.tflite
    elif isinstance(tflite, (str, os.PathLike)):
        tflite = flatbuffer.read_bytes(os.fspath(tflite))
    classifier = TFLiteClassifier(tflite)
    test, total = _evaluation_set(data, classifier.input_shape[1:], max_examples)
    keras_model = None if keras_model is None else _as_model(keras_model)
    return evaluate_agreement(keras_model, classifier, test, total, verbose)
