"""Deployment forms: a trained model rebuilt in the layer layout that runs fastest in TFLite.

ShuffleNet V1 trains with each grouped 1x1 convolution as parallel conv-BN branches (TF's CPU
grouped convolution trains 16x slower); in TFLite those branches become slices, separate convs
and a concatenation, which in int8 run slower than float. `deploy_form` rewrites the graph with
native grouped convolutions and moves the trained weights over, unchanged.
"""

import re

import numpy as np

from tflite_lite import _graph
from tflite_lite._keras import keras
from tflite_lite.architectures._registry import create_model, get_model_config
from tflite_lite.errors import UserError

_BRANCH_MARKER = "_split_view"


def has_grouped_branches(model):
    return any(layer.name.endswith(_BRANCH_MARKER) for layer in model.layers)


def deploy_form(model, model_name=None, small_input=None):
    """Returns `model` itself, or a ShuffleNet V1 rebuilt with native grouped convolutions.

    With `model_name`, the registered builder's native form (today's layer layout) receives
    the trained weights. Without it (a channel-pruned model, whose widths are not the
    builder's), the graph is rewritten: each `<name>_split_*` → `<name>_g<i>` (→ `_bn`,
    `_relu`) → `<name>_concat` pattern becomes one `Conv2D(groups=g)` named `<name>` (→
    `<name>_bn`, `<name>_relu`) with the branch weights concatenated.

    Args:
      model: a trained Keras model.
      model_name: its registered name, when its structure is the builder's. Defaults to None.
      small_input: the builder's `small_input` used in training. Defaults to None (by size).

    Raises:
      UserError: the weights do not line up with the native form.
    """
    if not has_grouped_branches(model):
        return model
    if model_name is None:
        return _graph.rebuild(model, _NativeGroupedConvs(model))
    if get_model_config(model_name).family != "shufflenet_v1":
        return model
    last = model.layers[-1]
    activation = last.get_config()["activation"] if last.name == "predictions" else None
    native = create_model(model_name, input_shape=tuple(model.inputs[0].shape[1:]),
                          num_classes=model.outputs[0].shape[-1], small_input=small_input,
                          grouped_conv="native", classifier_activation=activation)
    transfer_weights(model, native)
    return native


_SPLIT = re.compile(r"^(?P<base>.+)_split_(view|crop\d+|part\d+)$")
_BRANCH = re.compile(r"^(?P<base>.+)_g(?P<index>\d+)(?P<tail>_bn|_relu|)$")


class _NativeGroupedConvs:
    """`_graph.rebuild` transform: a grouped conv's split, branches and concatenation become
    one native layer per branch stage (conv, batch norm, activation)."""

    def __init__(self, model):
        self.layers = {layer.name: layer for layer in model.layers}
        self.bases = {name[:-len(_BRANCH_MARKER)] for name in self.layers
                      if name.endswith(_BRANCH_MARKER)
                      and f"{name[:-len(_BRANCH_MARKER)]}_g0" in self.layers}
        self.merged = {}  # native layer name → its output

    def __call__(self, layer, inputs):
        split, branch = _SPLIT.match(layer.name), _BRANCH.match(layer.name)
        if split and split["base"] in self.bases:
            return inputs  # the native conv reads the whole tensor
        if layer.name.endswith("_concat") and layer.name[:-len("_concat")] in self.bases:
            return inputs[0]  # every branch input is the one native output
        if branch and branch["base"] in self.bases:
            native = branch["base"] + branch["tail"]
            if native not in self.merged:
                self.merged[native] = self._native(branch["base"], branch["tail"], inputs)
            return self.merged[native]
        return _graph.clone_call(layer, inputs)

    def _native(self, base, tail, inputs):
        branches = []
        while f"{base}_g{len(branches)}{tail}" in self.layers:
            branches.append(self.layers[f"{base}_g{len(branches)}{tail}"])
        overrides = {"name": base + tail}
        if isinstance(branches[0], keras.layers.Conv2D):
            widths = sorted({branch.filters for branch in branches})
            if len(widths) != 1:
                raise UserError(f"the branches of {base!r} differ in width: {widths}")
            overrides.update(filters=widths[0] * len(branches), groups=len(branches))
        layer = _graph.clone_layer(branches[0], **overrides)
        outputs = layer(inputs)
        if layer.weights:
            layer.set_weights([np.concatenate(parts, axis=-1)
                               for parts in zip(*(b.get_weights() for b in branches))])
        return outputs


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
