"""Empirical bias correction (Nagel et al. 2019, section 4.2).

Rounding a kernel to int8 shifts the mean of each output channel by E[(W_q - W) x]. A
convolution is linear, so that shift is the quantization error ΔW = W_q - W applied to the mean
input E[x]: one call of the layer on the average calibration input (height, width and channels
kept, so padding is exact), averaged over positions. Subtracting it from the bias removes the
bias that int8 weights add to every layer; the means come from the float model's own
activations on the calibration images.
"""

import numpy as np

from tflite_lite._keras import keras, tf
from tflite_lite.compression.ptq.folding import is_linear_layer, linear_map
from tflite_lite.compression.ptq.grid import quantized_kernel

_BATCH = 64


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
    out = linear_map(layer)(tf.constant(mean_input[None]), tf.constant(kernel)).numpy()
    return out.reshape(-1, out.shape[-1]).mean(axis=0)
