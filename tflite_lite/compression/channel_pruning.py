"""Channel (filter) pruning: remove whole output channels and rebuild a smaller dense model.

    small = prune_channels(model, ChannelPruningConfig(criterion="l1", fraction=0.5))

Only channels that can go without touching the family's structure are pruned: a convolution's
output channels are "free" when every path from them passes through per-channel layers (batch
norm, activations, depthwise convolutions, padding, pooling, dropout, concatenations) and ends
in the input of an ungrouped convolution or a dense layer. That covers MobileNet V1's pointwise
convs, MobileNet V2's expansion channels, ShuffleNet V2's branch channels, SqueezeNet's squeeze
and expand convs (through the fire concatenation) and every final 1x1 conv. Channels feeding a
residual add, a channel shuffle or split, a grouped convolution or the model output are kept,
so the rebuilt model computes the same function on the channels that remain.

ShuffleNet V1's bottleneck channels sit between grouped 1x1 convs and a channel shuffle; they
are pruned jointly (`shuffle_units`): the same number in every (group, shuffle-part) cell, so the
smaller model's shuffle routes each kept channel to the same group as before.
"""


import numpy as np

from tflite_lite import _graph
from tflite_lite._keras import keras
from tflite_lite.architectures import profile
from tflite_lite.compression import shuffle_units
from tflite_lite.errors import UserError

layers = keras.layers
_PER_CHANNEL = (layers.BatchNormalization, layers.ReLU, layers.Activation, layers.ZeroPadding2D,
                layers.MaxPooling2D, layers.AveragePooling2D, layers.Dropout,
                layers.GlobalAveragePooling2D)


def _is_plain_conv(layer):
    return (type(layer) is layers.Conv2D) and layer.groups == 1  # DepthwiseConv2D subclasses it


def _passes_channels(layer):
    if isinstance(layer, layers.DepthwiseConv2D):
        return layer.depth_multiplier == 1
    if isinstance(layer, layers.Concatenate):
        return layer.axis in (-1, 3)
    return isinstance(layer, _PER_CHANNEL)


def free_channel_groups(model):
    """The convolutions whose output channels can be removed, with what they feed.

    Returns:
      A list of dicts with one-element lists: `producers` (the conv layer), `bns` (the batch
      norm right after it, or None) and `probes` (the last tensor before a concatenation or
      the consuming layer: where the "activation" criterion measures).
    """
    readers = _graph.consumers(model)
    outputs = {id(t) for t in model.outputs}
    groups = []
    for layer, node in _graph.model_nodes(model):
        if not _is_plain_conv(layer):
            continue
        frontier, free = [node.outputs], True
        while frontier and free:
            tensor = frontier.pop()
            if id(tensor) in outputs or id(tensor) not in readers:
                free = False
                break
            for reader, reader_node in readers[id(tensor)]:
                if _passes_channels(reader):
                    frontier.append(reader_node.outputs)
                elif not (_is_plain_conv(reader) or isinstance(reader, layers.Dense)):
                    free = False
        if free:
            chain = _chain(readers, node.outputs)
            groups.append({"producers": [layer], "bns": [chain["bn"]],
                           "probes": [chain["probe"]]})
    return groups


def _chain(readers, tensor):
    """Follows the single-reader per-channel chain after a producer: its batch norm and the
    last tensor before a concatenation or a consumer."""
    bn = None
    while len(readers.get(id(tensor), [])) == 1:
        reader, reader_node = readers[id(tensor)][0]
        if not _passes_channels(reader) or isinstance(reader, (layers.Concatenate,
                                                               layers.GlobalAveragePooling2D)):
            break
        if bn is None and isinstance(reader, layers.BatchNormalization):
            bn = reader
        tensor = reader_node.outputs
    return {"bn": bn, "probe": tensor}


def _scores(model, groups, criterion, calibration_images):
    """One score per channel of each group (its producers' channels, concatenated)."""
    if criterion == "l1":
        return [np.concatenate([np.abs(conv.kernel.numpy()).sum(axis=(0, 1, 2))
                                for conv in g["producers"]]) for g in groups]
    if criterion == "bn_gamma":
        for group in groups:
            for conv, bn in zip(group["producers"], group["bns"]):
                if bn is None or not bn.scale:
                    raise UserError(f"criterion bn_gamma: {conv.name} has no batch norm with "
                                    "gamma; use l1 or activation")
        return [np.concatenate([np.abs(bn.gamma.numpy()) for bn in g["bns"]]) for g in groups]
    if calibration_images is None or len(calibration_images) == 0:
        raise UserError("criterion activation needs calibration images")
    tensors = [t for g in groups for t in g["probes"]]
    probe = keras.Model(model.inputs, tensors)
    totals = [0.0] * len(tensors)
    for start in range(0, len(calibration_images), 64):
        outputs = probe(calibration_images[start:start + 64], training=False)
        outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
        for i, out in enumerate(outputs):
            totals[i] = totals[i] + np.abs(out.numpy()).reshape(-1, out.shape[-1]).sum(axis=0)
    scores, start = [], 0
    for group in groups:
        count = len(group["probes"])
        scores.append(np.concatenate(totals[start:start + count]))
        start += count
    return scores


def _kept_count(channels, fraction, config):
    keep = int(np.ceil(channels * (1 - fraction) / config.round_to)) * config.round_to
    return int(min(channels, max(keep, config.min_channels)))


def _keep_indices(groups, scores, fraction, config):
    keep = {}
    for group, score in zip(groups, scores):
        count = _kept_count(len(score), fraction, config)
        keep[group["producers"][0].name] = np.sort(np.argsort(-score, kind="stable")[:count])
    return keep


def _propagate(model, keep):
    """Kept input / output channel indices per layer (None: all)."""
    tensor_keep, plan = {}, {}
    for layer, node in _graph.model_nodes(model):
        inputs = _flatten(node.call_args[0])
        in_keeps = [tensor_keep.get(id(t)) for t in inputs]
        if layer.name in keep:
            out_keep = keep[layer.name]
        elif isinstance(layer, layers.Concatenate) and any(k is not None for k in in_keeps):
            offsets = np.cumsum([0] + [t.shape[-1] for t in inputs])
            out_keep = np.concatenate([(np.arange(t.shape[-1]) if k is None else k) + offset
                                       for t, k, offset in zip(inputs, in_keeps, offsets)])
        elif _passes_channels(layer):
            out_keep = in_keeps[0]
        else:
            out_keep = None
        tensor_keep[id(node.outputs)] = out_keep
        plan[layer.name] = (in_keeps[0] if len(in_keeps) == 1 else None, out_keep)
    return plan


def _flatten(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _sliced_weights(layer, in_keep, out_keep):
    weights = layer.get_weights()
    if isinstance(layer, layers.DepthwiseConv2D):
        keep = in_keep if in_keep is not None else slice(None)
        return [weights[0][:, :, keep, :]] + [w[keep] for w in weights[1:]]
    if isinstance(layer, layers.BatchNormalization):
        return [w if in_keep is None else w[in_keep] for w in weights]
    if isinstance(layer, (layers.Conv2D, layers.Dense)):
        kernel = weights[0]
        if in_keep is not None:
            kernel = np.take(kernel, in_keep, axis=-2)
        if out_keep is not None:
            kernel = kernel[..., out_keep]
        return [kernel] + [b if out_keep is None else b[out_keep] for b in weights[1:]]
    return weights


def channel_plan(model, groups, scores, units, unit_scores, fraction, config):
    """What the smaller model keeps: {layer name: (kept input channels, kept output channels)}
    (None: all) and the config changes ({layer name: {key: value}}) that rebuild it."""
    keep = _keep_indices(groups, scores, fraction, config)
    plan = _propagate(model, keep)
    overrides = {name: {"filters": len(indices)} for name, indices in keep.items()}
    for unit, score in zip(units, unit_scores):
        unit_plan = shuffle_units.plan(model, unit, score, fraction)
        plan.update(unit_plan["channels"])
        overrides.update(unit_plan["overrides"])
    return plan, overrides


def _rebuild(model, plan, overrides):
    def transform(layer, inputs):
        new = _graph.clone_layer(layer, **overrides.get(layer.name, {}))
        outputs = new(inputs)
        if layer.weights:
            new.set_weights(_sliced_weights(layer, *plan[layer.name]))
        return outputs

    return _graph.rebuild(model, transform)


def _kept_channels(plan):
    """A plan's kept channels, hashable."""
    return tuple(sorted((name, *(None if kept is None else tuple(int(i) for i in kept)
                                 for kept in channels))
                        for name, channels in plan.items()))


def _select(model, groups, scores, units, unit_scores, fraction, config):
    return _rebuild(model, *channel_plan(model, groups, scores, units, unit_scores, fraction,
                                         config))


def prune_channels(model, config, calibration_images=None):
    """Removes the lowest-ranked free channels and returns a smaller dense model.

    Args:
      model: a trained float functional Keras model (not wrapped for QAT or pruning).
      config: a `ChannelPruningConfig`.
      calibration_images: preprocessed images (N, H, W, C) for the "activation" criterion.

    Returns:
      A new Keras model with the same layer names and fewer channels; fine-tune it.

    Raises:
      UserError: no channel can be removed without breaking the model's structure, or the
        criterion cannot be computed.
    """
    config.validate()
    if any(isinstance(layer, layers.Wrapper) for layer in model.layers):
        raise UserError("channel pruning needs a plain float model (strip QAT / pruning first)")
    groups, units = free_channel_groups(model), shuffle_units.find(model)
    if not groups and not units:
        raise UserError(f"model {model.name!r} has no channels that can be removed without "
                        "changing a residual add, a shuffle, a grouped conv or the output")
    scores = _scores(model, groups + units, config.criterion, calibration_images)
    scores, unit_scores = scores[:len(groups)], scores[len(groups):]
    if config.target_macs_ratio is None:
        return _select(model, groups, scores, units, unit_scores, config.fraction, config)
    budget = config.target_macs_ratio * profile(model)["macs"]
    low, high, best = 0.0, 0.95, None
    fits = {}  # kept channels -> (model, fits the budget): late in the bisection,
    for _ in range(12):  # neighbouring fractions keep the same channels
        fraction = (low + high) / 2
        plan, overrides = channel_plan(model, groups, scores, units, unit_scores, fraction,
                                       config)
        key = _kept_channels(plan)
        if key not in fits:
            candidate = _rebuild(model, plan, overrides)
            fits[key] = candidate, profile(candidate)["macs"] <= budget
        candidate, fit = fits[key]
        if fit:
            high, best = fraction, candidate
        else:
            low = fraction
    if best is None:
        raise UserError(f"target_macs_ratio {config.target_macs_ratio} is out of reach: the "
                        "free channels carry too few of the MACs")
    return best
