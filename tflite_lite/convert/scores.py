"""What an exported classifier outputs: probabilities, int8 logits, or float logits.

An int8 output ties close classes (the same code for two classes; argmax takes the first).
Measured on MobileNet V3 Large 1.0 at 32 px (PTQ, 10,000 Fashion-MNIST test images), 54 of the
151 disagreements with Keras were such ties, and they are already in the int8 logits (step
0.144): leaving the softmax out ("logits") changes no top-1 class. "float_logits" (the int8
default) keeps every op int8 but the classifier, which runs in float on its dequantized int8
input with the dequantized int8 weights (`flatbuffer.with_float_head`): the last
FULLY_CONNECTED, or for SqueezeNet's head the 1x1 CONV_2D and the MEAN after it. The int8
logits before their rounding, a float32 output, no ties, and the same latency (tiny ops;
`python -m benchmarks.scores`). The contract's `output.scores` ("logits" or
"probabilities") and `output.dtype` say which an app gets; apps apply the softmax to logits
(`evaluate.probabilities`).

`logits_model` splits the softmax off a model: a final softmax layer of its own (also inside
tfmot's wrappers, whose logits keep the quantizer of the layer before), or a last Dense / Conv
layer whose activation is softmax (rebuilt linear with the same weights).
"""

from tflite_lite._graph import unwrapped
from tflite_lite._keras import is_keras3_model, keras, keras3
from tflite_lite.convert.options import SCORES, validate_scores  # noqa: F401
from tflite_lite.errors import UserError



def _is_softmax(function):
    return getattr(function, "__name__", None) == "softmax"


def _keras_of(model):
    return keras3() if is_keras3_model(model) else keras


def logits_model(model):
    """A model sharing `model`'s layers that returns the input of its final softmax, or None
    when the softmax cannot be split off (no softmax, a SavedModel, a wrapped softmax Dense)."""
    layers = getattr(model, "layers", None)
    if not layers or not hasattr(model, "inputs"):
        return None
    last = layers[-1]
    inner = unwrapped(last)
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
    """(the model to convert, one of `SCORES`) for `scores` in `mode`.

    None (the default) means "float_logits" in int8 wherever the softmax can be split off (or
    the model ends linear), else "probabilities"; in other modes, "logits" for a model that
    ends linear, else "probabilities". An explicit choice the model cannot give is refused.
    """
    validate_scores(scores)
    if scores == "float_logits" and mode != "int8":
        raise UserError(f"scores='float_logits' is for int8 exports (a float last layer after "
                        f"int8 compute), not {mode}")
    linear = _ends_linear(model)
    if scores == "probabilities" or (scores is None and mode != "int8"):
        return model, "logits" if linear else "probabilities"
    default = "float_logits" if scores is None else scores
    if linear:
        return model, default
    logits = logits_model(model)
    if logits is None:
        if scores is not None:
            raise UserError(f"scores={scores!r} needs a model that ends in a softmax layer or a "
                            f"Dense / Conv layer with activation softmax; {_name(model)} does "
                            "not")
        return model, "probabilities"
    return logits, default


def _ends_linear(model):
    """Whether the last layer is a Dense / Conv layer without activation: logits already."""
    layers = getattr(model, "layers", None)
    activation = getattr(unwrapped(layers[-1]), "activation", None) if layers else None
    return getattr(activation, "__name__", None) == "linear"


def _name(model):
    return repr(getattr(model, "name", type(model).__name__))

