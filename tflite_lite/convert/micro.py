"""TensorFlow Lite Micro (TFLM): op support, tensor arena and the C source pair MCU projects build.

- `unsupported_ops(data)`: the model's ops that TFLM's op resolver lacks, by name.
- `MicroInterpreter(data)`: TFLM's host interpreter (`tflite-micro` on PyPI, the `micro` extra)
  with the smallest arena the model needs (`arena_bytes`).
- `check_micro_ready(data)`: int8 in, int8 out, no float op, every op in TFLM, else `UserError`.
- `write_c_source(data, folder, name)`: `<name>_model_data.cc` / `.h` (aligned array, its length,
  the arena to reserve), written atomically.

The op list is TFLM's Python op resolver (`python/tflite_micro/python_ops_resolver.cc`, which
registers the same kernels as `tflite::MicroMutableOpResolver` users pick from); loading the model
in TFLM stays the final word, so a kernel that refuses an op's options is reported too.
"""

import os
import re

from tflite_lite import _io
from tflite_lite._native import captured_fd2
from tflite_lite.convert import flatbuffer
from tflite_lite.errors import UserError

INSTALL_HINT = ("the micro target needs TensorFlow Lite Micro's Python package: "
                "pip install 'tflite_lite[micro]' (wheels for Linux x86_64 only)")

# Builtin ops of TFLM's op resolver (tflite-micro, python_ops_resolver.cc, 2026-08).
TFLM_OPS = frozenset("""
ABS ADD ADD_N ARG_MAX ARG_MIN ASSIGN_VARIABLE AVERAGE_POOL_2D BATCH_MATMUL BATCH_TO_SPACE_ND
BROADCAST_ARGS BROADCAST_TO CALL_ONCE CAST CEIL CONCATENATION CONV_2D COS CUMSUM DEPTH_TO_SPACE
DEPTHWISE_CONV_2D DEQUANTIZE DIV DYNAMIC_UPDATE_SLICE ELU EMBEDDING_LOOKUP EQUAL EXP EXPAND_DIMS
FILL FLOOR FLOOR_DIV FLOOR_MOD FULLY_CONNECTED GATHER GATHER_ND GREATER GREATER_EQUAL HARD_SWISH
IF L2_NORMALIZATION L2_POOL_2D LEAKY_RELU LESS LESS_EQUAL LOG LOG_SOFTMAX LOGICAL_AND LOGICAL_NOT
LOGICAL_OR LOGISTIC MAX_POOL_2D MAXIMUM MEAN MINIMUM MIRROR_PAD MUL NEG NOT_EQUAL PACK PAD PADV2
PRELU QUANTIZE READ_VARIABLE REDUCE_ANY REDUCE_MAX REDUCE_MIN RELU RELU6 RESHAPE RESIZE_BILINEAR
RESIZE_NEAREST_NEIGHBOR REVERSE_V2 ROUND RSQRT SELECT_V2 SHAPE SIN SLICE SOFTMAX SPACE_TO_BATCH_ND
SPACE_TO_DEPTH SPLIT SPLIT_V SQRT SQUARE SQUARED_DIFFERENCE SQUEEZE STRIDED_SLICE SUB SUM SVDF TANH
TRANSPOSE TRANSPOSE_CONV UNIDIRECTIONAL_SEQUENCE_LSTM UNPACK VAR_HANDLE WHILE ZEROS_LIKE
""".split())
ARENA_ALIGNMENT = 16
_ARENA_RECORD = re.compile(r"Arena allocation total (\d+) bytes")


def runtime():
    """TFLM's Python runtime module, or a `UserError` saying how to install it."""
    try:
        from tflite_micro.python.tflite_micro import runtime as tflm  # noqa: PLC0415
    except ImportError:
        raise UserError(INSTALL_HINT) from None
    return tflm


def unsupported_ops(data, name="model"):
    """The op names in flatbuffer `data` that TFLM's op resolver lacks, sorted, each once
    (custom ops as `CUSTOM:<code>`)."""
    return _missing(flatbuffer.describe(data, name))


def _missing(description):
    return sorted(op for op in description["op_counts"] if op not in TFLM_OPS)


def _refuse_missing(missing, name):
    if missing:
        raise UserError(f"{name}: TensorFlow Lite Micro has no kernel for {', '.join(missing)}")


def check_micro_ready(data, name="model"):
    """Raises `UserError` unless `data` is an int8 model TFLM can run: int8 input and output,
    no op computing in float, every op in TFLM's resolver (each missing one named)."""
    description = flatbuffer.describe(data, name)
    _refuse_missing(_missing(description), name)
    edges = [t["dtype"] for t in description["inputs"] + description["outputs"]]
    if any(dtype != "int8" for dtype in edges) or flatbuffer.float_ops(description):
        raise UserError(f"{name}: not a full int8 model (input/output "
                        f"{'/'.join(edges)}); export with --mode int8 --scores logits for "
                        "a microcontroller")


def _align(size):
    return -(-size // ARENA_ALIGNMENT) * ARENA_ALIGNMENT


class MicroInterpreter:
    """A model on TFLM's host interpreter (reference kernels), allocated in the smallest arena
    it runs in.

    Args:
      data: the flatbuffer bytes.
      name: what errors call the model. Defaults to "model".

    Attributes:
      arena_bytes: the tensor arena TFLM's allocator recorded for this model (16-byte aligned),
        checked by allocating the model in exactly that arena.
    """

    def __init__(self, data, name="model"):
        _refuse_missing(unsupported_ops(data, name), name)
        self._tflm = runtime()
        self._data = bytes(data)
        self.name = name
        self.arena_bytes, self.interpreter = self._smallest_arena(self._recorded_arena())
        self.input = self.interpreter.get_input_details(0)
        self.output = self.interpreter.get_output_details(0)

    def _allocate(self, arena_bytes):
        """(interpreter, None) if the model allocates in `arena_bytes`, else (None, reason)."""
        with captured_fd2() as text:
            try:
                return self._tflm.Interpreter(self._data, [], arena_bytes), None
            except (RuntimeError, ValueError) as error:
                failure = str(error)
        lines = [line.strip() for line in text[0].splitlines() if line.strip()]
        return None, (lines[-1] if lines else failure)

    def _fits(self, arena_bytes):
        return self._allocate(arena_bytes)[0] is not None

    def _recorded_arena(self):
        generous = max(len(self._data) * 10, 1 << 20)
        interpreter, reason = self._allocate(generous)
        if interpreter is None:
            raise UserError(f"{self.name}: TensorFlow Lite Micro cannot load it ({reason[:200]})")
        with captured_fd2() as text:
            interpreter.print_allocations()
        match = _ARENA_RECORD.search(text[0])
        return _align(int(match.group(1))) if match else generous

    def _smallest_arena(self, recorded):
        """`(size, interpreter allocated in it)`: `recorded` if the model allocates in it, else
        the smallest size that does (bisection between `recorded` and the first doubling of it
        that works)."""
        low, high = 0, recorded
        interpreter = self._allocate(high)[0]
        while interpreter is None:
            low, high = high, high * 2
            if high > 1 << 30:
                raise UserError(f"{self.name}: TensorFlow Lite Micro does not allocate it in "
                                "1 GB of arena")
            interpreter = self._allocate(high)[0]
        while low and high - low > ARENA_ALIGNMENT:
            middle = _align((low + high) // 2)
            fitted = self._allocate(middle)[0]
            if fitted is None:
                low = middle
            else:
                high, interpreter = middle, fitted
        return high, interpreter

    def run(self, tensor):
        """Raw output for one input tensor in the model's dtype and shape (batch included)."""
        self.interpreter.set_input(tensor, 0)
        self.interpreter.invoke()
        return self.interpreter.get_output(0)


def c_identifier(name):
    """`name` as a C identifier: non-alphanumerics to `_`, never starting with a digit."""
    identifier = re.sub(r"\W", "_", name, flags=re.ASCII)
    return identifier if identifier and not identifier[0].isdigit() else f"model_{identifier}"


def _c_array(data):
    lines = []
    for start in range(0, len(data), 12):
        chunk = data[start:start + 12]
        lines.append("    " + ", ".join(f"0x{byte:02x}" for byte in chunk) + ",")
    return "\n".join(lines)


def write_c_source(data, folder, name, arena_bytes, source="model"):
    """Writes `<name>_model_data.h` and `.cc` into `folder` for a TFLM project.

    The header declares `g_<name>_model_data` (16-byte aligned, as TFLM requires),
    `g_<name>_model_data_len` and `k<Name>ArenaSize`, the tensor arena to reserve (TFLM's
    allocator record on this 64-bit host; a 32-bit MCU needs a little less).

    Returns:
      The two paths written, header first.
    """
    ident = c_identifier(name)
    camel = "".join(part[:1].upper() + part[1:] for part in ident.split("_"))
    guard = f"{ident.upper()}_MODEL_DATA_H_"
    header = f"""// {ident}_model_data.h: {os.path.basename(source)} for TensorFlow Lite Micro.
// Generated by tflite_lite; {len(data):,} bytes of flash.
// Reserve a tensor arena of k{camel}ArenaSize bytes ({arena_bytes:,}, the TFLM allocator's
// record on a 64-bit host, where pointers are wider: a 32-bit MCU needs a little less):
//   alignas(16) static uint8_t tensor_arena[k{camel}ArenaSize];
#ifndef {guard}
#define {guard}

#include <cstddef>

constexpr size_t k{camel}ArenaSize = {arena_bytes};

extern const unsigned char g_{ident}_model_data[];
extern const unsigned int g_{ident}_model_data_len;

#endif  // {guard}
"""
    source_text = f"""// {ident}_model_data.cc: {os.path.basename(source)} for TensorFlow Lite Micro.
// Generated by tflite_lite; do not edit.
#include "{ident}_model_data.h"

alignas(16) const unsigned char g_{ident}_model_data[] = {{
{_c_array(data)}
}};
const unsigned int g_{ident}_model_data_len = {len(data)};
"""
    os.makedirs(folder, exist_ok=True)
    paths = [os.path.join(folder, f"{ident}_model_data.{ext}") for ext in ("h", "cc")]
    for path, text in zip(paths, (header, source_text)):
        with _io.atomic_path(path) as temporary:
            with open(temporary, "w") as f:
                f.write(text)
    return paths


def export_c_source(model, folder=None, name=None):
    """Checks an int8 `.tflite` for TFLM and writes its C source pair (`write_c_source`).

    Args:
      model: a `.tflite` path, its bytes or an `ExportResult`.
      folder: where the pair goes. Defaults to None: beside a path, else the working folder.
      name: the C names' stem. Defaults to None: the file's stem, else "model".

    Returns:
      A dict: `arena_bytes`, `flash_bytes` and `files` (the header and source paths).

    Raises:
      UserError: a float model, an op TFLM lacks (each named), an unloadable model, or
        `tflite-micro` not installed.
    """
    if isinstance(model, (str, os.PathLike)):
        path = os.fspath(model)
        data = flatbuffer.read_bytes(path)
        folder = os.path.dirname(path) if folder is None else folder
        name = name or os.path.splitext(os.path.basename(path))[0]
    else:
        data = bytes(getattr(model, "tflite", model))
        path = name or "model"
    check_micro_ready(data, path)
    arena_bytes = MicroInterpreter(data, path).arena_bytes
    files = write_c_source(data, folder or ".", name or "model", arena_bytes, source=path)
    return {"arena_bytes": arena_bytes, "flash_bytes": len(data), "files": files}
