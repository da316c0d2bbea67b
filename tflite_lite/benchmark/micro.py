"""The `micro` target: a `.tflite` on TensorFlow Lite Micro (TFLM), measured on this host.

    rows = benchmark_micro(MicroConfig(models=("a.tflite",), dataset="fashion_mnist"))

Per model: TFLM's missing ops (by name), the smallest tensor arena, flash (the flatbuffer's
size), host time per `invoke()` on TFLM, and on the test split TFLM's accuracy and its output
parity with LiteRT: bit-exact rate and argmax agreement against LiteRT's default kernels
(XNNPACK) and against LiteRT's reference kernels. TFLM's kernels are reference kernels too:
XNNPACK requantizes with other rounding, so int8 outputs differ from it by a few codes on most
images while the argmax rarely moves. Against LiteRT's reference kernels TFLM was bit-exact on
every tensor of the zoo models measured, except an int8 FULLY_CONNECTED, which it rounds one code
differently on about 1% of images (seen layer by layer on the micro zoo entry's logits).
"""

import dataclasses
import os
import time

import numpy as np

from tflite_lite import _progress
from tflite_lite._config import Config
from tflite_lite.benchmark.host import display_names, latency_stats
from tflite_lite.contract import Contract
from tflite_lite.convert import flatbuffer, micro
from tflite_lite.errors import UserError

MICRO_COLUMNS = (
    ("name", "model", "s"), ("unsupported_ops", "missing ops", "s"),
    ("flash_bytes", "flash B", ",d"), ("arena_bytes", "arena B", ",d"),
    ("p50_ms", "TFLM p50 ms", ".2f"), ("accuracy", "TFLM acc", ".4f"),
    ("litert_accuracy", "LiteRT acc", ".4f"), ("bit_exact", "bit-exact", ".4f"),
    ("argmax_agreement", "argmax agree", ".4f"),
    ("reference_bit_exact", "bit-exact (ref kernels)", ".4f"),
)


@dataclasses.dataclass
class MicroConfig(Config):
    """A TFLM benchmark run.

    Attributes:
      models: `.tflite` paths.
      dataset: the test split to measure parity and accuracy on. Defaults to None: the one
        the model's contract (`<stem>.json` beside it) was evaluated on; without it, no parity.
      max_examples: test images to run (the first ones). Defaults to None (all).
      num_runs: timed `invoke()`s for the latency figures. Defaults to 100.
    """

    _kind = "micro_benchmark"

    models: tuple
    dataset: str = None
    max_examples: int = None
    num_runs: int = 100

    def validate(self):
        if not self.models:
            raise UserError("give at least one .tflite model")
        for key in ("max_examples", "num_runs"):
            value = getattr(self, key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise UserError(f"{key} must be a positive integer, got {value!r}")


def _contract(path, data):
    """The model's contract: `<stem>.json` beside it, else its embedded runtime part, else
    None."""
    side = Contract.beside(path, required=False)
    if side is not None:
        return side
    embedded = flatbuffer.read_metadata(data, flatbuffer.CONTRACT_METADATA)
    return Contract.from_json(embedded) if embedded else None


def _test_split(contract, dataset, max_examples, input_shape):
    """`(batched test images, total)` preprocessed as the contract says (the default
    preprocessing without one), or None when neither `dataset` nor the contract names one."""
    from tflite_lite.convert.export_files import contract_test_set  # noqa: PLC0415  (TF)
    from tflite_lite.data import Preprocessing  # noqa: PLC0415
    contract = contract or {"preprocessing": Preprocessing(input_shape).get_config()}
    if not (dataset or (contract.get("evaluation") or {}).get("dataset")):
        return None
    return contract_test_set(contract, max_examples, dataset)


def time_invokes(interpreter, tensor, num_runs):
    """Latency figures (ms) of `num_runs` TFLM invokes of `tensor` after one warm-up."""
    interpreter.run(tensor)
    times = []
    for _ in range(num_runs):
        start = time.perf_counter()
        interpreter.run(tensor)
        times.append((time.perf_counter() - start) * 1e3)
    return latency_stats(times)


def parity(data, tflm, test, total=None, verbose=0, label="TFLM vs LiteRT"):
    """Runs the test split on TFLM, LiteRT (XNNPACK) and LiteRT's reference kernels.

    Returns:
      `accuracy` (TFLM), `litert_accuracy`, `bit_exact` and `argmax_agreement` (TFLM vs
      LiteRT), `reference_bit_exact` (TFLM vs LiteRT's reference kernels), `max_code_difference`
      and `num_examples`.
    """
    from ai_edge_litert.interpreter import OpResolverType  # noqa: PLC0415
    from tflite_lite.convert.evaluate import TFLiteClassifier, allocated_interpreter  # noqa

    litert = TFLiteClassifier(data)
    reference = allocated_interpreter(model_content=data,
                                      experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    outputs = {"tflm": [], "litert": [], "reference": []}
    labels = []
    progress = _progress.Progress(label, total, verbose=verbose and total is not None)
    for images, batch_labels in test:
        for image in images.numpy():
            tensor = litert.to_input_tensor(image)
            outputs["tflm"].append(np.array(tflm.run(tensor))[0])
            outputs["litert"].append(litert.raw_output(image))
            reference.set_tensor(litert.input["index"], tensor)
            reference.invoke()
            outputs["reference"].append(reference.get_tensor(litert.output["index"])[0])
        labels.append(batch_labels.numpy().reshape(-1))
        progress.update(len(images))
    if not labels:
        raise UserError("no test images to measure parity on")
    out = {key: np.stack(value) for key, value in outputs.items()}
    labels = np.concatenate(labels)
    tflm_top1, litert_top1 = out["tflm"].argmax(-1), out["litert"].argmax(-1)
    difference = np.abs(out["tflm"].astype(np.float64) - out["litert"])
    return {
        "num_examples": int(labels.size),
        "accuracy": float(np.mean(tflm_top1 == labels)),
        "litert_accuracy": float(np.mean(litert_top1 == labels)),
        "bit_exact": float(np.mean(np.all(out["tflm"] == out["litert"], axis=-1))),
        "argmax_agreement": float(np.mean(tflm_top1 == litert_top1)),
        "reference_bit_exact": float(np.mean(np.all(out["tflm"] == out["reference"], -1))),
        "max_code_difference": float(difference.max()),
    }


def benchmark_micro_model(path, data=None, dataset=None, max_examples=None, num_runs=100,
                          verbose=0, name=None):
    """One row of the micro benchmark for the model at `path` (or its bytes `data`)."""
    data = flatbuffer.read_bytes(path) if data is None else bytes(data)
    row = {"name": name or os.path.basename(str(path)), "model": str(path),
           "flash_bytes": len(data),
           "macs": flatbuffer.describe(data, path)["macs"]}
    missing = micro.unsupported_ops(data, path)
    row["unsupported_ops"] = ",".join(missing) or "none"
    if missing:
        return row
    tflm = micro.MicroInterpreter(data, path)
    row["arena_bytes"] = tflm.arena_bytes
    detail = tflm.input
    rng = np.random.default_rng(0)
    info = np.iinfo(detail["dtype"]) if np.issubdtype(detail["dtype"], np.integer) else None
    tensor = (rng.integers(info.min, info.max + 1, detail["shape"]).astype(detail["dtype"])
              if info else rng.standard_normal(detail["shape"]).astype(detail["dtype"]))
    row.update(time_invokes(tflm, tensor, num_runs))
    split = _test_split(_contract(str(path), data), dataset, max_examples,
                        tuple(int(d) for d in detail["shape"][1:]))
    if split is not None:
        row.update(parity(data, tflm, split[0], split[1], verbose,
                          label=f"{row['name']}: TFLM vs LiteRT"))
    return row


def benchmark_micro(config, verbose=0):
    """The micro benchmark's rows, one per model of a `MicroConfig`."""
    names = display_names(config.models)
    return [benchmark_micro_model(path, dataset=config.dataset,
                                  max_examples=config.max_examples, num_runs=config.num_runs,
                                  verbose=verbose, name=names[path])
            for path in config.models]
