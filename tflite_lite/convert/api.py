"""The converter for a model in memory: `export(model, ...)` → `ExportResult`.

    result = tflite_lite.export(model, mode="int8", calibration=data, evaluate_on=data)
    print(result)                     # mode, size, int8 check, Keras vs TFLite accuracy
    result.save("out/model_int8.tflite")

`model` is a tf_keras (Keras 2) or Keras 3 model, the path of a `.keras` file saved by
either, or a SavedModel folder. `calibration` and `evaluate_on` take a loaded `Dataset` (its
training and test splits), a `tf.data.Dataset` of images or `(images, labels)`, or numpy
arrays (`images` or `(images, labels)`), all already preprocessed as the model expects.
"""

import dataclasses
import datetime
import json
import os
import warnings

import numpy as np

from tflite_lite import _io, _progress, compression
from tflite_lite._graph import classifier_shapes
from tflite_lite.contract import FORMAT as CONTRACT_FORMAT
from tflite_lite.contract import LABELS_FILE, Contract
from tflite_lite._keras import is_keras3_model, keras3, tf
from tflite_lite.convert import auto_ptq
from tflite_lite.convert import converter as _converter
from tflite_lite.convert import flatbuffer, litert_quantizer, micro
from tflite_lite.convert import scores as _scores
from tflite_lite.convert import xnnpack
from tflite_lite.convert.evaluate import TFLiteClassifier, evaluate_agreement
from tflite_lite.convert.layer_errors import measure_layer_errors
from tflite_lite.convert.mixed_precision import select_mixed_precision
from tflite_lite.convert.options import ExportOptions
from tflite_lite.convert.saved_model import SavedModelClassifier
from tflite_lite.data import Dataset, Preprocessing
from tflite_lite.errors import UserError

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
    contract: Contract

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
        each atomically, the model last; for the micro target, then its C source pair
        (`<stem>_model_data.h` / `.cc`). Returns `path`."""
        path = os.fspath(path)
        if not path.endswith(".tflite"):
            raise UserError(f"output must end with .tflite, got {path!r}")
        folder = os.path.dirname(path) or "."
        contract = Contract(self.contract, model_file=os.path.basename(path),
                            labels_file=LABELS_FILE)
        try:
            os.makedirs(folder, exist_ok=True)
            with _io.atomic_path(os.path.join(folder, LABELS_FILE)) as tmp:
                with open(tmp, "w") as f:
                    f.write("\n".join(contract["class_names"]) + "\n")
            contract.save_beside(path)
            with _io.atomic_path(path) as tmp:
                with open(tmp, "wb") as f:
                    f.write(self.tflite)
        except OSError as error:
            raise UserError(f"cannot write the export to {path}: {error.strerror}") from None
        if self.contract.get("micro"):
            stem = os.path.splitext(os.path.basename(path))[0]
            micro.write_c_source(self.tflite, folder, stem, self.contract["micro"]["arena_bytes"],
                                 source=path)
        return path


def load_keras_model(path):
    """A `.keras` file saved by tf_keras (also QAT-, pruning- or clustering-wrapped) or by
    Keras 3, loaded in safe mode, or a SavedModel folder (a `SavedModelClassifier`); any
    failure is one `UserError` line."""
    if os.path.isdir(path):
        return SavedModelClassifier(path)
    return compression.load_model(path, allow_keras3=True)


def _as_model(model):
    if isinstance(model, (str, os.PathLike)):
        return load_keras_model(os.fspath(model))
    if not (hasattr(model, "inputs") and hasattr(model, "outputs") and callable(model)):
        raise UserError(f"expected a Keras model, a .keras path or a SavedModel folder, got "
                        f"{type(model).__name__}")
    return model


def _check_backend(model):
    """A Keras 3 model converts through TensorFlow: on another backend it is refused."""
    if _keras_flavour(model) != "keras3":
        return
    backend = keras3().backend.backend()
    if backend != "tensorflow":
        raise UserError(f"export converts with TensorFlow, and Keras runs on {backend}: save "
                        "the model (model.save('model.keras')) and export the file with "
                        "KERAS_BACKEND=tensorflow (python scripts/export.py --model "
                        "model.keras ...)")


def _keras_flavour(model):
    if isinstance(model, SavedModelClassifier):
        return "saved_model"
    return "keras3" if is_keras3_model(model) else "tf_keras"


def _check_image_dtype(dtype):
    """Images must be preprocessed floats: raw uint8 pixels would calibrate and evaluate the
    model on inputs it never saw, silently."""
    dtype = np.dtype(getattr(dtype, "as_numpy_dtype", dtype))
    if dtype.kind != "f":
        raise UserError(f"images are {dtype.name}; give preprocessed float images as the model "
                        "takes them (e.g. (pixels - 127.5) / 127.5, or .astype('float32') if "
                        "the model rescales them itself)")


def _batched(data, split):
    """`data` as a batched tf.data.Dataset of images or (images, labels)."""
    if isinstance(data, Dataset):
        return getattr(data, split)
    if isinstance(data, tf.data.Dataset):
        first = tf.nest.flatten(data.element_spec)[0]
        _check_image_dtype(first.dtype)
        return data if first.shape.rank == 4 else data.batch(_EVAL_BATCH)
    if isinstance(data, (tuple, list)) and len(data) == 2:
        images, labels = (np.asarray(a) for a in data)
        if len(images) != len(labels):
            raise UserError(f"{len(images)} images but {len(labels)} labels")
    else:
        images, labels = np.asarray(data), None
    if images.dtype == object or images.ndim != 4:
        raise UserError(f"expected images of shape (N, H, W, C), got {images.shape}")
    _check_image_dtype(images.dtype)
    images = images.astype(np.float32)
    return tf.data.Dataset.from_tensor_slices(
        images if labels is None else (images, labels)).batch(_EVAL_BATCH)


def _first_images(data, split, count, input_shape, what, labelled=False):
    """The first `count` images of `data`'s `split` as float32 (N, H, W, C), and their labels
    when `labelled`; `what` names the data in messages."""
    images, labels = [], []
    for element in _batched(data, split):
        pair = isinstance(element, (tuple, list))
        if labelled and not pair:
            raise UserError(f"{what} images need labels: give (images, labels) or a Dataset")
        images.append(np.asarray(element[0] if pair else element, np.float32))
        if labelled:
            labels.append(np.asarray(element[1]).reshape(-1))
        if sum(map(len, images)) >= count:
            break
    if not images:
        raise UserError(f"the {what} data holds no images")
    images = np.concatenate(images)[:count]
    if tuple(images.shape[1:]) != tuple(input_shape):
        raise UserError(f"{what} images have shape {tuple(images.shape[1:])}, the model "
                        f"expects {tuple(input_shape)}")
    return (images, np.concatenate(labels)[:count]) if labelled else images


def _calibration_images(data, count, input_shape):
    """Up to `count` preprocessed images (N, H, W, C) from `data` (see the module docstring)."""
    return _first_images(data, "train", count, input_shape, "calibration")


def _validation_set(data, input_shape, limit=2000, what="accuracy_budget_pp"):
    """Up to `limit` validation images and labels, as numpy arrays: what a precision choice
    may look at (a `Dataset` gives its validation split, never its test split)."""
    if data is None:
        raise UserError(f"{what} needs validation=(images, labels) or a Dataset with a "
                        "validation split")
    return _first_images(data, "validation", limit, input_shape, "validation", labelled=True)


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


def _finish_export(model, tflite, mode, preprocessing, class_names, *, rejection,
                   scores="probabilities", float_head=False, allow_float_ops=False,
                   evaluate_on=None, max_eval_examples=None, verbose=0, **fields):
    """Checks a converted flatbuffer, embeds its runtime contract, optionally evaluates it
    against `model`, and returns the `ExportResult`. `fields` go into the contract as given.

    Raises:
      UserError: an integer mode whose model still computes ops in float, unless
        `allow_float_ops`.
    """
    input_shape, num_classes = classifier_shapes(model)
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
        # scores "logits": the app applies the softmax to the dequantized output
        "output": dict(_tensor_contract(description["outputs"][0]), activation="softmax",
                       scores=scores, float_head=float_head,
                       head_weights=flatbuffer.float_head_weights(description)),
        "preprocessing": preprocessing.get_config(),
        "class_names": class_names,
        "rejection": rejection,
    }
    tflite = flatbuffer.embed_metadata(tflite, {
        flatbuffer.CONTRACT_METADATA: json.dumps(runtime).encode(),
        flatbuffer.LABELS_METADATA: ("\n".join(class_names) + "\n").encode()})
    evaluation = None
    if evaluate_on is not None:
        test, total = _evaluation_set(evaluate_on, input_shape, max_eval_examples)
        evaluation = evaluate_agreement(model, TFLiteClassifier(tflite), test, total, verbose)
    contract = Contract(
        runtime,
        num_classes=num_classes,
        size_bytes=len(tflite),
        macs=description["macs"],
        ops=description["op_counts"],
        float_ops=float_ops,
        weights=(flatbuffer.measure_weight_bits(tflite)
                 if mode in _converter.CALIBRATED_MODES else None),
        evaluation=evaluation,
        keras=_keras_flavour(model),
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    )
    contract.update(fields)
    return ExportResult(tflite, contract)


def export(model, *, options=None, calibration=None, class_names=None, preprocessing=None,
           evaluate_on=None, validation=None, nothing_class=None, min_score=0.0, verbose=0,
           name=None, **option_values):
    """Converts a Keras classifier to a checked TFLite flatbuffer.

    Args:
      model: a tf_keras or Keras 3 model (one image input, one class-score output), the path of
        a `.keras` file saved by either, or a SavedModel folder.
      options: an `ExportOptions`: how to convert (mode, output scores, PTQ steps, per-layer
        precision, target, ...). Defaults to None: the options given by name instead.
      calibration: images for the int8 / int16x8 ranges and the PTQ steps (see the module
        docstring); a `Dataset` gives its training split. Required for those modes.
      class_names: one name per output class. Defaults to the `Dataset`'s, else "0", "1", ...
      preprocessing: a `Preprocessing` (or its config) that turns 0-255 pixels into model input,
        recorded for apps. Defaults to the `Dataset`'s, else (pixel - 127.5) / 127.5.
      evaluate_on: `(images, labels)` to measure Keras vs TFLite accuracy and agreement on; a
        `Dataset` gives its test split. Defaults to None (no evaluation).
      validation: `(images, labels)` that `accuracy_budget_pp` chooses on (never the test
        set); a `Dataset` gives up to 2,000 of its validation images. Defaults to the
        calibration `Dataset`'s.
      nothing_class: the index (or name) of the class that means "no object here", e.g. the
        "nothing" class of `load_dataset(..., nothing_fraction=...)`. Defaults to the
        `Dataset`'s, else None.
      min_score: a best score below this also means "nothing recognized". Defaults to 0.0.
        Both go into the contract's `rejection` field, which apps apply.
      verbose: 1 prints the conversion and an evaluation progress bar. Defaults to 0.
      name: what the progress lines call the export (e.g. its output path). Defaults to None.
      **option_values: `ExportOptions` fields by name, e.g. `mode="int8"`, `ptq="cle"`,
        `scores="logits"`, `target="micro"` (without `options`).

    Returns:
      An `ExportResult`; `.save(path)` writes the `.tflite`, its contract and labels.

    Raises:
      UserError: an unknown or contradictory option, a model that is not a one-input image
        classifier, missing or mismatched calibration or evaluation data, a failed
        conversion, or float ops in an integer mode.
    """
    options = _resolve_options(options, option_values)
    model = _as_model(model)
    _check_backend(model)
    labels = _labelling(model, calibration, evaluate_on, class_names, preprocessing,
                        nothing_class, min_score)
    converted, scores = _scores.choose(model, options.mode, options.target_scores)
    representative = _calibration(options, calibration, model)
    step = _Step(name, verbose, representative)
    validation = validation if validation is not None else calibration
    auto_plan = litert_snr = None
    if options.ptq == "auto":
        tflite, ptq_report, auto_plan = _auto_ptq(converted, model, options, representative,
                                                  validation, scores, step)
        mode, kept_float, mixed_plan = "int8", [], None
    else:
        converted, ptq_report = _run_ptq_steps(converted, model, options, representative,
                                               step)
        if options.quantizer == "litert":
            tflite, litert_snr = _litert_convert(converted, options.mode, representative, step,
                                                 snr=True)
            mode, kept_float, mixed_plan = options.mode, [], None
        else:
            tflite, mode, kept_float, mixed_plan = _convert(converted, options, representative,
                                                            validation, step)
    tflite, widened, float_head = _final_form(tflite, mode, scores, options)
    delegated = _xnnpack_partitions(tflite, widened, name) if mode == "int8" else None
    if options.target == "micro":
        micro.check_micro_ready(tflite, name or "model")
    result = _finish_export(
        model, tflite, mode, labels["preprocessing"], labels["class_names"],
        rejection=labels["rejection"],
        scores="probabilities" if scores == "probabilities" else "logits", float_head=float_head,
        allow_float_ops=options.allow_float_ops or bool(kept_float), evaluate_on=evaluate_on,
        max_eval_examples=options.max_eval_examples, verbose=verbose, mixed_precision=mixed_plan,
        xnnpack=delegated,
        float_layers=[{"tensor": row["tensor"], "layer": row.get("layer"),
                       "rmse_over_scale": row["rmse_over_scale"]} for row in kept_float],
        representative_examples=0 if representative is None else len(representative),
        ptq=ptq_report, ptq_auto=auto_plan, per_tensor=options.per_tensor,
        litert_snr=litert_snr,
        quantizer="litert" if (auto_plan or {}).get("chosen") == auto_ptq.LITERT
        else options.quantizer)
    if options.target == "micro":
        _add_micro_costs(result, name)
    return result


def _resolve_options(options, option_values):
    if options is None:
        return ExportOptions.from_config(option_values)
    if option_values:
        raise UserError(f"give the export options either as options=... or by name, not both "
                        f"({', '.join(sorted(option_values))})")
    if not isinstance(options, ExportOptions):
        raise UserError(f"options must be an ExportOptions, got {type(options).__name__}")
    return options


def _labelling(model, calibration, evaluate_on, class_names, preprocessing, nothing_class,
               min_score):
    """What the contract says about the model's input and classes: preprocessing, class names
    and the rejection rule, from the arguments or else from the `Dataset` given."""
    input_shape, num_classes = classifier_shapes(model)
    source = next((d for d in (calibration, evaluate_on) if isinstance(d, Dataset)), None)
    if preprocessing is None:
        preprocessing = source.preprocessing if source else Preprocessing(input_shape)
    elif isinstance(preprocessing, dict):
        preprocessing = Preprocessing.from_config(preprocessing)
    if tuple(preprocessing.input_shape) != tuple(input_shape):
        raise UserError(f"preprocessing is for input {preprocessing.input_shape}, the model "
                        f"takes {input_shape}")
    if source is not None and source.num_classes != num_classes:
        raise UserError(f"the model predicts {num_classes} classes, the dataset has "
                        f"{source.num_classes}")
    if class_names is None and source is not None:
        class_names = list(source.class_names)
    if nothing_class is None and source is not None:
        nothing_class = source.nothing_class
    return {"preprocessing": preprocessing, "class_names": class_names,
            "rejection": rejection_rule(nothing_class, min_score, class_names, num_classes)}


def _calibration(options, calibration, model):
    """The calibration images a calibrated mode needs (None for the others)."""
    if options.mode not in _converter.CALIBRATED_MODES:
        return None
    if calibration is None:
        raise UserError(f"{options.mode} export needs calibration images (calibration=...)")
    return _calibration_images(calibration, options.representative_examples,
                               classifier_shapes(model)[0])


class _Step:
    """The progress lines of one export: `with step("converting ..."):`."""

    def __init__(self, name, verbose, representative):
        self.prefix, self.verbose = (f"{name}: " if name else ""), verbose
        self.calibrating = (f", calibrating on {len(representative):,} images"
                            if representative is not None else "")

    def __call__(self, text):
        return _progress.step(self.prefix + text, self.verbose)


def _run_ptq_steps(converted, model, options, representative, step):
    """The float model after the PTQ steps, and their report (None without steps)."""
    steps = options.ptq_steps
    if not steps:
        return converted, None
    if compression.is_quantized(model):
        raise UserError("PTQ steps are for float models; this one is already QAT-trained")
    with step(f"PTQ steps {', '.join(steps)} on {len(representative):,} calibration images"):
        return compression.ptq.prepare(converted, steps, representative, options.per_tensor,
                                       options.adaround_seconds_per_layer)


def _litert_convert(converted, mode, representative, step, snr=False):
    """LiteRT Quantizer's file from the float32 one; with `snr`, (flatbuffer, its per-tensor
    SNR report)."""
    with step(f"converting to float32, then {mode} by LiteRT Quantizer{step.calibrating}"):
        float_tflite = _converter.convert_model(converted, "float32")
        return litert_quantizer.quantize(float_tflite, mode, representative, snr=snr)


def _convert(converted, options, representative, validation, step):
    """(flatbuffer, mode it has, layers kept in float, mixed-precision plan or None)."""
    if options.accuracy_budget_pp is not None:
        images, labels = _validation_set(validation, classifier_shapes(converted)[0])
        with step(f"trying int8, int8 with float layers and int16x8 on {len(images):,} "
                  f"validation images{step.calibrating}"):
            tflite, plan = select_mixed_precision(
                converted, representative, images, labels, options.accuracy_budget_pp,
                options.max_float_layers)
        chosen = next(c for c in plan["candidates"] if c["candidate"] == plan["chosen"])
        return tflite, chosen["mode"], chosen["float_layers"], plan
    if options.keep_float_layers:
        with step(f"converting to int8{step.calibrating}, keeping "
                  f"{options.keep_float_layers} layer(s) in float"):
            calibrated = _converter.calibrate(converted, representative)
            kept = measure_layer_errors(calibrated, representative[:64])
            kept = kept[:options.keep_float_layers]
            tflite = _converter.quantize_calibrated(calibrated, [row["tensor"] for row in kept])
        return tflite, options.mode, kept, None
    with step(f"converting to {options.mode}{step.calibrating}"):
        tflite = _converter.convert_model(converted, options.mode, representative,
                                          sparse=options.sparse, per_tensor=options.per_tensor)
    return tflite, options.mode, [], None


def _final_form(tflite, mode, scores, options):
    """(flatbuffer, XNNPACK scales widened, whether the head runs in float): the converter's
    int8 file made one XNNPACK partition and given its float head, as the export writes it."""
    tflite, widened = xnnpack.fit_scales(tflite) if mode == "int8" else (tflite, 0)
    tflite, float_head = _float_head(tflite, scores, explicit=options.scores is not None)
    return tflite, widened, float_head


def _auto_ptq(converted, model, options, representative, validation, scores, step):
    """`ptq="auto"` (`auto_ptq`): (flatbuffer, its PTQ report, the plan)."""
    if compression.is_quantized(model):
        raise UserError("ptq='auto' chooses PTQ steps for float models; this one is already "
                        "QAT-trained (export it without ptq)")
    if validation is None or isinstance(validation, np.ndarray):  # no labels to score on
        validation = None
    limit = min(2000, options.max_eval_examples or 2000)  # a quick run's bound holds here too
    images, labels = _validation_set(validation, classifier_shapes(model)[0], limit=limit,
                                     what="ptq='auto'")
    float_top1 = np.argmax(converted.predict(images, verbose=0), axis=-1)
    takes_steps = hasattr(converted, "layers") and not is_keras3_model(converted)
    kernels = sum(1 for layer in getattr(converted, "layers", []) if layer.get_weights())
    rounds = len(representative) >= compression.ptq.MIN_IMAGES  # AdaRound's least
    candidates = [c for c in auto_ptq.CANDIDATES if (takes_steps or c in ("", auto_ptq.LITERT))
                  and (c != auto_ptq.LITERT or litert_quantizer.installed())
                  and ("adaround" not in c or rounds)]

    def convert(steps, seconds_left):
        if steps == auto_ptq.LITERT:
            tflite = _litert_convert(converted, "int8", representative, step)
            final = _final_form(tflite, "int8", scores, options)[0]
            return tflite, None, auto_ptq.predicted_classes(final, images)
        per_layer = max(1.0, seconds_left / max(kernels, 1))
        candidate = dataclasses.replace(options, ptq=steps, adaround_seconds_per_layer=min(
            per_layer, options.adaround_seconds_per_layer))
        prepared, report = _run_ptq_steps(converted, model, candidate, representative, step)
        with step(f"converting to int8 ({steps or 'plain'}){step.calibrating}"):
            tflite = _converter.convert_model(prepared, "int8", representative,
                                              sparse=options.sparse,
                                              per_tensor=options.per_tensor)
        final = _final_form(tflite, "int8", scores, options)[0]
        return tflite, report, auto_ptq.predicted_classes(final, images)

    tflite, report, plan = auto_ptq.choose_steps(float_top1, labels, convert, candidates)
    if not plan["within_budget"]:
        warnings.warn(f"ptq='auto': no PTQ candidate agrees with the float model on "
                      f"{auto_ptq.AGREEMENT_TARGET:.0%} of the validation images within "
                      f"{plan['budget_pp']} pp (kept {plan['chosen']}); next step, QAT: python "
                      "scripts/train.py --init_from MODEL.keras --qat --epochs 1 "
                      "--learning_rate 2e-4", stacklevel=3)
    return tflite, report, plan


def _xnnpack_partitions(tflite, widened, name):
    """The contract's `xnnpack` record: partitions LiteRT's CPU delegate makes of the graph,
    the ops it leaves outside, and input scales widened to keep it whole (`convert.xnnpack`);
    warns above one partition."""
    partitions, outside = xnnpack.delegation(tflite)
    if partitions > 1:
        warnings.warn(f"{name or 'the int8 export'} runs as {partitions} XNNPACK partitions "
                      f"({', '.join(sorted(set(outside)))} outside them, on LiteRT's own "
                      "kernels): slower than one", stacklevel=3)
    return {"partitions": partitions, "ops_outside": outside, "widened_scales": widened}


def _float_head(tflite, scores, explicit):
    """(flatbuffer, whether its classifier runs in float) for the chosen `scores`."""
    if scores != "float_logits":
        return tflite, False
    try:
        return flatbuffer.with_float_head(tflite), True
    except UserError as error:
        if explicit:
            raise UserError(f"scores='float_logits': {error}") from None
        return tflite, False  # a head with_float_head cannot float: int8 logits


def _add_micro_costs(result, name):
    arena_bytes = micro.MicroInterpreter(result.tflite, name or "model").arena_bytes
    result.contract["micro"] = {"arena_bytes": arena_bytes, "flash_bytes": len(result.tflite)}


def rejection_rule(nothing_class, min_score, class_names, num_classes):
    """The contract's `rejection` field: {"nothing_class": index or None, "min_score": float}.
    An app shows "nothing recognized" when the best class is `nothing_class` or its score is
    below `min_score`.

    Raises:
      UserError: a class that the model does not have, or a score outside [0, 1).
    """
    if isinstance(nothing_class, str):
        if not class_names or nothing_class not in class_names:
            raise UserError(f"nothing_class {nothing_class!r} is not one of the class names")
        nothing_class = list(class_names).index(nothing_class)
    if nothing_class is not None and (isinstance(nothing_class, bool) or not isinstance(
            nothing_class, int) or not 0 <= nothing_class < num_classes):
        raise UserError(f"nothing_class must be a class index in [0, {num_classes}), got "
                        f"{nothing_class!r}")
    if isinstance(min_score, bool) or not isinstance(min_score, (int, float)) or not (
            0 <= min_score < 1):
        raise UserError(f"min_score must be in [0, 1), got {min_score!r}")
    return {"nothing_class": nothing_class, "min_score": float(min_score)}


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
