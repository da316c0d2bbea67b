"""Running an exported classifier on LiteRT, and proving it agrees with its Keras model."""

import json

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType

from tflite_lite import _native, _progress
from tflite_lite.convert import flatbuffer
from tflite_lite.errors import UserError


def quantize(values, scale, zero_point, dtype):
    """Float → integer tensor as the contract defines it: floor(x / scale + 0.5) + zero_point,
    computed in float64 and clipped to the dtype's range (apps repeat exactly this)."""
    info = np.iinfo(dtype)
    q = np.floor(np.asarray(values, np.float64) / scale + 0.5) + zero_point
    return np.clip(q, info.min, info.max).astype(dtype)


def dequantize(values, scale, zero_point):
    return (np.asarray(values, np.float64) - zero_point) * scale


def probabilities(values, scores):
    """Class probabilities from dequantized outputs `values` (classes last) that are `scores`:
    "probabilities" as they are, "logits" through a softmax (as apps apply it)."""
    values = np.asarray(values, np.float64)
    if scores != "logits":
        return values
    shifted = np.exp(values - values.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def allocated_interpreter(**kwargs):
    """An `Interpreter(**kwargs)` with tensors allocated: XNNPACK where it can prepare the
    graph, else LiteRT's builtin kernels (XNNPACK refuses weights in TFLite's sparse format)."""
    with _native.filtered_stderr(_native.INTERPRETER):
        try:
            interpreter = Interpreter(**kwargs)
            interpreter.allocate_tensors()
        except RuntimeError as error:
            if "XNNPack" not in str(error):
                raise
            interpreter = Interpreter(
                **kwargs,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            interpreter.allocate_tensors()
    return interpreter


class TFLiteClassifier:
    """A single-input, single-output `.tflite` classifier on LiteRT's interpreter (XNNPACK).

    Args:
      model_content: the flatbuffer bytes.
      num_threads: interpreter threads. Defaults to None (LiteRT's choice).
    """

    def __init__(self, model_content, num_threads=None):
        flatbuffer.parse(bytes(model_content))  # a malformed buffer: UserError, not a crash
        try:
            self.interpreter = allocated_interpreter(model_content=model_content,
                                                     num_threads=num_threads)
        except (ValueError, RuntimeError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[-1][:200]
            raise UserError(f"LiteRT cannot load the model ({reason})") from None
        inputs = self.interpreter.get_input_details()
        outputs = self.interpreter.get_output_details()
        if len(inputs) != 1 or len(outputs) != 1:
            raise UserError(f"expected one input and one output, got {len(inputs)} and "
                            f"{len(outputs)}")
        self.input, self.output = inputs[0], outputs[0]
        contract = flatbuffer.read_metadata(model_content, flatbuffer.CONTRACT_METADATA)
        # "logits" or "probabilities" (the default of files without a contract)
        self.output_scores = (json.loads(contract)["output"].get("scores", "probabilities")
                              if contract else "probabilities")

    @property
    def input_shape(self):
        return tuple(int(d) for d in self.input["shape"])

    def to_input_tensor(self, image):
        """A preprocessed float image (H, W, C) as the model's input tensor (batch 1)."""
        image = np.asarray(image)[np.newaxis]
        if image.shape != self.input_shape:
            raise UserError(f"image shape {image.shape[1:]} does not match the model input "
                            f"{self.input_shape[1:]}")
        dtype = self.input["dtype"]
        if np.issubdtype(dtype, np.integer):
            scale, zero_point = self.input["quantization"]
            return quantize(image, scale, zero_point, dtype)
        return image.astype(dtype)

    def raw_output(self, image):
        self.interpreter.set_tensor(self.input["index"], self.to_input_tensor(image))
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])[0]

    def scores(self, image):
        """Class probabilities for one preprocessed image (`probabilities_of` its output)."""
        return self.probabilities_of(self.raw_output(image))

    def probabilities_of(self, raw):
        """Class probabilities from a raw output: dequantized if it is integer, and through a
        softmax if the contract says it is logits (as apps compute them)."""
        if np.issubdtype(raw.dtype, np.integer):
            scale, zero_point = self.output["quantization"]
            raw = dequantize(raw, scale, zero_point)
        return probabilities(raw, self.output_scores)

    def raw_outputs(self, images):
        return np.stack([self.raw_output(image) for image in images])


def evaluate_agreement(keras_model, classifier, dataset, total=None, verbose=0, label=None):
    """Top-1 accuracy of both models on `dataset` and how often their top-1 classes agree.

    Args:
      keras_model: the source Keras model, or None to measure the `.tflite` alone.
      classifier: a `TFLiteClassifier` of its export.
      dataset: batched `(images, labels)` (preprocessed), e.g. `Dataset.test`.
      total: the number of images in `dataset`, for the progress bar. Defaults to None.
      verbose: 1 shows a progress bar (with `total`). Defaults to 0.
      label: the progress bar's label. Defaults to what is evaluated ("Keras and TFLite").

    Returns:
      A dict with `num_examples`, `tflite_accuracy`, `tflite_top1_ties` (images whose best
      output code is shared by several classes; argmax takes the first) and, with a Keras
      model, `keras_accuracy`, `agreement`, `disagreements` and `tied_disagreements` (those
      where Keras' class is among the tied best).
    """
    labels, keras_top1, raw = [], [], []
    label = label or ("evaluating Keras and TFLite" if keras_model is not None
                      else "evaluating TFLite")
    progress = _progress.Progress(label, total, verbose=verbose and total is not None)
    for images, batch_labels in dataset:
        images = images.numpy()
        if keras_model is not None:
            keras_top1.append(np.argmax(np.asarray(keras_model(images, training=False)), -1))
        raw.append(classifier.raw_outputs(images))
        labels.append(batch_labels.numpy().reshape(-1))
        progress.update(len(images))
    if not labels:
        raise UserError("no images to evaluate on")
    labels, raw = np.concatenate(labels), np.concatenate(raw)
    if raw.ndim != 2:
        raise UserError(f"expected class scores of shape (classes,), got {raw.shape[1:]}")
    tflite_top1 = np.argmax(raw, axis=-1)
    best = raw == raw.max(axis=-1, keepdims=True)
    figures = {
        "num_examples": int(labels.size),
        "tflite_accuracy": float(np.mean(tflite_top1 == labels)),
        "tflite_top1_ties": int(np.sum(np.sum(best, -1) > 1)),
    }
    if keras_model is not None:
        keras_top1 = np.concatenate(keras_top1)
        disagree = keras_top1 != tflite_top1
        tied = disagree & best[np.arange(len(best)), keras_top1]
        figures.update(keras_accuracy=float(np.mean(keras_top1 == labels)),
                       agreement=float(np.mean(~disagree)),
                       disagreements=int(disagree.sum()), tied_disagreements=int(tied.sum()))
    return figures
