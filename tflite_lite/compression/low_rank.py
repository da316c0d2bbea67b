"""Low-rank (SVD) factorization of Dense and 1x1 Conv2D layers.

    thin = factorize(model, LowRankConfig(energy=0.9))

A layer with kernel W (in x out) becomes two: `<name>_low_rank` (in → r, no bias) then `<name>`
(r → out, the original bias and activation), with W ≈ (U·√S)(√S·Vᵀ) truncated to the smallest
rank r that keeps `energy` of the squared singular values. A layer is only split when that
saves parameters: r·(in + out) < in·out. Fine-tune afterwards.
"""


import numpy as np

from tflite_lite import _graph
from tflite_lite._keras import keras
from tflite_lite.errors import UserError

layers = keras.layers


def _matrix(layer):
    """The kernel as an (in, out) matrix, or None when the layer cannot be factorized."""
    if isinstance(layer, layers.Dense):
        return layer.kernel.numpy()
    if (type(layer) is layers.Conv2D and layer.groups == 1
            and tuple(layer.kernel_size) == (1, 1) and tuple(layer.dilation_rate) == (1, 1)):
        return layer.kernel.numpy()[0, 0]
    return None


def choose_rank(singular_values, config):
    """The rank `config` asks for, given a layer's singular values (descending)."""
    if config.rank is not None:
        return min(config.rank, len(singular_values))
    energy = np.cumsum(singular_values ** 2) / np.sum(singular_values ** 2)
    return int(np.searchsorted(energy, config.energy - 1e-9) + 1)


def plan_factorization(model, config):
    """{layer name: (rank, in, out)} for the layers that would be split."""
    config.validate()
    names = {layer.name for layer in model.layers}
    missing = sorted(set(config.layers or ()) - names)
    if missing:
        raise UserError(f"low-rank layers: model {model.name!r} has no layer {missing[0]!r}")
    plan = {}
    for layer in model.layers:
        if config.layers is not None and layer.name not in config.layers:
            continue
        matrix = _matrix(layer)
        if matrix is None:
            if config.layers is not None:
                raise UserError(f"low-rank: {layer.name!r} is not a Dense or 1x1 Conv2D layer")
            continue
        rank = choose_rank(np.linalg.svd(matrix, compute_uv=False), config)
        if rank * sum(matrix.shape) < matrix.size:
            plan[layer.name] = (rank, *matrix.shape)
    return plan


def factorize(model, config):
    """Returns a new model with the planned layers split in two thinner ones.

    Raises:
      UserError: no layer would get smaller at this energy / rank.
    """
    if any(isinstance(layer, layers.Wrapper) for layer in model.layers):
        raise UserError("low-rank factorization needs a plain float model (strip QAT / pruning "
                        "first)")
    plan = plan_factorization(model, config)
    if not plan:
        raise UserError(f"no Dense or 1x1 Conv2D layer of {model.name!r} gets smaller at "
                        f"{_describe(config)}")

    def transform(layer, inputs):
        if layer.name not in plan:
            return _graph.clone_call(layer, inputs)
        rank = plan[layer.name][0]
        u, s, vt = np.linalg.svd(_matrix(layer), full_matrices=False)
        first = u[:, :rank] * np.sqrt(s[:rank])
        second = np.sqrt(s[:rank])[:, None] * vt[:rank]
        if isinstance(layer, layers.Dense):
            head = layers.Dense(rank, use_bias=False, name=f"{layer.name}_low_rank")
            tail = _graph.clone_layer(layer)
        else:
            head = layers.Conv2D(rank, 1, strides=layer.strides, padding=layer.padding,
                                 use_bias=False, name=f"{layer.name}_low_rank")
            tail = _graph.clone_layer(layer, strides=(1, 1), padding="valid")
            first, second = first[None, None], second[None, None]
        outputs = tail(head(inputs))
        head.set_weights([first])
        tail.set_weights([second] + layer.get_weights()[1:])
        return outputs

    return _graph.rebuild(model, transform)


def _describe(config):
    return f"rank {config.rank}" if config.rank is not None else f"energy {config.energy}"
