"""Empirical bias correction (Nagel et al. 2019, section 4.2), and TFLite's int8 weight grid.

Rounding a kernel to int8 shifts the mean of each output channel by E[(W_q - W) x]. A
convolution is linear, so that shift is the quantization error ΔW = W_q - W applied to the mean
input E[x]: one call of the layer on the average calibration input (height, width and channels
kept, so padding is exact), averaged over positions. Subtracting it from the bias removes the
bias that int8 weights add to every layer; the means come from the float model's own
activations on the calibration images.
"""

import numpy as np

from tflite_lite._keras import keras, tf
from tflite_lite.compression.ptq.folding import is_linear_layer

_BATCH = 64


def quantized_kernel(layer, kernel, per_tensor=False):
    """`kernel` of `layer` rounded to the grid TFLite's converter gives it: symmetric int8 in
    [-127, 127], one scale per output channel (per tensor with `per_tensor`), scale =
    max |w| / 127."""
    if per_tensor:
        ranges = np.abs(kernel).max()
    elif isinstance(layer, keras.layers.DepthwiseConv2D):
        ranges = np.abs(kernel).max(axis=(0, 1), keepdims=True)
    else:
        ranges = np.abs(kernel).max(axis=tuple(range(kernel.ndim - 1)), keepdims=True)
    scale = np.where(ranges > 0, ranges / 127.0, 1.0)
    return (np.clip(np.round(kernel / scale), -127, 127) * scale).astype(kernel.dtype)


def mean_layer_inputs(model, images, names):
    """{layer name: mean input over `images`} of the named layers (one pass, batches of 64)."""
    layers = [model.get_layer(name) for name in names]
    probe = keras.Model(model.inputs, [layer.input for layer in layers])
    sums = [None] * len(layers)
    for start in range(0, len(images), _BATCH):
        outputs = probe(images[start:start + _BATCH], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, output in enumerate(outputs):
            total = tf.reduce_sum(output, axis=0).numpy().astype(np.float64)
            sums[i] = total if sums[i] is None else sums[i] + total
    return {name: (total / len(images)).astype(np.float32) for name, total in zip(names, sums)}


def correct_bias(model, images, per_tensor=False):
    """Subtracts each linear layer's expected int8 weight error from its bias, in place.

    Args:
      model: a model in canonical form (`fold_batch_norms`): every linear layer has a bias.
      images: preprocessed calibration images (N, H, W, C).
      per_tensor: the weights will be quantized per tensor. Defaults to False (per channel).

    Returns:
      {layer name: largest |bias change|}.
    """
    names = [layer.name for layer in model.layers if is_linear_layer(layer)]
    means = mean_layer_inputs(model, images, names)
    changes = {}
    for name in names:
        layer = model.get_layer(name)
        kernel, bias = layer.get_weights()
        error = quantized_kernel(layer, kernel, per_tensor) - kernel
        shift = _mean_response(layer, error, means[name])
        layer.set_weights([kernel, bias - shift])
        changes[name] = float(np.max(np.abs(shift)))
    return changes


def _mean_response(layer, kernel, mean_input):
    """Per output channel: `layer`'s linear response (no bias) to `mean_input` with `kernel`,
    averaged over output positions."""
    x = tf.constant(mean_input[None])
    config = layer.get_config()
    if isinstance(layer, keras.layers.Dense):
        return (mean_input @ kernel).reshape(-1, kernel.shape[-1]).mean(axis=0)
    strides, dilations = config["strides"], config["dilation_rate"]
    padding = config["padding"].upper()
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        out = tf.nn.depthwise_conv2d(x, kernel, strides=(1, *strides, 1), padding=padding,
                                     dilations=dilations)
    else:
        out = tf.nn.conv2d(x, kernel, strides=strides, padding=padding, dilations=dilations)
    return out.numpy().reshape(-1, out.shape[-1]).mean(axis=0)
