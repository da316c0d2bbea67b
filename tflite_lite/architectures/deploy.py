"""Deployment forms: a trained model rebuilt in the layer layout that runs fastest in TFLite.

ShuffleNet V1 trains with each grouped 1x1 convolution as parallel conv-BN branches (TF's CPU
grouped convolution trains 16x slower); in TFLite those branches become slices, separate convs
and a concatenation, which in int8 run slower than float. `deploy_form` rebuilds the model
with native grouped convolutions and moves the trained weights over, unchanged.
"""

import numpy as np

from tflite_lite.architectures._registry import create_model, get_model_config
from tflite_lite.errors import UserError

_BRANCH_MARKER = "_split_view"


def has_grouped_branches(model):
    return any(layer.name.endswith(_BRANCH_MARKER) for layer in model.layers)


def deploy_form(model, model_name, small_input=None):
    """Returns `model` itself, or a ShuffleNet V1 rebuilt with native grouped convolutions.

    Args:
      model: a trained Keras model built by `create_model(model_name, ...)`.
      model_name: its registered name (run.json's `model`).
      small_input: the builder's `small_input` used in training. Defaults to None (by size).

    Raises:
      UserError: the rebuilt model's weights do not line up with the trained ones.
    """
    if not has_grouped_branches(model) or get_model_config(model_name).family != "shufflenet_v1":
        return model
    last = model.layers[-1]
    activation = last.get_config()["activation"] if last.name == "predictions" else None
    native = create_model(model_name, input_shape=tuple(model.inputs[0].shape[1:]),
                          num_classes=model.outputs[0].shape[-1], small_input=small_input,
                          grouped_conv="native", classifier_activation=activation)
    transfer_weights(model, native)
    return native


def transfer_weights(source, target):
    """Copies weights by layer name; a grouped layer `name` (or `name_bn`) gathers the branch
    layers `name_g0`, `name_g1`, ... (`name_g0_bn`, ...) of `source` along the channel axis."""
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if not layer.weights:
            continue
        if layer.name in by_name:
            weights = by_name[layer.name].get_weights()
        else:
            base, bn = (layer.name[:-3], "_bn") if layer.name.endswith("_bn") else (layer.name, "")
            branches = []
            while f"{base}_g{len(branches)}{bn}" in by_name:
                branches.append(by_name[f"{base}_g{len(branches)}{bn}"].get_weights())
            if not branches:
                raise UserError(f"no trained weights for layer {layer.name!r}")
            weights = [np.concatenate(parts, axis=-1) for parts in zip(*branches)]
        if [w.shape for w in weights] != [tuple(w.shape) for w in layer.weights]:
            raise UserError(f"weights of {layer.name!r} do not match the deployment form")
        layer.set_weights(weights)
