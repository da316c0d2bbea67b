"""Cross-layer equalization (Nagel et al. 2019, "Data-Free Quantization Through Weight
Equalization and Bias Correction", section 4.1).

For two linear layers in a row, A → (ReLU) → B, channel i of A's output can be divided by
s_i if B's input channel i is multiplied by s_i: ReLU(x / s) = ReLU(x) / s for s > 0. With
s_i = sqrt(r1_i / r2_i), where r1_i is the largest |weight| of A's output channel i and r2_i
that of B's input channel i, both channels end with the range sqrt(r1_i * r2_i): the channel
ranges inside each kernel even out, which is what per-tensor (and, less, per-channel) int8
rounding needs. Depthwise → pointwise pairs are where it matters most.

ReLU6 is not scale-equivariant (its clip would move to 6 * s_i per channel): between layers
that are equalized it becomes a ReLU, as the paper does for MobileNet V2. The report lists each
one; the float model's accuracy changes with it, and `python -m benchmarks.ptq` measures by how
much.
"""

import numpy as np

from tflite_lite._graph import clone_layer, consumers, model_nodes, rebuild
from tflite_lite._keras import keras
from tflite_lite.compression.ptq.folding import (fold_batch_norms, is_linear_layer,
                                                 scale_output_channels)

_ROUNDS = 50
_CONVERGED = 1e-4  # largest |log s| of a round


def equalize(model):
    """`model` in canonical form (`fold_batch_norms`) with every A → (ReLU / ReLU6) → B pair of
    convolutions equalized.

    Returns:
      (new model, report): the report has `pairs` ([A, B] layer names), `relu6_to_relu`
      (activation layers replaced), `rounds` and `largest_scale_change` of the last round.
    """
    folded = fold_batch_norms(model)
    pairs = find_pairs(folded)
    weights = {layer.name: layer.get_weights() for layer in folded.layers if layer.weights}
    layers = {layer.name: layer for layer in folded.layers}
    change, rounds = 0.0, 0
    for rounds in range(1, _ROUNDS + 1):
        change = 0.0
        for first, _, second in pairs:
            scales = _equalizing_scales(layers[first], weights[first],
                                        layers[second], weights[second])
            change = max(change, float(np.max(np.abs(np.log(scales)))))
            kernel, bias = weights[first]
            weights[first] = [scale_output_channels(layers[first], kernel, 1.0 / scales),
                              bias / scales]
            weights[second] = [_scale_input_channels(weights[second][0], scales), *weights[second][1:]]
        if change < _CONVERGED:
            break
    relu6 = {activation for _, activation, _ in pairs
             if activation is not None and _is_relu6(layers[activation])}

    def transform(layer, inputs):
        if layer.name in relu6:
            return keras.layers.ReLU(name=layer.name)(inputs)
        new = clone_layer(layer)
        outputs = new(inputs)
        if layer.weights:
            new.set_weights(weights[layer.name])
        return outputs

    report = {"pairs": [[first, second] for first, _, second in pairs],
              "relu6_to_relu": sorted(relu6), "rounds": rounds,
              "largest_scale_change": change}
    return rebuild(folded, transform), report


def find_pairs(model):
    """(A, activation or None, B) layer names: convolutions where A (with no fused activation)
    reaches only B, directly or through one ReLU / ReLU6, and B is a Conv2D or
    DepthwiseConv2D."""
    readers = consumers(model)
    pairs = []
    for layer, node in model_nodes(model):
        if not (is_linear_layer(layer) and not isinstance(layer, keras.layers.Dense)
                and layer.get_config()["activation"] == "linear"):
            continue  # a fused activation other than ReLU would not commute with the scales
        activation, (reader, node) = None, _only_reader(readers, node)
        if reader is not None and _is_relu(reader):
            activation, (reader, node) = reader.name, _only_reader(readers, node)
        if (reader is not None and is_linear_layer(reader)
                and not isinstance(reader, keras.layers.Dense)):
            pairs.append((layer.name, activation, reader.name))
    return pairs


def _only_reader(readers, node):
    outputs = node.outputs if isinstance(node.outputs, (list, tuple)) else [node.outputs]
    found = readers.get(id(outputs[0]), []) if len(outputs) == 1 else []
    return found[0] if len(found) == 1 else (None, None)


def _is_relu(layer):
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return (not config.get("negative_slope") and not config.get("threshold")
                and config.get("max_value") in (None, 6.0))
    return (isinstance(layer, keras.layers.Activation)
            and layer.get_config()["activation"] in ("relu", "relu6"))


def _is_relu6(layer):
    config = layer.get_config()
    return config.get("max_value") == 6.0 or config.get("activation") == "relu6"


def _output_channel_ranges(layer, kernel):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return np.abs(kernel).max(axis=(0, 1)).reshape(-1)
    return np.abs(kernel).reshape(-1, kernel.shape[-1]).max(axis=0)


def _input_channel_ranges(layer, kernel):
    return np.abs(kernel).max(axis=(0, 1, 3))  # Conv2D (kh, kw, in, out); depthwise (kh, kw, in, m)


def _scale_input_channels(kernel, scales):
    return kernel * scales.reshape(1, 1, -1, 1)


def _equalizing_scales(first, first_weights, second, second_weights):
    r1 = _output_channel_ranges(first, first_weights[0])
    r2 = _input_channel_ranges(second, second_weights[0])
    if len(r1) != len(r2):  # e.g. a depthwise multiplier: channels do not line up one to one
        return np.ones_like(r1)
    with np.errstate(divide="ignore", invalid="ignore"):
        scales = np.sqrt(r1 / r2)
    return np.where(np.isfinite(scales) & (scales > 0), scales, 1.0).astype(first_weights[0].dtype)
