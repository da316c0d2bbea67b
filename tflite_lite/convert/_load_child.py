"""Child of `probe.check_loads`: load, allocate and invoke a `.tflite` once (LiteRT only)."""

import sys

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def main(path):
    try:
        try:
            interpreter = Interpreter(model_path=path, num_threads=1)
            interpreter.allocate_tensors()
        except RuntimeError as error:  # XNNPACK refuses sparse-format weights: builtin kernels
            if "XNNPack" not in str(error):
                raise
            interpreter = Interpreter(
                model_path=path, num_threads=1,
                experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
            interpreter.allocate_tensors()
        for detail in interpreter.get_input_details():
            interpreter.set_tensor(detail["index"], np.zeros(detail["shape"], detail["dtype"]))
        interpreter.invoke()
    except Exception as error:  # noqa: BLE001  (reported by the parent as one line)
        message = (str(error).strip().splitlines() or [type(error).__name__])[-1]
        print(message, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
