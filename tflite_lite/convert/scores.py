"""What an exported classifier outputs: class probabilities, or the logits before its softmax.

An int8 softmax output has a step of 1/256, so two close classes round to the same code and
argmax picks the first: MobileNet V2 1.0 after 2 epochs had 263 of its 303 disagreements with
Keras from such ties. An int8 logits output keeps the ranking the last layer computed, costs
no latency (one op fewer) and leaves the softmax to the app, in float, where it is exact; the
contract's `output.scores` says which of the two a model gives (`evaluate.probabilities`
applies the softmax as apps do).

`logits_model` splits the softmax off a model: a final softmax layer of its own (also inside
tfmot's wrappers, whose logits keep the quantizer of the layer before), or a last Dense / Conv
layer whose activation is softmax (rebuilt linear with the same weights).
"""

from tflite_lite._keras import is_keras3_model, keras
from tflite_lite.errors import UserError

SCORES = ("logits", "probabilities")


def _unwrapped(layer):
    """The layer inside tfmot's QAT / pruning / clustering wrappers."""
    while hasattr(getattr(layer, "layer", None), "get_config"):
        layer = layer.layer
    return layer


def _is_softmax(function):
    return getattr(function, "__name__", None) == "softmax"


def _keras_of(model):
    if is_keras3_model(model):
        import keras as keras3  # noqa: PLC0415  (Keras 3 only for Keras 3 models)

        return keras3
    return keras


def logits_model(model):
    """A model sharing `model`'s layers that returns the input of its final softmax, or None
    when the softmax cannot be split off (no softmax, a SavedModel, a wrapped softmax Dense)."""
    layers = getattr(model, "layers", None)
    if not layers or not hasattr(model, "inputs"):
        return None
    last = layers[-1]
    inner = _unwrapped(last)
    api = _keras_of(model)
    try:
        if isinstance(inner, api.layers.Softmax) or (
                isinstance(inner, api.layers.Activation) and _is_softmax(inner.activation)):
            return api.Model(model.inputs, last.input, name=f"{model.name}_logits")
        if inner is last and _is_softmax(getattr(inner, "activation", None)):
            config = dict(inner.get_config(), activation="linear", name=f"{inner.name}_logits")
            linear = inner.__class__.from_config(config)
            logits = linear(last.input)
            linear.set_weights(inner.get_weights())
            return api.Model(model.inputs, logits, name=f"{model.name}_logits")
    except (AttributeError, ValueError):  # a subclassed model: no graph to cut
        return None
    return None


def choose(model, mode, scores=None):
    """(the model to convert, "logits" or "probabilities") for `scores` in `mode`.

    None (the default) means logits in int8 wherever the softmax can be split off, else
    probabilities; "logits" on a model without a separable softmax is refused. A model whose
    last layer is linear gives logits in every mode.
    """
    if scores is not None and scores not in SCORES:
        raise UserError(f"unknown scores {scores!r}; choose one of {', '.join(SCORES)}")
    if _ends_linear(model):
        return model, "logits"
    if scores == "probabilities" or (scores is None and mode != "int8"):
        return model, "probabilities"
    logits = logits_model(model)
    if logits is None:
        if scores == "logits":
            raise UserError(f"scores='logits' needs a model that ends in a softmax layer or a "
                            f"Dense / Conv layer with activation softmax; {_name(model)} does "
                            "not")
        return model, "probabilities"
    return logits, "logits"


def _ends_linear(model):
    """Whether the last layer is a Dense / Conv layer without activation: logits already."""
    layers = getattr(model, "layers", None)
    activation = getattr(_unwrapped(layers[-1]), "activation", None) if layers else None
    return getattr(activation, "__name__", None) == "linear"


def _name(model):
    return repr(getattr(model, "name", type(model).__name__))

