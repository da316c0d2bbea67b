"""Keeping an int8 graph in one XNNPACK partition.

XNNPACK, LiteRT's CPU delegate, takes an int8 ADD or SUB only when each input's scale is at
least 1/1024 of the output's (its delegate checks the ratio). A hard swish split into int8 ops
(`x * relu6(x + 3) / 6`) adds the constant 3 to `x`: the sum's scale is at least 3/127, so an
`x` whose calibrated range is below about 0.003 fails the check. The ADD then runs on LiteRT's
own kernels and cuts the delegated graph in two: MobileNet V3 Large (untrained weights, 8
random calibration images) ran as 21 partitions, its int8 slower than its float32.

`fit_scales` widens such an input's scale to the bound, where the op that writes it
requantizes anyway (a convolution, a fully connected, an add or a multiply) and every op that
reads it takes any input scale. The values keep their codes' meaning; `x` only gets a coarser
step, still far finer than the sum's. `delegation` counts the partitions and names the ops
left outside them.
"""

import numpy as np

from tflite_lite import _native
from tflite_lite.convert import flatbuffer

# XNNPACK's bound on an ADD / SUB input's scale over the output's, with a little margin
MIN_INPUT_OUTPUT_SCALE = 1.0 / 1024.0 * 1.001
_BOUNDED = ("ADD", "SUB")
# ops that requantize their output: its scale is theirs to choose
_WRITERS = ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED", "ADD", "SUB", "MUL")
# ops that read any input scale (they requantize to their own output scale)
_READERS = (*_WRITERS, "MEAN", "QUANTIZE", "DEQUANTIZE", "HARD_SWISH", "LOGISTIC")


def fit_scales(data):
    """(flatbuffer bytes, how many tensor scales were widened): each int8 ADD / SUB input
    whose scale is below XNNPACK's bound gets the bound, where that is safe (see the module
    docstring). Bytes unchanged when nothing needs it."""
    model = flatbuffer.parse(data)
    graph = model.subgraphs[0]
    names = [flatbuffer.op_name(model, op) for op in graph.operators]
    writers = {int(t): i for i, op in enumerate(graph.operators) for t in op.outputs}
    readers = {}
    for i, op in enumerate(graph.operators):
        for t in op.inputs:
            readers.setdefault(int(t), []).append(i)
    widened = 0
    for op, name in zip(graph.operators, names):
        if name not in _BOUNDED:
            continue
        floor = _scale(graph.tensors[int(op.outputs[0])]) * MIN_INPUT_OUTPUT_SCALE
        for t in (int(t) for t in op.inputs):
            tensor = graph.tensors[t]
            if not _int8_per_tensor(tensor) or _scale(tensor) >= floor * (1 - 1e-6):
                continue
            writer = writers.get(t)
            if writer is None or names[writer] not in _WRITERS:
                continue  # a graph input or a constant: its scale is not free
            if all(names[r] in _READERS for r in readers.get(t, [])):
                tensor.quantization.scale = np.array([floor], np.float32)
                widened += 1
    if not widened:
        return data, 0
    return flatbuffer.serialize(model), widened


def delegation(data):
    """(how many XNNPACK partitions LiteRT makes of the graph, the names of the ops left
    outside them in graph order). One partition and no op outside: the delegate runs it all;
    none and every op: the delegate failed to prepare (weights in TFLite's sparse format).

    An op outside writes a tensor that a partition or the graph's output reads without a
    partition writing it, or feeds such an op (a delegated op's result leaves its partition
    only as the partition's output)."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    with _native.filtered_stderr(_native.INTERPRETER):
        interpreter = Interpreter(model_content=bytes(data))
        try:
            interpreter.allocate_tensors()
        except RuntimeError as error:  # the delegate failed to prepare: LiteRT runs it all
            if "XNNPack" not in str(error):
                raise
            model = flatbuffer.parse(data)
            return 0, [flatbuffer.op_name(model, op) for op in model.subgraphs[0].operators]
    nodes = interpreter._get_ops_details()  # noqa: SLF001  (delegate nodes come last)
    delegates = [n for n in nodes if n["op_name"] == "DELEGATE"]
    ops = [n for n in nodes if n["op_name"] != "DELEGATE"]
    from_delegates = {int(t) for n in delegates for t in n["outputs"]}
    writer = {int(t): i for i, op in enumerate(ops) for t in op["outputs"]}
    wanted = [int(t) for n in delegates for t in n["inputs"]]
    wanted += [int(d["index"]) for d in interpreter.get_output_details()]
    outside = set()
    while wanted:
        tensor = wanted.pop()
        index = writer.get(tensor)
        if tensor in from_delegates or index is None or index in outside:
            continue
        outside.add(index)
        wanted += [int(t) for t in ops[index]["inputs"]]
    return len(delegates), [ops[i]["op_name"] for i in sorted(outside)]


def _int8_per_tensor(tensor):
    quantization = tensor.quantization
    return (tensor.type == flatbuffer.schema.TensorType.INT8 and quantization is not None
            and quantization.scale is not None and len(quantization.scale) == 1)


def _scale(tensor):
    return float(tensor.quantization.scale[0])
