"""Reading a `.tflite` flatbuffer as data: ops, tensors, quantization, metadata, MACs.

Pure Python (LiteRT's generated schema), so a malformed file raises `UserError` here instead of
crashing the process; loading it into an interpreter is done in a subprocess (`probe.py`).
"""

import gzip
import json
import math
import os

import numpy as np
from ai_edge_litert import schema_py_generated as schema
from ai_edge_litert.tools import flatbuffer_utils

from tflite_lite import _io
from tflite_lite.errors import UserError

FILE_IDENTIFIER = _io.TFLITE_FILE_IDENTIFIER
CONTRACT_METADATA = "tflite_lite.contract"
LABELS_METADATA = "tflite_lite.labels"

_OP_NAMES = {value: name for name, value in vars(schema.BuiltinOperator).items()
             if not name.startswith("_")}
_TYPE_NAMES = {value: name.lower() for name, value in vars(schema.TensorType).items()
               if not name.startswith("_")}
_EDGE_OPS = ("QUANTIZE", "DEQUANTIZE")
_FLOAT_TYPES = ("float32", "float16", "float64", "bfloat16")
# the float tensors `with_float_head` adds: its DEQUANTIZE's, the logits, a pooled conv's, and
# the int8 weights dequantized at run time
_FLOAT_HEAD_OUTPUTS = ("/float_input", "/float_logits", "/float_features", "/float_weights")


def read_bytes(path):
    """Reads a file that must look like a TFLite flatbuffer; raises `UserError` otherwise."""
    if not os.path.exists(path):
        raise UserError(f"{path}: no such file")
    if not os.path.isfile(path):
        raise UserError(f"{path}: not a file")
    with open(path, "rb") as f:
        data = f.read()
    check_bytes(data, path)
    return data


def check_bytes(data, name):
    if not data:
        raise UserError(f"{name}: empty file, not a TFLite model")
    if len(data) < 8 or data[4:8] != FILE_IDENTIFIER:
        raise UserError(f"{name}: not a TFLite flatbuffer (no 'TFL3' identifier)")


def parse(data, name="model"):
    """Parses flatbuffer bytes into LiteRT's schema objects (`ModelT`)."""
    check_bytes(data, name)
    try:
        model = flatbuffer_utils.read_model_from_bytearray(bytearray(data))
        if not model.subgraphs:
            raise ValueError("no subgraphs")
        _check_references(model)
    except UserError:
        raise
    except Exception as error:  # noqa: BLE001  (any parse failure means a corrupt file)
        raise UserError(f"{name}: corrupt or truncated TFLite flatbuffer "
                        f"({type(error).__name__}: {error})") from None
    return model


def serialize(model):
    """Flatbuffer bytes of a parsed (and maybe edited) `ModelT`."""
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


def op_name(model, op):
    """The builtin name of `op` ("CONV_2D") in a parsed `model`."""
    code = model.operatorCodes[op.opcodeIndex]
    return _OP_NAMES.get(max(code.builtinCode, code.deprecatedBuiltinCode))


def _check_references(model):
    subgraph = model.subgraphs[0]
    num_tensors = len(subgraph.tensors or [])
    num_codes = len(model.operatorCodes or [])
    for op in subgraph.operators or []:
        if not 0 <= op.opcodeIndex < num_codes:
            raise ValueError(f"operator code index {op.opcodeIndex} out of range")
        for index in list(op.inputs) + list(op.outputs):
            if not -1 <= index < num_tensors:
                raise ValueError(f"tensor index {index} out of range")
    for index in list(subgraph.inputs) + list(subgraph.outputs):
        if not 0 <= index < num_tensors:
            raise ValueError(f"graph input/output tensor {index} out of range")


def _name(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else (value or "")


def _tensor(tensor, buffers):
    quant = tensor.quantization
    scale = [] if quant is None or quant.scale is None else [float(s) for s in quant.scale]
    zero_point = ([] if quant is None or quant.zeroPoint is None
                  else [int(z) for z in quant.zeroPoint])
    buffer = buffers[tensor.buffer] if 0 < tensor.buffer < len(buffers) else None
    return {
        "name": _name(tensor.name),
        "dtype": _TYPE_NAMES.get(tensor.type, f"type_{tensor.type}"),
        "shape": [int(d) for d in (tensor.shape if tensor.shape is not None else [])],
        "constant": buffer is not None and buffer.data is not None and len(buffer.data) > 0,
        "scale": scale,
        "zero_point": zero_point,
        "quantized_dimension": int(quant.quantizedDimension) if scale and len(scale) > 1 else None,
    }


def describe(data, name="model"):
    """Describes a flatbuffer (first subgraph).

    Returns:
      A dict: `size_bytes`, `inputs` / `outputs` (tensor dicts), `tensors`, `ops` (one dict per
      operator in execution order: `op`, `inputs`, `outputs` as tensor indices), `op_counts`,
      `macs` and `metadata` (entry names).
    """
    model = parse(data, name)
    subgraph = model.subgraphs[0]
    buffers = model.buffers or []
    tensors = [_tensor(t, buffers) for t in subgraph.tensors]
    ops = []
    for op in subgraph.operators or []:
        code = flatbuffer_utils.get_builtin_code_from_operator_code(
            model.operatorCodes[op.opcodeIndex])
        op_name = _OP_NAMES.get(code, f"BUILTIN_{code}")
        if op_name == "CUSTOM":
            op_name = "CUSTOM:" + _name(model.operatorCodes[op.opcodeIndex].customCode)
        ops.append({"op": op_name, "inputs": [int(i) for i in op.inputs],
                    "outputs": [int(i) for i in op.outputs]})
    counts = {}
    for op in ops:
        counts[op["op"]] = counts.get(op["op"], 0) + 1
    return {
        "size_bytes": len(data),
        "inputs": [dict(tensors[i], index=int(i)) for i in subgraph.inputs],
        "outputs": [dict(tensors[i], index=int(i)) for i in subgraph.outputs],
        "tensors": tensors,
        "ops": ops,
        "op_counts": dict(sorted(counts.items())),
        "macs": count_macs(ops, tensors),
        "metadata": [_name(m.name) for m in model.metadata or []],
    }


def count_macs(ops, tensors):
    """Multiply-accumulates of the conv, depthwise and fully connected ops (as papers count them)."""
    total = 0
    for op in ops:
        if op["op"] not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        inputs = op["inputs"]
        if len(inputs) < 2 or min(inputs[:2]) < 0 or not op["outputs"]:
            continue
        out_shape = tensors[op["outputs"][0]]["shape"]
        weights = tensors[inputs[1]]["shape"]
        outputs = int(np.prod(out_shape)) if out_shape else 0
        if op["op"] == "CONV_2D" and len(weights) == 4:  # [out, kh, kw, in / groups]
            total += outputs * weights[1] * weights[2] * weights[3]
        elif op["op"] == "DEPTHWISE_CONV_2D" and len(weights) == 4:  # [1, kh, kw, out]
            total += outputs * weights[1] * weights[2]
        elif op["op"] == "FULLY_CONNECTED" and len(weights) == 2:  # [out, in]
            total += outputs * weights[1]
    return total


def float_ops(description):
    """Ops of an integer model that still compute in float.

    Every op except the QUANTIZE / DEQUANTIZE at the graph's edges and the float head that
    `with_float_head` adds (its DEQUANTIZE, FULLY_CONNECTED or CONV_2D and MEAN;
    `has_float_head`) counts if any of its tensors is a float type.

    Returns:
      A list of `"OP (tensor dtype: name)"` strings, empty for a fully integer model.
    """
    tensors = description["tensors"]
    edges = {t["index"] for t in description["inputs"] + description["outputs"]}
    found = []
    for op in description["ops"]:
        indices = [i for i in op["inputs"] + op["outputs"] if i >= 0]
        if op["op"] in _EDGE_OPS and edges.intersection(indices):
            continue
        if all(tensors[i]["name"].endswith(_FLOAT_HEAD_OUTPUTS) for i in op["outputs"]):
            continue
        floats = [tensors[i] for i in indices if tensors[i]["dtype"] in _FLOAT_TYPES]
        if floats:
            found.append(f"{op['op']} ({floats[0]['dtype']}: {floats[0]['name']})")
    return found


def has_float_head(description):
    """Whether the graph's output comes from the float last layer of `with_float_head`."""
    return any(t["name"].endswith(_FLOAT_HEAD_OUTPUTS[1]) for t in description["outputs"])


def float_head_weights(description):
    """The dtype the float head's weights are stored in ("int8" when a DEQUANTIZE makes them
    float at run time, "float32" for a file that stores them in float), or None without a
    float head."""
    if not has_float_head(description):
        return None
    tensors = description["tensors"]
    for op in description["ops"]:
        if op["op"] == "DEQUANTIZE" and tensors[op["outputs"][0]]["name"].endswith(
                _FLOAT_HEAD_OUTPUTS[3]):
            return tensors[op["inputs"][0]]["dtype"]
    return "float32"


def stored_weights(description, op):
    """The index of the tensor that stores `op`'s weights: its second input, or the int8
    tensor a DEQUANTIZE turns into it (the float head's)."""
    weights = op["inputs"][1]
    for other in description["ops"]:
        if other["op"] == "DEQUANTIZE" and other["outputs"] == [weights]:
            return other["inputs"][0]
    return weights


def embed_metadata(data, entries):
    """Returns flatbuffer bytes with `entries` ({name: bytes}) added as model metadata."""
    model = parse(data)
    model.metadata = [m for m in model.metadata or [] if _name(m.name) not in entries]
    for name, payload in entries.items():
        buffer = schema.BufferT()
        buffer.data = np.frombuffer(payload, dtype=np.uint8)
        model.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name = name
        entry.buffer = len(model.buffers) - 1
        model.metadata.append(entry)
    return serialize(model)


def _writer(model, graph, tensor):
    """(the index of the op that writes `tensor`, that op's name), or (None, None)."""
    index = next((i for i, op in enumerate(graph.operators) if tensor in list(op.outputs)), None)
    if index is None:
        return None, None
    return index, op_name(model, graph.operators[index])


def _output_op(model, graph):
    """(the graph's one output tensor, the index of the op that writes it, that op's name);
    Nones where there is no such op."""
    if len(graph.outputs) != 1:
        return None, None, None
    output = int(graph.outputs[0])
    return (output, *_writer(model, graph, output))


def _with_output(model, graph, old, new, **contract_output):
    """Serialized `model` whose output tensor `old` is now `new` (graph outputs and signature),
    with the embedded contract's `output` updated by `contract_output`, if it has one."""
    graph.outputs = np.array([new], dtype=np.int32)
    for signature in model.signatureDefs or []:
        for tensor_map in signature.outputs or []:
            if tensor_map.tensorIndex == old:
                tensor_map.tensorIndex = new
    data = serialize(model)
    contract = read_metadata(data, CONTRACT_METADATA)
    if contract is None:
        return data
    contract = json.loads(contract)
    contract["output"].update(contract_output, name=_name(graph.tensors[new].name))
    return embed_metadata(data, {CONTRACT_METADATA: json.dumps(contract).encode()})


def without_final_softmax(data, name="model"):
    """Flatbuffer bytes whose output is the input of the graph's final SOFTMAX (the logits),
    with that op removed and the signature updated; the model's other ops are untouched. An
    embedded contract gets the new output tensor and `scores: "logits"` (apps apply the
    softmax), so a released model drops its softmax without a new conversion.

    Raises:
      UserError: a model whose one output is not produced by a SOFTMAX op.
    """
    model = parse(data, name)
    graph = model.subgraphs[0]
    output, producer, op_name = _output_op(model, graph)
    if op_name != "SOFTMAX":
        raise UserError(f"{name}: its output does not come from a SOFTMAX op; it may give "
                        "logits already")
    logits = int(graph.operators[producer].inputs[0])
    if any(logits in list(op.inputs) for i, op in enumerate(graph.operators) if i != producer):
        raise UserError(f"{name}: the softmax input has other consumers")
    del graph.operators[producer]
    tensor = _tensor(graph.tensors[logits], model.buffers)
    return _with_output(model, graph, output, logits, scores="logits",
                        scale=tensor["scale"][0] if tensor["scale"] else None,
                        zero_point=tensor["zero_point"][0] if tensor["zero_point"] else None)


def _new_tensor(model, graph, name, shape, values=None):
    """Appends a float32 tensor (a constant if `values` is given) and returns its index."""
    buffer = schema.BufferT()
    if values is not None:
        buffer.data = np.frombuffer(np.asarray(values, np.float32).tobytes(), np.uint8)
    model.buffers.append(buffer)
    tensor = schema.TensorT()
    tensor.name, tensor.type = name, schema.TensorType.FLOAT32
    tensor.shape = np.array(shape, np.int32)
    tensor.buffer = len(model.buffers) - 1
    graph.tensors.append(tensor)
    return len(graph.tensors) - 1


def _opcode(model, code, version):
    for index, entry in enumerate(model.operatorCodes):
        if max(entry.builtinCode, entry.deprecatedBuiltinCode) == code:
            return index
    entry = schema.OperatorCodeT()
    entry.builtinCode = entry.deprecatedBuiltinCode = code
    entry.version = version
    model.operatorCodes.append(entry)
    return len(model.operatorCodes) - 1


def _constant(model, graph, index):
    """The real values of an int8 / int32 constant tensor (per-channel scales honoured)."""
    tensor = graph.tensors[index]
    dtype = {schema.TensorType.INT8: np.int8, schema.TensorType.INT32: np.int32}[tensor.type]
    values = np.frombuffer(bytes(model.buffers[tensor.buffer].data), dtype).reshape(tensor.shape)
    scale = np.asarray(tensor.quantization.scale, np.float64)
    zero = np.asarray(tensor.quantization.zeroPoint, np.float64)
    axis = tensor.quantization.quantizedDimension if scale.size > 1 else None
    shape = [-1 if d == axis else 1 for d in range(values.ndim)] if axis is not None else [1]
    return (values - zero.reshape(shape)) * scale.reshape(shape)


def _float_layer(model, graph, index, output_name):
    """Makes the int8 FULLY_CONNECTED / CONV_2D at `index` run in float: DEQUANTIZE ops before
    it for its input and for its int8 weights (which stay stored as int8: the float head adds
    a few bytes, not four times the classifier), its small bias dequantized, a new float32
    output tensor named `output_name` (fused activation kept). Returns that tensor's index."""
    op = graph.operators[index]
    source, weights, bias = (int(i) for i in list(op.inputs) + [-1] * (3 - len(op.inputs)))
    output = int(op.outputs[0])
    stem = _name(graph.tensors[output].name)
    float_input = _new_tensor(model, graph, stem + _FLOAT_HEAD_OUTPUTS[0],
                              graph.tensors[source].shape)
    if graph.tensors[weights].sparsity is not None:  # DEQUANTIZE reads dense tensors
        raise UserError("its classifier's weights are in TFLite's sparse format")
    float_weights = _new_tensor(model, graph, stem + _FLOAT_HEAD_OUTPUTS[3],
                                graph.tensors[weights].shape)
    new_bias = (-1 if bias < 0 else _new_tensor(model, graph, f"{stem}/float_bias",
                                                graph.tensors[bias].shape,
                                                _constant(model, graph, bias)))
    result = _new_tensor(model, graph, output_name, graph.tensors[output].shape)
    op.inputs = np.array([float_input, float_weights, new_bias], np.int32)
    op.outputs = np.array([result], np.int32)
    graph.operators[index:index] = [_dequantize(model, graph, source, float_input),
                                    _dequantize(model, graph, weights, float_weights)]
    used = {int(i) for other in graph.operators for i in other.inputs}
    if bias >= 0 and bias not in used:  # the int32 bias nothing reads any more
        model.buffers[graph.tensors[bias].buffer].data = None
    return result


def _dequantize(model, graph, source, target):
    """A DEQUANTIZE op from int8 tensor `source` to float32 tensor `target` (version 5 for
    per-channel scales, as TFLite's op versioning gives it)."""
    per_channel = len(graph.tensors[source].quantization.scale) > 1
    code = _opcode(model, schema.BuiltinOperator.DEQUANTIZE, 2)
    entry = model.operatorCodes[code]
    entry.version = max(entry.version, 5 if per_channel else 2)
    op = schema.OperatorT()
    op.opcodeIndex = code
    op.inputs = np.array([source], np.int32)
    op.outputs = np.array([target], np.int32)
    return op


def _pooled_conv(model, graph, mean_index):
    """The index of the int8 CONV_2D whose output only the MEAN at `mean_index` reads (a
    SqueezeNet-style head: 1x1 convolution to classes, then global average), else None."""
    features = int(graph.operators[mean_index].inputs[0])
    readers = [op for op in graph.operators if features in list(op.inputs)]
    writer, op_name = _writer(model, graph, features)
    if (op_name != "CONV_2D" or len(readers) != 1
            or graph.tensors[features].type != schema.TensorType.INT8):
        return None
    return writer


def with_float_head(data, name="model"):
    """Flatbuffer bytes whose classifier (an int8 FULLY_CONNECTED that gives the output, or the
    int8 CONV_2D before a final MEAN, SqueezeNet's head) runs in float on its dequantized
    input, with its int8 weights dequantized at run time and its bias in float (and the MEAN
    after it in float), and
    outputs float32: the int8 model's logits before their int8 rounding (which ties close
    classes) and clipping. Every other op is untouched; the embedded contract gets the float
    output and `scores: "logits"`.

    Raises:
      UserError: a model whose output comes from neither of those heads in int8.
    """
    model = parse(data, name)
    graph = model.subgraphs[0]
    output, index, op_name = _output_op(model, graph)
    conv = _pooled_conv(model, graph, index) if op_name == "MEAN" else None
    if graph.tensors[output].type != schema.TensorType.INT8 or (
            op_name != "FULLY_CONNECTED" and conv is None):
        raise UserError(f"{name}: its output does not come from an int8 FULLY_CONNECTED op "
                        "or a MEAN of an int8 CONV_2D")
    logits_name = _name(graph.tensors[output].name) + _FLOAT_HEAD_OUTPUTS[1]
    if conv is None:
        logits = _float_layer(model, graph, index, logits_name)
    else:
        mean = graph.operators[index]
        features = _float_layer(model, graph, conv, _name(graph.tensors[
            int(graph.operators[conv].outputs[0])].name) + _FLOAT_HEAD_OUTPUTS[2])
        logits = _new_tensor(model, graph, logits_name, graph.tensors[output].shape)
        mean.inputs = np.array([features] + [int(i) for i in mean.inputs[1:]], np.int32)
        mean.outputs = np.array([logits], np.int32)
    return _with_output(model, graph, output, logits, dtype="float32", scale=None,
                        zero_point=None, scores="logits", float_head=True)


def read_metadata(data, name):
    """Returns the bytes of metadata entry `name`, or None."""
    model = parse(data)
    for entry in model.metadata or []:
        if _name(entry.name) == name:
            return bytes(model.buffers[entry.buffer].data)
    return None


def format_description(description, tensors=False):
    """Human-readable summary of `describe()`: I/O, op counts, optionally every tensor."""

    def tensor_line(t):
        quant = ""
        if t["scale"]:
            if len(t["scale"]) == 1:
                quant = f"  scale={t['scale'][0]:.6g} zero_point={t['zero_point'][0]}"
            else:
                quant = f"  per-channel({len(t['scale'])}, axis {t['quantized_dimension']})"
        return f"{t['name']}  {t['dtype']}{t['shape']}{quant}"

    lines = [f"size: {description['size_bytes']:,} bytes   MACs: {description['macs']:,}   "
             f"ops: {len(description['ops'])}"]
    lines += ["input:  " + tensor_line(t) for t in description["inputs"]]
    lines += ["output: " + tensor_line(t) for t in description["outputs"]]
    lines.append("op counts: " + ", ".join(f"{k} x{v}" for k, v in description["op_counts"].items()))
    if description["metadata"]:
        lines.append("metadata: " + ", ".join(description["metadata"]))
    if tensors:
        lines.append("tensors:")
        lines += [f"  {i:4d} " + tensor_line(t) for i, t in enumerate(description["tensors"])]
    return "\n".join(lines)


def measure_weight_bits(tflite):
    """What the int8 weights of an exported model really hold.

    Counts, for every int8 constant tensor (conv, depthwise and fully connected weights), the
    distinct values in each quantization channel (the whole tensor when it has one scale).

    Returns:
      A dict: `weights` (count), `effective_bits` (weight-averaged log2 of the distinct values
      per channel), `max_distinct` (most distinct values in one channel), `sparsity` (fraction
      of zero weights), `sparse_tensors` (tensors stored in TFLite's sparse format, counted
      by their stored values), `size_bytes` and `gzip_bytes` (the flatbuffer compressed with
      gzip level 9).
    """
    model = parse(tflite)
    total, bits, most, zeros, sparse = 0, 0.0, 0, 0, 0
    for tensor in model.subgraphs[0].tensors:
        buffer = model.buffers[tensor.buffer]
        quantization = tensor.quantization
        if (tensor.type != schema.TensorType.INT8 or buffer.data is None
                or quantization is None or quantization.scale is None):
            continue
        if tensor.sparsity is not None:  # only the non-zero blocks are stored
            sparse += 1
            size = int(np.prod(tensor.shape))
            stored = np.frombuffer(bytes(buffer.data), dtype=np.int8)
            zeros += size - int(np.count_nonzero(stored))
            total += size
            bits += size * 8
            continue
        zeros += int(np.sum(np.frombuffer(bytes(buffer.data), dtype=np.int8) == 0))
        values = np.frombuffer(bytes(buffer.data), dtype=np.int8).reshape(tensor.shape)
        if len(quantization.scale) > 1:
            channels = np.moveaxis(values, quantization.quantizedDimension, 0)
            channels = channels.reshape(channels.shape[0], -1)
        else:
            channels = values.reshape(1, -1)
        for channel in channels:
            distinct = len(np.unique(channel))
            most = max(most, distinct)
            bits += channel.size * math.log2(max(distinct, 2))
            total += channel.size
    return {"weights": total, "effective_bits": bits / total if total else 0.0,
            "max_distinct": most, "sparsity": zeros / total if total else 0.0,
            "sparse_tensors": sparse, "size_bytes": len(tflite),
            "gzip_bytes": len(gzip.compress(bytes(tflite), compresslevel=9))}
