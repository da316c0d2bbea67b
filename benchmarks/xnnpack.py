"""Does every registered family's int8 file run as one XNNPACK partition, and faster than its
float32 file?

Usage:
  python -m benchmarks.xnnpack --input_size 224 --num_classes 1000

The user's path of issue 42: each family's first registered model, built with its initial
weights at INPUTxINPUTx3 with NUM_CLASSES classes, exported in memory with
`tflite_lite.export` (int8 with the default float head, calibrated on 8 uniform random images
in [-1, 1]) and as float32. One row per model: the partitions of the converter's int8 file
before `convert.xnnpack.fit_scales` and of the exported one after it, the ops left outside
the delegate, the scales widened, the bytes the float head adds over int8 logits, and the
p50 of int8 and float32 at 1 thread, timed in one interleaved run (their ratio holds, not the
absolute times, on a shared machine).
"""

import os
import tempfile

import numpy as np
from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.architectures import create_model, list_families
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.convert import converter, xnnpack
from tflite_lite.convert.api import export
from tflite_lite.report import format_table

COLUMNS = (
    ("model", "model", "s"), ("partitions_before", "partitions before", "d"),
    ("partitions", "partitions", "d"), ("ops_outside", "ops outside", "s"),
    ("widened_scales", "scales widened", "d"), ("int8_bytes", "int8 bytes", ",d"),
    ("float_head_pct", "float head +%", ".2f"), ("float32_p50_ms", "float32 p50 ms", ".2f"),
    ("int8_p50_ms", "int8 p50 ms", ".2f"), ("speedup", "int8 speed-up", ".2f"),
)

_MODELS = flags.DEFINE_list("models", None, "Models (default: each family's first, and "
                            "mobilenet_v3_large_100).")
_SIZE = flags.DEFINE_integer("input_size", 224, "Input side in pixels.", lower_bound=32)
_CLASSES = flags.DEFINE_integer("num_classes", 1000, "Classes.", lower_bound=2)
_NUM_RUNS = flags.DEFINE_integer("num_runs", 50, "Timed inferences per file.", lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/xnnpack.json", "Results file.")


def default_models():
    firsts = [names[0] for names in list_families().values()]
    return firsts + (["mobilenet_v3_large_100"] if "mobilenet_v3_large_100" not in firsts
                     else [])


def measure_model(name, folder):
    """One row without the latencies, and the paths of its float32 and int8 files."""
    shape = (_SIZE.value, _SIZE.value, 3)
    model = create_model(name, input_shape=shape, num_classes=_CLASSES.value)
    images = np.random.default_rng(0).uniform(-1, 1, (8, *shape)).astype(np.float32)
    plain = converter.convert_model(model, "int8", images)
    int8 = export(model, mode="int8", calibration=images)
    logits = export(model, mode="int8", calibration=images, scores="logits")
    paths = {}
    for mode, data in (("float32", export(model, mode="float32").tflite),
                       ("int8", int8.tflite)):
        paths[mode] = os.path.join(folder, f"{name}_{mode}.tflite")
        with open(paths[mode], "wb") as file:
            file.write(data)
    record = int8.contract["xnnpack"]
    row = {"model": name, "partitions_before": xnnpack.delegation(plain)[0],
           "partitions": record["partitions"],
           "ops_outside": ", ".join(sorted(set(record["ops_outside"]))) or "-",
           "widened_scales": record["widened_scales"], "int8_bytes": len(int8.tflite),
           "float_head_pct": 100 * (len(int8.tflite) / len(logits.tflite) - 1)}
    return row, paths


def main(argv):
    cli.reject_extra_args(argv)
    models = _MODELS.value or default_models()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in models:
            row, paths = measure_model(name, folder)
            timings = {os.path.basename(r["model"]): r["p50_ms"] for r in benchmark_host(
                BenchmarkConfig(models=(paths["float32"], paths["int8"]),
                                num_runs=_NUM_RUNS.value))}
            row.update(float32_p50_ms=timings[os.path.basename(paths["float32"])],
                       int8_p50_ms=timings[os.path.basename(paths["int8"])])
            row["speedup"] = row["float32_p50_ms"] / row["int8_p50_ms"]
            rows.append(row)
            print(format_table(rows[-1:], COLUMNS), flush=True)
    print(format_table(rows, COLUMNS))
    results_file.save(_JSON.value, {
        "title": "One XNNPACK partition", "rows": rows,
        "about": (f"Each family's first model with its initial weights at "
                  f"{_SIZE.value}x{_SIZE.value}x3, {_CLASSES.value} classes, exported in "
                  "memory: int8 (default float head) calibrated on 8 uniform random images, "
                  "and float32; p50 at 1 thread, both files in one interleaved run.")},
        COLUMNS)


if __name__ == "__main__":
    cli.run(main)
