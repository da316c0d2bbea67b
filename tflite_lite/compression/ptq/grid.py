"""TFLite's int8 weight grid: symmetric, [-127, 127], scale max |w| / 127 per output channel
(a depthwise kernel's channels on its third axis), or one per tensor."""

import numpy as np

from tflite_lite._keras import keras
from tflite_lite.compression.ptq.folding import is_linear_layer, linear_map


def weight_scale(layer, kernel, per_tensor=False):
    """The converter's int8 scale for `kernel` of `layer`, broadcastable to the kernel."""
    if per_tensor:
        ranges = np.abs(kernel).max()
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        ranges = np.abs(kernel).max(axis=(0, 1), keepdims=True)
    else:
        ranges = np.abs(kernel).max(axis=tuple(range(kernel.ndim - 1)), keepdims=True)
    return np.where(ranges > 0, ranges / 127.0, 1.0).astype(np.float32)


def quantized_kernel(layer, kernel, per_tensor=False):
    """`kernel` rounded to the nearest point of its int8 grid (back in float)."""
    scale = weight_scale(layer, kernel, per_tensor)
    return (np.clip(np.round(kernel / scale), -127, 127) * scale).astype(kernel.dtype)


def rounding_errors(reference, model, images, per_tensor=False, batch_size=8):
    """Per linear layer: how far its int8 form in `model` is from its float form in
    `reference` (the same graph), on the inputs `reference` gives it:
    E||(W_q x + b_q) - (W x + b)||^2 / E||W x + b||^2, with W_q the kernel of `model` on its
    int8 grid and b_q its bias (so that bias correction counts). {layer name: ratio}."""
    layers = [layer for layer in reference.layers if is_linear_layer(layer)]
    probe = keras.Model(reference.inputs, [layer.input for layer in layers])
    maps = [linear_map(layer) for layer in layers]
    pairs = []
    for layer in layers:
        kernel, bias = layer.get_weights()
        ours = model.get_layer(layer.name)
        q_kernel, q_bias = ours.get_weights()
        pairs.append((kernel, bias, quantized_kernel(ours, q_kernel, per_tensor), q_bias))
    error, energy = np.zeros(len(layers)), np.zeros(len(layers))
    for start in range(0, len(images), batch_size):
        inputs = probe(images[start:start + batch_size], training=False)
        inputs = inputs if isinstance(inputs, (list, tuple)) else [inputs]
        for i, (x, linear, (kernel, bias, q_kernel, q_bias)) in enumerate(
                zip(inputs, maps, pairs)):
            exact = linear(x, kernel).numpy() + bias
            error[i] += np.sum(np.square(linear(x, q_kernel).numpy() + q_bias - exact))
            energy[i] += np.sum(np.square(exact))
    return {layer.name: float(e / max(n, 1e-30)) for layer, e, n in zip(layers, error, energy)}
