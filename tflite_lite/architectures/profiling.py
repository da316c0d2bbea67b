"""Parameter and multiply-accumulate (MAC) counts of a Keras model.

Counted the way the papers count them:
- MACs: convolutions (grouped and depthwise included) and dense layers, one per weight use;
  pooling, batch norm, activations and adds are free.
- params: what the deployed model stores: convolution and dense weights and biases, with each
  batch norm folded into its convolution (one bias per channel). `keras_params` is Keras' own
  count (batch-norm gamma, beta and moving statistics included).
"""

import numpy as np

from tflite_lite._keras import is_keras3_model, keras, keras3


def _unwrap(layer, layers):
    """Returns the layer inside wrappers (tfmot's, Keras 3 QAT's `QuantConv`)."""
    while isinstance(getattr(layer, "layer", None), layers.Layer):
        layer = layer.layer
    return layer


def _spatial_size(shape):
    return int(np.prod(shape[1:-1])) if len(shape) > 2 else 1


def _layer_counts(layer, output_shape, layers):
    """(params, macs) of one layer given its output shape (batch dimension included)."""
    layer = _unwrap(layer, layers)
    if isinstance(layer, layers.DepthwiseConv2D):
        kernel = getattr(layer, "depthwise_kernel", None)  # (kh, kw, in, multiplier)
        kernel = (layer.kernel if kernel is None else kernel).shape
        params = int(np.prod(kernel)) + (output_shape[-1] if layer.use_bias else 0)
        return params, _spatial_size(output_shape) * output_shape[-1] * kernel[0] * kernel[1]
    if isinstance(layer, (layers.Conv2D, layers.Dense)):
        kernel = layer.kernel.shape  # conv: (kh, kw, in/groups, out); dense: (in, out)
        params = int(np.prod(kernel)) + (kernel[-1] if layer.use_bias else 0)
        return params, _spatial_size(output_shape) * int(np.prod(kernel))
    if isinstance(layer, layers.BatchNormalization):
        return output_shape[-1], 0  # folds into the preceding convolution's bias
    return 0, 0


def profile(model):
    """Counts parameters and MACs of a built Keras model, layer by layer.

    Args:
      model: a built tf_keras or Keras 3 model (functional or sequential; wrappers are
        looked through).

    Returns:
      A dict with `params` (deployed parameters, batch norm folded), `macs` (for one image),
      `keras_params` (Keras' `count_params()`), and `layers`: one dict per layer with `name`,
      `type`, `output_shape`, `params` and `macs`.
    """
    layers = (keras3() if is_keras3_model(model) else keras).layers
    rows = []
    for layer in model.layers:
        if isinstance(layer, layers.InputLayer):
            continue
        output_shape = tuple(layer.output.shape)
        params, macs = _layer_counts(layer, output_shape, layers)
        rows.append({
            "name": layer.name,
            "type": type(_unwrap(layer, layers)).__name__,
            "output_shape": [None if d is None else int(d) for d in output_shape[1:]],
            "params": int(params),
            "macs": int(macs),
        })
    return {
        "params": sum(row["params"] for row in rows),
        "macs": sum(row["macs"] for row in rows),
        "keras_params": int(model.count_params()),
        "layers": rows,
    }


def format_profile(result, top=None):
    """Renders a profile as a text table, the heaviest layers (by MACs) first if `top` is set."""
    rows = result["layers"]
    if top:
        rows = sorted(rows, key=lambda row: row["macs"], reverse=True)[:top]
    lines = [f"{'layer':<36} {'type':<22} {'output':<16} {'params':>10} {'MACs':>14}"]
    for row in rows:
        shape = "x".join(str(d) for d in row["output_shape"])
        lines.append(f"{row['name']:<36} {row['type']:<22} {shape:<16} "
                     f"{row['params']:>10,} {row['macs']:>14,}")
    lines.append(f"{'total':<76} {result['params']:>10,} {result['macs']:>14,}")
    return "\n".join(lines)
