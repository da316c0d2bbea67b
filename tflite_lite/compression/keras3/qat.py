"""Quantization-aware training for Keras 3 models, without tfmot.

    qat_model = quantize_model(keras3_model)   # the same call as for tf_keras models
    qat_model.compile(...); qat_model.fit(...)
    tflite_lite.export(qat_model, mode="int8", calibration=images)   # all int8

The model is rebuilt with the same wiring as the int8 graph the converter will write, tfmot's
default 8-bit scheme as the reference:

- each Conv2D, DepthwiseConv2D and Dense becomes a `QuantConv` of the same name, with the batch
  norm after it folded in and its folded kernel fake-quantized (symmetric int8, per channel for
  convolutions);
- every tensor the int8 graph holds gets an `ActivationQuantizer` (`<layer>_quant`) whose range
  is tracked while training: the input, and the output of each op, except where the converter
  fuses the next op (a ReLU / ReLU6 after a convolution or an addition), after ops that keep
  their input's scale (reshaping, padding, max pooling, dropout), and for the logits, which
  the int8 export's default float head computes in float (int8 logits would tie classes; an
  export with `scores="logits"` calibrates that one tensor);
- the hard swish and hard sigmoid layers also fake-quantize their gates.

So every int8 tensor's range comes from training, none from calibration. A layer it does not
know is refused in one line; `QATConfig(float_layers=[...])` leaves named layers in float,
shared with the float model (the export then needs `allow_float_ops`).
"""

import collections

from tflite_lite._keras import keras3
from tflite_lite.architectures import keras3 as builders3
from tflite_lite.compression.config import QATConfig
from tflite_lite.compression.keras3.layers import ActivationQuantizer, QuantConv
from tflite_lite.errors import UserError

keras = keras3()

# Ops whose int8 output keeps its input's scale and zero point: no range of their own
# (TFLite's int8 AVERAGE_POOL_2D requires it; MEAN, the global pooling, does not).
_SAME_SCALE = ("Reshape", "Permute", "Flatten", "MaxPooling1D", "MaxPooling2D",
               "AveragePooling2D",
               "GlobalMaxPooling2D", "ZeroPadding2D", "Cropping2D", "Dropout", "SpatialDropout2D",
               "GaussianNoise", "GaussianDropout", "Identity", "Transpose")
# Layers kept as they are, with an output range.
_RANGED = ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate",
           "GlobalAveragePooling2D", "BatchNormalization", "ReLU",
           "Activation", "Softmax", "Rescaling", "Normalization", "UpSampling2D",
           "HardSwish", "HardSigmoid", "Relu", "Relu6", "TrueDivide", "Divide",
           "Mean", "Sigmoid", "HardSigmoidOp")
_FOLDABLE = ("Conv2D", "DepthwiseConv2D", "Dense")
# Ops into which the converter fuses a ReLU / ReLU6 that follows.
_FUSES_RELU = ("QuantConv", "Add", "Subtract", "Multiply")
_RELUS = ("relu", "relu6")


def is_quantized(model):
    """Whether a Keras 3 model holds this package's QAT layers."""
    return any(isinstance(layer, (ActivationQuantizer, QuantConv)) for layer in model.layers)


def quantize_model(model, config=None):
    """Rebuilds a Keras 3 functional or Sequential float model for quantization-aware
    training (see the module docstring); weights are copied, the float model is unchanged.

    Raises:
      UserError: a subclassed model, a shared layer, a layer it cannot quantize (named), an
        already quantized model, or a `QATConfig` asking for what Keras 3 QAT does not do.
    """
    config = config or QATConfig()
    config.validate()
    if config.weight_quantizer != "int8" or config.preserve == "clusters":
        raise UserError("Keras 3 QAT quantizes weights to int8 with tfmot's default scheme; "
                        f"weight_quantizer={config.weight_quantizer!r} and preserve="
                        f"{config.preserve!r} need a tf_keras model")
    graph = _Graph(model)
    if is_quantized(model):
        raise UserError("the model is already quantization-aware; pass its float version")
    float_layers = set(config.float_layers)
    unknown = float_layers - {op.name for op in graph.operations}
    if unknown:
        raise UserError(f"float_layers names no layer of the model: {', '.join(sorted(unknown))}")
    for op in graph.operations:
        if op.name not in float_layers:
            _check_known(op)
    return _Rebuild(graph, float_layers, config.preserve == "sparsity").model()


def _kind(op):
    return type(op).__name__


def _check_known(op):
    kind = _kind(op)
    if kind in _SAME_SCALE + _RANGED + _FOLDABLE + ("InputLayer", "PruneLowMagnitude"):
        if kind == "Activation" and _activation_name(op) is None:
            raise UserError(_unknown(op, "an activation function Keras does not name"))
        return
    what = ("Python code" if kind == "Lambda" else "a model inside the model"
            if isinstance(op, keras.Model) else "a layer QAT does not know")
    raise UserError(_unknown(op, what))


def _unknown(op, what):
    return (f"layer {op.name!r} ({_kind(op)}) cannot be quantization-aware trained: it is "
            f"{what}; keep it in float with QATConfig(float_layers=[{op.name!r}]) "
            "(and export with allow_float_ops), or rebuild it from Keras layers")


def _activation_name(op):
    function = getattr(op, "activation", None)
    name = getattr(function, "__name__", None)
    return name if name in keras.activations.__dict__ or name == "linear" else None


def _is_relu(op):
    kind = _kind(op)
    if kind == "ReLU":
        return (op.negative_slope == 0 and op.threshold == 0
                and op.max_value in (None, 6.0))
    if kind == "Activation":
        return _activation_name(op) in _RELUS
    return kind in ("Relu", "Relu6")


class _Graph:
    """A functional model's nodes in call order, and which nodes read each tensor."""

    def __init__(self, model):
        name = getattr(model, "name", type(model).__name__)
        model = getattr(model, "_functional", None) or model  # a built Sequential's graph
        if not getattr(model, "_nodes_by_depth", None) or not hasattr(model, "inputs"):
            raise UserError(f"model {name!r} is subclassed (or not built): QAT needs its "
                            "graph; build it as a functional or Sequential model with an Input")
        if len(model.inputs) != 1 or len(model.outputs) != 1:
            raise UserError("QAT takes a model with one input and one output")
        self.model, self.name = model, name
        self.nodes = [node for depth in sorted(model._nodes_by_depth, reverse=True)  # noqa: SLF001
                      for node in model._nodes_by_depth[depth]  # noqa: SLF001
                      if node.operation is not None and not node.is_input]
        self.readers = collections.defaultdict(list)
        calls = collections.Counter()
        for node in self.nodes:
            calls[id(node.operation)] += 1
            for tensor in node.input_tensors:
                self.readers[id(tensor)].append(node)
        for node in self.nodes:
            if calls[id(node.operation)] > 1:
                raise UserError(f"layer {node.operation.name!r} is called "
                                f"{calls[id(node.operation)]} times; QAT needs each layer "
                                "called once")
            if len(node.outputs) != 1:
                raise UserError(f"layer {node.operation.name!r} has {len(node.outputs)} "
                                "outputs; QAT takes layers with one")
        self.operations = [node.operation for node in self.nodes]

    def only_reader(self, node):
        """The one node that reads `node`'s output, or None (several, or a model output)."""
        readers = self.readers[id(node.outputs[0])]
        is_output = any(node.outputs[0] is t for t in self.model.outputs)
        return readers[0] if len(readers) == 1 and not is_output else None


class _Rebuild:
    """The QAT model: each node rebuilt, folded or fake-quantized as the docstring says."""

    def __init__(self, graph, float_layers, preserve_zeros=False):
        self.graph, self.float_layers = graph, float_layers
        self.preserve_zeros = preserve_zeros
        self.tensors, self.weights, self.absorbed = {}, [], set()

    def model(self):
        source = self.graph.model
        name = source.layers[0].name if source.layers else "input"
        inputs = keras.Input(shape=tuple(source.inputs[0].shape[1:]), name=name)
        self.tensors[id(source.inputs[0])] = ActivationQuantizer(name=f"{name}_quant")(inputs)
        for node in self.graph.nodes:
            self._node(node)
        model = keras.Model(inputs, self.tensors[id(source.outputs[0])], name=self.graph.name)
        for target, values in self.weights:  # a layer's weights, or one variable
            if isinstance(target, keras.layers.Layer):
                target.set_weights(values)
            else:
                target.assign(values)
        return model

    def _node(self, node):
        op = node.operation
        if id(op) in self.absorbed:  # a batch norm folded into the convolution before it
            self.tensors[id(node.outputs[0])] = self.tensors[id(node.input_tensors[0])]
            return
        args, kwargs = node.arguments.fill_in(self.tensors)
        kwargs.pop("training", None)
        if op.name in self.float_layers:  # shared with the float model: it may be code
            output, kind = op(*args, **kwargs), "float"
        elif _kind(_unpruned(op)) in _FOLDABLE:
            output, kind = self._fold(node, args[0])
        else:
            output, kind = self._copy(op)(*args, **kwargs), _kind(op)
        if self._needs_range(node, kind):
            output = ActivationQuantizer(name=f"{op.name}_quant")(output)
        self.tensors[id(node.outputs[0])] = output

    def _needs_range(self, node, kind):
        if kind in _SAME_SCALE or kind == "float":
            return False
        reader = self.graph.only_reader(node)
        if reader is not None and id(reader.operation) in self.absorbed:
            reader = self.graph.only_reader(reader)  # what reads the folded batch norm
        if reader is not None and kind in _FUSES_RELU and _is_relu(reader.operation):
            return False  # the converter fuses the ReLU: one tensor, ranged after it
        return not self._is_logits(node, reader) and not _softmax_output(node, self.graph)

    def _is_logits(self, node, reader):
        """Whether `node` gives the class scores before the final softmax (or the output of a
        model that ends linear). They stay float: the int8 export's default head computes
        them in float (`scores="float_logits"`), and rounded logits would tie classes."""
        if _is_model_output(node, self.graph):
            return not _is_softmax(node.operation)
        return (reader is not None and _kind(reader.operation) in ("Softmax", "Activation")
                and _softmax_output(reader, self.graph))

    def _zeros_kept(self, wrapper, op):
        """The 0/1 mask QAT keeps a kernel's zeros with: a pruning wrapper's, or with
        `preserve="sparsity"` the kernel's own zeros; None to let every weight train."""
        if wrapper is not op:
            return wrapper.mask.numpy()
        if self.preserve_zeros:
            return (op.kernel.numpy() != 0).astype("float32")
        return None

    def _copy(self, op):
        """A fresh copy of a layer (weights set once the model is built), or the same
        stateless operation (`x + 3.0` in a Keras 3 functional model)."""
        if not isinstance(op, keras.layers.Layer):
            return op
        config = op.get_config()
        if isinstance(op, (builders3.HardSwish, builders3.HardSigmoid)):
            config["quantize_gate"] = True
        copy = op.__class__.from_config(config)
        if op.weights:
            self.weights.append((copy, op.get_weights()))
        return copy

    def _fold(self, node, inputs):
        wrapper = node.operation
        op = _unpruned(wrapper)
        reader = self.graph.only_reader(node)
        norm = None
        if (reader is not None and _kind(reader.operation) == "BatchNormalization"
                and _activation_name(op) == "linear"
                and reader.operation.name not in self.float_layers):
            norm = reader.operation
            self.absorbed.add(id(norm))
        activation = _activation_name(op)
        inner = op.__class__.from_config(
            {**op.get_config(), "activation": activation if activation in _RELUS else "linear"})
        mask = self._zeros_kept(wrapper, op)
        layer = QuantConv(inner, norm, keep_zeros=mask is not None, name=op.name)
        output = layer(inputs)
        self.weights.append((layer.layer, op.get_weights()))
        if norm is not None:
            self.weights.append((layer.batch_norm, norm.get_weights()))
        if mask is not None:
            self.weights.append((layer.mask, mask))
        if activation in ("linear", *_RELUS):
            return output, "QuantConv"
        # Another activation (softmax, sigmoid, hard swish) is an op of its own in int8.
        if not (activation == "softmax" and _is_model_output(node, self.graph)):
            output = ActivationQuantizer(name=f"{op.name}_linear_quant")(output)
        return (keras.layers.Activation(activation, name=f"{op.name}_{activation}")(output),
                "Activation")


def _unpruned(op):
    """The layer inside a pruning wrapper (`keras3.pruning`), or `op`."""
    return op.layer if _kind(op) == "PruneLowMagnitude" else op


def _is_softmax(op):
    return _kind(op) == "Softmax" or _activation_name(op) == "softmax"


def _is_model_output(node, graph):
    return any(node.outputs[0] is t for t in graph.model.outputs)


def _softmax_output(node, graph):
    """Whether `node` is a softmax giving the model's output: int8 softmax has a fixed range."""
    return _is_softmax(node.operation) and _is_model_output(node, graph)
