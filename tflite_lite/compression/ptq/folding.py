"""Batch norm folded into the convolution before it, and fused activations split off.

Every PTQ step works on this canonical form: each Conv2D / DepthwiseConv2D / Dense has a bias
and a linear output, and the ReLU / ReLU6 that followed it is a layer of its own. The converter
folds and fuses the same way, so the flatbuffer holds the same ops; a step sees the
pre-activation output of every layer it changes.
"""

import numpy as np

from tflite_lite._graph import clone_layer, consumers, model_nodes, rebuild
from tflite_lite._keras import keras, tf

LINEAR_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)
_SPLIT_ACTIVATIONS = {"relu": None, "relu6": 6.0}


def is_linear_layer(layer):
    """A Conv2D (not grouped), DepthwiseConv2D or Dense: what the PTQ steps rewrite."""
    return isinstance(layer, LINEAR_LAYERS) and getattr(layer, "groups", 1) == 1


def scale_output_channels(layer, kernel, gain):
    """`kernel` of `layer` with each output channel multiplied by `gain` (one per channel)."""
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return kernel * np.reshape(gain, kernel.shape[2:])
    return kernel * gain


def linear_map(layer):
    """`f(inputs, kernel)`: what `layer` computes before its bias, with another kernel."""
    if isinstance(layer, keras.layers.Dense):
        return lambda x, w: tf.tensordot(x, w, axes=1)
    config = layer.get_config()
    strides, dilations = config["strides"], config["dilation_rate"]
    padding = config["padding"].upper()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return lambda x, w: tf.nn.depthwise_conv2d(x, w, (1, *strides, 1), padding,
                                                   dilations=dilations)
    return lambda x, w: tf.nn.conv2d(x, w, strides, padding, dilations=dilations)


def fold_batch_norms(model):
    """The same function as `model` in canonical form (see the module docstring).

    A BatchNormalization (inference statistics, last axis) folds into the linear layer before
    it when it is that layer's only reader and the layer has no activation; any other one stays
    as it is. Conv / Dense layers keep their names; folded batch norms disappear.
    """
    readers = consumers(model)
    folds = {}  # id(linear layer) → the batch norm that folds into it
    for layer, node in model_nodes(model):
        if not isinstance(layer, keras.layers.BatchNormalization):
            continue
        source = node.call_args[0]
        producer = _producer(source)
        if (producer is not None and is_linear_layer(producer)
                and producer.get_config()["activation"] == "linear"
                and len(readers.get(id(source), ())) == 1 and _last_axis(layer)):
            folds[id(producer)] = layer
    folded = {id(bn) for bn in folds.values()}

    def transform(layer, inputs):
        if id(layer) in folded:
            return inputs
        if not is_linear_layer(layer):
            new = clone_layer(layer)
            outputs = new(inputs)
            if layer.weights:
                new.set_weights(layer.get_weights())
            return outputs
        kernel, bias = _folded_weights(layer, folds.get(id(layer)))
        activation = layer.get_config()["activation"]
        split = activation in _SPLIT_ACTIVATIONS
        new = clone_layer(layer, use_bias=True, activation="linear" if split else activation)
        outputs = new(inputs)
        new.set_weights([kernel, bias])
        if split:
            outputs = keras.layers.ReLU(_SPLIT_ACTIVATIONS[activation],
                                        name=f"{layer.name}_{activation}")(outputs)
        return outputs

    return rebuild(model, transform)


def _producer(tensor):
    history = getattr(tensor, "_keras_history", None)
    return history.layer if history is not None else None


def _last_axis(batch_norm):
    axis = batch_norm.get_config()["axis"]
    axis = axis[0] if isinstance(axis, (list, tuple)) and len(axis) == 1 else axis
    return axis in (-1, len(batch_norm.input_shape) - 1)


def _folded_weights(layer, batch_norm):
    weights = layer.get_weights()
    kernel = weights[0]
    channels = kernel.shape[2] * kernel.shape[3] if isinstance(
        layer, keras.layers.DepthwiseConv2D) else kernel.shape[-1]
    bias = weights[1] if layer.use_bias else np.zeros(channels, kernel.dtype)
    if batch_norm is None:
        return kernel, bias
    config = batch_norm.get_config()
    values = dict(zip([w.name.split("/")[-1].split(":")[0] for w in batch_norm.weights],
                      batch_norm.get_weights()))
    gamma = values.get("gamma", np.ones(channels)) if config["scale"] else np.ones(channels)
    beta = values.get("beta", np.zeros(channels)) if config["center"] else np.zeros(channels)
    gain = gamma / np.sqrt(values["moving_variance"] + config["epsilon"])
    kernel = scale_output_channels(layer, kernel, gain).astype(kernel.dtype)
    bias = ((bias - values["moving_mean"]) * gain + beta).astype(kernel.dtype)
    return kernel, bias
