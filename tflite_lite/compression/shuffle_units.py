"""Channel pruning inside ShuffleNet V1 bottlenecks: grouped 1x1 → shuffle → depthwise → grouped 1x1.

The bottleneck's m channels come from G1 branch convs (`<unit>_gconv1_g<i>`, or one
`<unit>_gconv1` in the first unit), are shuffled (channel (i, j) of branch i goes to position
j·G1 + i), pass the depthwise conv and are split into g parts of m/g for the branch convs of
`<unit>_gconv2_g<k>`. Each (branch i, part k) pair is a cell. Keeping the same number c of
channels in every cell gives a bottleneck of m' = G1·g·c channels whose own shuffle sends each
kept channel to the part it fed before, so the smaller model computes the same function on the
kept channels. Units are found by their layer names (the builders' stable naming).
"""

import numpy as np

_VIEW = "_gconv2_split_view"


def find(model):
    """The bottleneck units of a branch-form ShuffleNet V1, as rankable channel groups."""
    names = {layer.name for layer in model.layers}
    units = []
    for layer in model.layers:
        if not layer.name.endswith(_VIEW):
            continue
        unit = layer.name[:-len(_VIEW)]
        parts = 0
        while f"{unit}_gconv2_g{parts}" in names:
            parts += 1
        branches = []
        while f"{unit}_gconv1_g{len(branches)}" in names:
            branches.append(f"{unit}_gconv1_g{len(branches)}")
        branches = branches or ([f"{unit}_gconv1"] if f"{unit}_gconv1" in names else [])
        if not branches or not parts or f"{unit}_dw" not in names:
            continue
        producers = [model.get_layer(name) for name in branches]
        units.append({
            "unit": unit, "parts": parts, "producers": producers,
            "bns": [model.get_layer(f"{name}_bn") if f"{name}_bn" in names else None
                    for name in branches],
            "probes": [model.get_layer(f"{name}_relu").output for name in branches],
        })
    return units


def plan(model, unit, score, fraction):
    """Kept channels per layer of one unit and the config changes its layers need.

    Args:
      model: the model `unit` comes from.
      unit: one entry of `find(model)`.
      score: one score per bottleneck channel, in branch order.
      fraction: share of the channels to remove (rounded to whole cells).

    Returns:
      {"channels": {layer name: (kept input channels, kept output channels)},
       "overrides": {layer name: {config key: value}}}.
    """
    name, parts = unit["unit"], unit["parts"]
    branches = [conv.name for conv in unit["producers"]]
    g1 = len(branches)
    m = model.get_layer(f"{name}_dw").output.shape[-1]
    per_branch, per_part = m // g1, m // parts
    cells = {(i, k): [j for j in range(per_branch) if (j * g1 + i) // per_part == k]
             for i in range(g1) for k in range(parts)}
    smallest = min(len(cell) for cell in cells.values())
    count = int(min(smallest, max(1, round(m * (1 - fraction) / (g1 * parts)))))
    kept = {i: np.sort(np.concatenate([
        np.asarray(cells[i, k])[np.argsort(-score[i * per_branch + np.asarray(cells[i, k])],
                                           kind="stable")[:count]] for k in range(parts)]))
        for i in range(g1)}
    m_new = g1 * parts * count
    channels, overrides = {}, {}
    for i, branch in enumerate(branches):
        channels[branch] = (None, kept[i])
        channels[f"{branch}_bn"] = (kept[i], kept[i])
        overrides[branch] = {"filters": len(kept[i])}
    # Where each channel of the smaller shuffled tensor was in the original one.
    original = np.empty(m_new, dtype=int)
    for i in range(g1):
        original[np.arange(len(kept[i])) * g1 + i] = kept[i] * g1 + i
    channels[f"{name}_dw"] = channels[f"{name}_dw_bn"] = (original, original)
    new_part = m_new // parts
    for k in range(parts):
        channels[f"{name}_gconv2_g{k}"] = (original[k * new_part:(k + 1) * new_part] -
                                           k * per_part, None)
    reshapes = [f"{name}_shuffle_group", f"{name}_shuffle_flatten", f"{name}{_VIEW}"] + [
        f"{name}_gconv2_split_part{k}" for k in range(parts)]
    for layer_name in reshapes:
        try:
            target = tuple(model.get_layer(layer_name).get_config()["target_shape"])
        except ValueError:  # no shuffle in a single-branch unit
            continue
        overrides[layer_name] = {"target_shape": (*target[:-1], target[-1] * m_new // m)}
    return {"channels": channels, "overrides": overrides}
