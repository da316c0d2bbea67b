"""Magnitude pruning for Keras 3 models, without tfmot: the same `PruningConfig` schedules
(constant, polynomial) and m:n sparsity.

    pruned = prune_model(keras3_model, PruningConfig(final_sparsity=0.75, end_step=2000))
    pruned.fit(...)                  # no callback needed: each wrapper counts its own steps
    model = strip_pruning(pruned)    # plain layers, zeros in the kernels

Each Conv2D and Dense is wrapped in `PruneLowMagnitude` (same name), which holds a mask and a
step counter. Every `frequency` training steps inside the schedule it sets the mask to keep the
largest kernel magnitudes (or the m largest of every n input channels), and each call computes
with the kernel times the mask, so pruned weights act as zeros (and get no gradient) while the
rest train; `strip_pruning` writes the zeros into the kernels. The wrappers save and load as `.keras`. QAT of a pruned model
(`quantize_model`) keeps the zeros: its `QuantConv` layers mask their kernels with the zeros
they start from.
"""

from tflite_lite._graph import clone_layer
from tflite_lite._keras import keras3
from tflite_lite.compression.config import PruningConfig, parse_m_by_n
from tflite_lite.compression.keras3.layers import apply_kernel
from tflite_lite.errors import UserError

keras = keras3()
ops = keras.ops
_PRUNABLE = ("Conv2D", "Dense")


@keras.saving.register_keras_serializable(package="tflite_lite")
class PruneLowMagnitude(keras.layers.Wrapper):
    """A Conv2D or Dense layer pruned by kernel magnitude on a `PruningConfig` schedule.

    Args:
      layer: the layer to prune (a fresh copy is trained, the original keeps its weights).
      pruning: the `PruningConfig`, or its config dict; `end_step` must be set for the
        polynomial schedule.
    """

    def __init__(self, layer, pruning, **kwargs):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        super().__init__(layer, **kwargs)
        self.pruning = (pruning if isinstance(pruning, PruningConfig)
                        else PruningConfig.from_config(pruning))

    def build(self, input_shape=None):
        if not self.layer.built:
            self.layer.build(input_shape)
        kernel = self.layer.kernel
        self.mask = self.add_weight(name="mask", shape=kernel.shape, initializer="ones",
                                    trainable=False)
        self.step = self.add_weight(name="step", shape=(), initializer="zeros",
                                    trainable=False)
        self.built = True

    def call(self, inputs, training=False):
        if training:
            self._maybe_update_mask()
            self.step.assign(self.step + 1.0)
        layer = self.layer
        return apply_kernel(layer, inputs, self.masked_kernel(),
                            layer.bias if layer.use_bias else None)

    def masked_kernel(self):
        """The kernel as the layer computes with it: pruned weights zero."""
        return self.layer.kernel * self.mask

    def target_sparsity(self, step):
        """The schedule's sparsity at `step` (a tensor), 0 before `begin_step`."""
        config = self.pruning
        begin = float(config.begin_step)
        if config.schedule == "constant":
            return ops.where(step >= begin, config.final_sparsity, 0.0)
        span = float(config.end_step - config.begin_step)
        progress = ops.clip((step - begin) / span, 0.0, 1.0)
        ramp = config.final_sparsity + (config.initial_sparsity - config.final_sparsity) * (
            1.0 - progress) ** 3
        return ops.where(step >= begin, ramp, 0.0)

    def _maybe_update_mask(self):
        config, step = self.pruning, self.step
        last = config.end_step if config.end_step is not None else float("inf")
        on_beat = ops.logical_or(  # every `frequency` steps, and at end_step itself
            ops.equal(ops.mod(step - config.begin_step, float(config.frequency)), 0.0),
            ops.equal(step, float(last) if config.end_step is not None else -1.0))
        due = ops.logical_and(ops.logical_and(step >= config.begin_step, step <= last),
                              on_beat)
        if config.m_by_n:
            due = ops.equal(step, 0.0)  # the m:n pattern is set once, at the first step
        new_mask = (self._m_by_n_mask() if config.m_by_n
                    else self._magnitude_mask(self.target_sparsity(step)))
        self.mask.assign(ops.where(due, new_mask, self.mask))

    def _magnitude_mask(self, sparsity):
        magnitudes = ops.reshape(ops.abs(self.layer.kernel), (-1,))
        size = magnitudes.shape[0]
        pruned = ops.cast(ops.floor(sparsity * size), "int32")
        ordered = ops.sort(magnitudes)
        threshold = ops.take(ordered, ops.maximum(pruned - 1, 0))
        keep = ops.where(pruned > 0, ops.abs(self.layer.kernel) > threshold, True)
        return ops.cast(keep, "float32")

    def _m_by_n_mask(self):
        """Keeps the m largest magnitudes of every n consecutive input channels."""
        m, n = parse_m_by_n(self.pruning.m_by_n)
        kernel = self.layer.kernel
        shape = kernel.shape
        channels = shape[-2]
        usable = channels // n * n
        moved = ops.moveaxis(ops.abs(kernel), -2, -1)  # (..., out, in)
        blocks = ops.reshape(moved[..., :usable], (*moved.shape[:-1], usable // n, n))
        ranks = ops.argsort(ops.argsort(-blocks, axis=-1), axis=-1)
        keep = ops.reshape(ops.cast(ranks < m, "float32"), (*moved.shape[:-1], usable))
        if usable < channels:  # a partial last block stays dense
            keep = ops.concatenate([keep, ops.ones((*moved.shape[:-1], channels - usable))],
                                   axis=-1)
        return ops.moveaxis(keep, -1, -2)

    def compute_output_shape(self, input_shape):
        return self.layer.compute_output_shape(input_shape)

    def get_config(self):
        return {**super().get_config(), "pruning": self.pruning.get_config()}


def is_pruned(model):
    return any(isinstance(layer, PruneLowMagnitude) for layer in model.layers)


def prune_model(model, config):
    """Wraps every Conv2D and Dense of a Keras 3 functional model for magnitude pruning.

    Returns:
      A new model (the original keeps its weights) that prunes while it trains with `fit()`.

    Raises:
      UserError: a model already wrapped, without prunable layer, or a polynomial schedule
        without `end_step`.
    """
    config.validate()
    if config.schedule == "polynomial" and config.end_step is None and not config.m_by_n:
        raise UserError("the polynomial schedule needs end_step")
    if is_pruned(model):
        raise UserError("the model is already wrapped for pruning")
    if not any(type(layer).__name__ in _PRUNABLE for layer in model.layers):
        raise UserError(f"model {model.name!r} has no prunable layer (Conv2D or Dense)")

    def wrap(layer):
        copy = clone_layer(layer)
        if type(layer).__name__ in _PRUNABLE:
            return PruneLowMagnitude(copy, config, name=layer.name)
        return copy

    pruned = keras.models.clone_model(model, clone_function=wrap)
    for layer in model.layers:
        target = pruned.get_layer(layer.name)
        if layer.weights:
            inner = target.layer if isinstance(target, PruneLowMagnitude) else target
            inner.set_weights(layer.get_weights())
    return pruned


def strip_pruning(model):
    """The model with each `PruneLowMagnitude` replaced by its layer, zeros kept."""
    if not is_pruned(model):
        return model

    def unwrap(layer):
        return clone_layer(layer.layer if isinstance(layer, PruneLowMagnitude) else layer)

    stripped = keras.models.clone_model(model, clone_function=unwrap)
    for layer in model.layers:
        if not layer.weights:
            continue
        if isinstance(layer, PruneLowMagnitude):
            kernel = layer.layer.kernel
            values = [ops.convert_to_numpy(layer.masked_kernel()) if w is kernel else w.numpy()
                      for w in layer.layer.weights]
        else:
            values = layer.get_weights()
        stripped.get_layer(layer.name).set_weights(values)
    return stripped
