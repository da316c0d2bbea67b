"""Reading and re-running a functional model's graph.

`classifier_shapes` checks that a model is what every stage takes: an image classifier with
one (H, W, C) input and one (classes,) output.

Channel pruning and low-rank factorization both need the same model with different layer
shapes (or one layer split in two). `rebuild` walks the layers in topological order and calls
`transform(layer, inputs)` for each; the result becomes that layer's output in the new graph.
"""


from tflite_lite._keras import keras, tf
from tflite_lite.errors import UserError


def classifier_shapes(model):
    """(input shape (H, W, C), number of classes) of a one-input, one-output classifier."""
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"expected a classifier with one input and one output, got "
                        f"{len(model.inputs)} inputs and {len(model.outputs)} outputs")
    input_shape = tuple(model.inputs[0].shape[1:])
    output_shape = tuple(model.outputs[0].shape[1:])
    if len(input_shape) != 3 or None in input_shape or len(output_shape) != 1:
        raise UserError(f"expected an image classifier (H, W, C) → (classes,), got "
                        f"{input_shape} → {output_shape}")
    return input_shape, output_shape[0]


def unwrapped(layer):
    """The layer inside tfmot's QAT / pruning / clustering wrappers (the layer itself if none)."""
    while hasattr(layer, "layer") and isinstance(layer.layer, keras.layers.Layer):
        layer = layer.layer
    return layer


def clone_layer(layer, **overrides):
    """A fresh, unbuilt copy of `layer` from its config, with some config keys replaced."""
    config = layer.get_config()
    config.update(overrides)
    return layer.__class__.from_config(config)


def clone_call(layer, inputs):
    """Calls a fresh copy of `layer` on `inputs` and gives it `layer`'s weights."""
    new = clone_layer(layer)
    outputs = new(inputs)
    if layer.weights:
        new.set_weights(layer.get_weights())
    return outputs


def model_nodes(model):
    """(layer, node) for each layer call of a functional model, in topological order."""
    if not getattr(model, "_is_graph_network", False):
        raise UserError(f"model {model.name!r} is not a functional Keras model")
    pairs = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        nodes = [node for index, node in enumerate(layer._inbound_nodes)  # noqa: SLF001
                 if f"{layer.name}_ib-{index}" in model._network_nodes]  # noqa: SLF001
        if len(nodes) != 1:
            raise UserError(f"layer {layer.name!r} is used {len(nodes)} times; shared layers are "
                            "not supported")
        pairs.append((layer, nodes[0]))
    return pairs


def rebuild(model, transform):
    """Builds a new functional model with the same wiring as `model`.

    Args:
      model: a functional Keras model with one input.
      transform: `transform(layer, inputs)` → output tensor(s): called once per layer, with
        the layer's first call argument (a tensor or a list of them), already rebuilt.

    Returns:
      The new Keras model, named like `model`.
    """
    inputs = keras.Input(shape=model.inputs[0].shape[1:], name=model.inputs[0].name.split(":")[0])
    mapping = {id(model.inputs[0]): inputs}

    def lookup(tensor):
        return mapping[id(tensor)] if id(tensor) in mapping else tensor

    for layer, node in model_nodes(model):
        outputs = transform(layer, tf.nest.map_structure(lookup, node.call_args[0]))
        for old, new in zip(tf.nest.flatten(node.outputs), tf.nest.flatten(outputs)):
            mapping[id(old)] = new
    return keras.Model(inputs, [lookup(t) for t in model.outputs][0]
                       if len(model.outputs) == 1 else [lookup(t) for t in model.outputs],
                       name=model.name)


def consumers(model):
    """{id(tensor): [(layer, node)]} — which layer calls read each tensor."""
    readers = {}
    for layer, node in model_nodes(model):
        for tensor in tf.nest.flatten(node.call_args):
            if hasattr(tensor, "shape"):
                readers.setdefault(id(tensor), []).append((layer, node))
    return readers
