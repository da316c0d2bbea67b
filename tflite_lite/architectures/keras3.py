"""The registered builders as Keras 3 models: `create_model(name, ..., keras=3)`.

A builder makes its tf_keras model; `to_keras3` rebuilds it layer by layer in Keras 3 from each
layer's config, with the same names, wiring and weights, so parameters and MACs match. The
hard swish and hard sigmoid of MobileNet V3 have Keras 3 twins here, with the same values and
the same `quantize_gate` switch that Keras 3 QAT sets (`compression.keras3`).
"""

import inspect

from tflite_lite import _graph
from tflite_lite._keras import keras as tf_keras
from tflite_lite._keras import keras3
from tflite_lite.architectures import _layers
from tflite_lite.errors import UserError

keras = keras3()
ops = keras.ops


def _fake_quant(x, low, high):
    return keras.quantizers.fake_quant_with_min_max_vars(x, low, high, num_bits=8)


@keras.saving.register_keras_serializable(package="tflite_lite")
class HardSigmoid(keras.layers.Layer):
    """relu6(x + 3) / 6 (Howard et al. 2019), the Keras 3 twin of `_layers.HardSigmoid`."""

    def __init__(self, quantize_gate=False, **kwargs):
        super().__init__(**kwargs)
        self.quantize_gate = bool(quantize_gate)  # QAT: relu6(x + 3) fake-quantized on [0, 6]

    def call(self, inputs):
        gate = ops.relu6(inputs + 3.0)
        if self.quantize_gate:
            gate = _fake_quant(gate, 0.0, 6.0)
        return gate * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "quantize_gate": self.quantize_gate}


@keras.saving.register_keras_serializable(package="tflite_lite")
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6 (Howard et al. 2019), the Keras 3 twin of `_layers.HardSwish`."""

    def __init__(self, quantize_gate=False, **kwargs):
        super().__init__(**kwargs)
        self.quantize_gate = bool(quantize_gate)  # QAT: both gate tensors fake-quantized

    def call(self, inputs):
        gate = ops.relu6(inputs + 3.0)
        if self.quantize_gate:
            gate = _fake_quant(gate, 0.0, 6.0)
            return _fake_quant(gate * (1.0 / 6.0), 0.0, 1.0) * inputs
        return inputs * gate * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "quantize_gate": self.quantize_gate}


_TWINS = {_layers.HardSigmoid: HardSigmoid, _layers.HardSwish: HardSwish}


def _keras3_layer(layer):
    """A fresh Keras 3 layer from a tf_keras layer's config (same name and settings)."""
    config = layer.get_config()
    if isinstance(layer, tf_keras.layers.BatchNormalization):
        axis = list(config["axis"])  # tf_keras keeps a list; Keras 3 takes one axis
        config["axis"] = axis[0] if len(axis) == 1 else axis
    twin = _TWINS.get(type(layer))
    if twin is not None:
        return twin.from_config(config)
    cls = getattr(keras.layers, type(layer).__name__, None)
    if cls is None:
        raise UserError(f"layer {layer.name!r} ({type(layer).__name__}) has no Keras 3 form")
    accepted = set(inspect.signature(cls.__init__).parameters) | {"name", "trainable", "dtype"}
    try:
        return cls.from_config({k: v for k, v in config.items() if k in accepted})
    except (TypeError, ValueError) as error:
        raise UserError(f"layer {layer.name!r} ({type(layer).__name__}) has no Keras 3 "
                        f"form: {error}") from None


def to_keras3(model):
    """The tf_keras functional `model` rebuilt as a Keras 3 model: same layer names, wiring
    and weights.

    Raises:
      UserError: a layer without a Keras 3 equivalent, or a layer used twice.
    """
    if not isinstance(model, tf_keras.Model):
        raise UserError(f"expected a tf_keras model, got {type(model).__name__}")
    source = model.inputs[0]
    inputs = keras.Input(shape=tuple(source.shape[1:]), name=model.layers[0].name)
    mapping = {id(source): inputs}

    def lookup(tensor):
        return mapping.get(id(tensor), tensor)

    weights = []
    for layer, node in _graph.model_nodes(model):
        twin = _keras3_layer(layer)
        arguments = node.call_args[0]
        new_inputs = ([lookup(t) for t in arguments] if isinstance(arguments, (list, tuple))
                      else lookup(arguments))
        outputs = twin(new_inputs)
        weights.append((twin, layer.get_weights()))
        mapping[id(node.outputs if not isinstance(node.outputs, list) else node.outputs[0])] = \
            outputs
    rebuilt = keras.Model(inputs, lookup(model.outputs[0]), name=model.name)
    for twin, values in weights:
        if values:
            twin.set_weights(values)
    return rebuilt
