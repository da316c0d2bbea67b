"""Magnitude pruning through tfmot: schedules, 2:4 sparsity, stripping and measurement.

    pruned = prune_model(model, PruningConfig(final_sparsity=0.75, end_step=2000))
    pruned.fit(..., callbacks=pruning_callbacks(log_dir))
    model = strip_pruning(pruned)        # plain Keras layers, zeros in the weights
    weight_sparsity(model)               # per-layer fraction of zero weights

Sparsity alone does not make a model faster on this CPU (XNNPACK's sparse kernels need
conditions the int8 graph does not meet); it makes it smaller once compressed. For speed,
see `channel.prune_channels`.
"""


import numpy as np
from tflite_lite import _keras  # noqa: F401,I001  (Keras 2 for tfmot, first)
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.sparsity.keras.pruning_wrapper import (
    PruneLowMagnitude,
)

from tflite_lite._keras import is_keras3_model, keras
from tflite_lite.errors import UserError
from tflite_lite.compression.config import parse_m_by_n

_sparsity = tfmot.sparsity.keras
# Layers tfmot prunes (kernel only). It wraps every other layer but leaves it dense, depthwise
# kernels included (its registry lists no prunable weight for DepthwiseConv2D).
_PRUNABLE = (keras.layers.Conv2D, keras.layers.Dense)
_KERNEL_LAYERS = (keras.layers.Conv2D, keras.layers.DepthwiseConv2D, keras.layers.Dense)


def _tfmot_schedule(config):
    """tfmot's schedule object for a `PruningConfig`."""
    if config.schedule == "constant":
        return _sparsity.ConstantSparsity(config.final_sparsity, config.begin_step,
                                          end_step=config.end_step or -1,
                                          frequency=config.frequency)
    if config.end_step is None:
        raise UserError("the polynomial schedule needs end_step")
    return _sparsity.PolynomialDecay(config.initial_sparsity, config.final_sparsity,
                                     config.begin_step, config.end_step,
                                     frequency=config.frequency)


def prunable_layers(model):
    """Names of the layers whose kernels magnitude pruning sparsifies (Conv2D and Dense)."""
    return [layer.name for layer in model.layers if isinstance(layer, _PRUNABLE)]


def prune_model(model, config):
    """Wraps every prunable layer of `model` for magnitude pruning during `fit()`.

    Args:
      model: a float Keras functional model (not quantization-aware).
      config: a `PruningConfig` with `end_step` set (see `PruningConfig.with_steps`) for the
        polynomial schedule.

    Returns:
      The wrapped model (on a copy: `model` keeps its weights); train it with
      `pruning_callbacks()` and `strip_pruning()` it after.

    Raises:
      UserError: the model has no prunable layer, or is already wrapped.
    """
    if is_keras3_model(model):
        return _native().prune_model(model, config)
    config.validate()
    if is_pruned(model):
        raise UserError("the model is already wrapped for pruning")
    if not prunable_layers(model):
        raise UserError(f"model {model.name!r} has no prunable layer (Conv2D or Dense)")
    model = copy_model(model)  # tfmot's wrappers would share (and prune) the original's kernels
    if config.m_by_n:
        return _sparsity.prune_low_magnitude(model, sparsity_m_by_n=parse_m_by_n(config.m_by_n))
    return _sparsity.prune_low_magnitude(model, pruning_schedule=_tfmot_schedule(config))


def copy_model(model):
    """A functional model with the same layers (new objects) and the same weights."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def pruning_callbacks(log_dir=None):
    """The callbacks a tf_keras pruning `fit()` needs: tfmot's step update (and its
    summaries). A Keras 3 pruned model needs none: its wrappers count their steps."""
    callbacks = [_sparsity.UpdatePruningStep()]
    if log_dir:
        callbacks.append(_sparsity.PruningSummaries(log_dir=log_dir))
    return callbacks


def _native():
    from tflite_lite.compression.keras3 import pruning  # noqa: PLC0415

    return pruning


def is_pruned(model):
    if is_keras3_model(model):
        return _native().is_pruned(model)
    return any(isinstance(layer, PruneLowMagnitude) for layer in model.layers)


def strip_pruning(model):
    """Removes the pruning wrappers; the zeros stay in the weights."""
    if is_keras3_model(model):
        return _native().strip_pruning(model)
    return _sparsity.strip_pruning(model) if is_pruned(model) else model


def kernel_values(layer):
    """The kernel of a Conv2D / DepthwiseConv2D / Dense layer as numpy, looking through tfmot
    wrappers (whose inner layer may hold a computed tensor instead of the variable), or None."""
    if is_keras3_model(layer):
        return _keras3_kernel(layer)
    inner = layer
    while isinstance(inner, keras.layers.Wrapper):
        inner = inner.layer
    if not isinstance(inner, _KERNEL_LAYERS):
        return None
    leaf = "depthwise_kernel" if isinstance(inner, keras.layers.DepthwiseConv2D) else "kernel"
    for weight in layer.weights:
        if weight.name.split(":")[0].rsplit("/", 1)[-1] == leaf:
            return weight.numpy()
    return None


def _keras3_kernel(layer):
    """A Keras 3 layer's kernel as it computes with it: masked inside a pruning wrapper or a
    zero-keeping `QuantConv`."""
    inner = getattr(layer, "layer", layer)
    if type(inner).__name__ not in ("Conv2D", "DepthwiseConv2D", "Dense"):
        return None
    kernel = layer.masked_kernel() if hasattr(layer, "masked_kernel") else inner.kernel
    return np.asarray(kernel)


def weight_sparsity(model):
    """Fraction of exactly-zero kernel weights per Conv2D / DepthwiseConv2D / Dense layer.

    Returns:
      {"layers": {name: sparsity}, "overall": zeros / weights over all those kernels} (the
      depthwise kernels, which tfmot does not prune, count in the overall figure).
    """
    per_layer, zeros, total = {}, 0, 0
    for layer in model.layers:
        kernel = kernel_values(layer)
        if kernel is None:
            continue
        per_layer[layer.name] = float(np.mean(kernel == 0))
        zeros += int(np.sum(kernel == 0))
        total += kernel.size
    return {"layers": per_layer, "overall": zeros / total if total else 0.0}


def m_by_n_fraction(model, m_by_n="2:4"):
    """Fraction of Conv2D / Dense kernel blocks (n consecutive input channels) with at most m
    non-zeros: 1.0 when the whole model follows the m:n pattern."""
    m, n = parse_m_by_n(m_by_n)
    good = total = 0
    for layer in model.layers:
        inner = getattr(layer, "layer", layer)
        kernel = kernel_values(layer)
        if kernel is None or type(inner).__name__ not in ("Conv2D", "Dense"):
            continue
        kernel = np.moveaxis(kernel.reshape(-1, *kernel.shape[-2:]), -2, -1)  # (.., out, in)
        usable = kernel.shape[-1] // n * n
        if not usable:
            continue
        blocks = kernel[..., :usable].reshape(*kernel.shape[:-1], -1, n)
        nonzero = np.count_nonzero(blocks, axis=-1)
        good += int(np.sum(nonzero <= m))
        total += nonzero.size
    return good / total if total else 0.0
