"""Benchmarks the builders' exports: fp32 vs int8 latency (1 thread), size, MACs, GMAC/s.

Usage:
  python -m benchmarks.export --output_dir runs/bench_export --num_runs 100 \
      --json runs/bench_export/bench_export.json

Exports every default builder (random weights; latency does not depend on them) at 224x224x3
and 32x32x1 in float32 and int8, plus keras.applications MobileNetV2 / MobileNet 1.0 and
MobileNetV3Large / Small 1.0 (its hard swish as TF ops) exported the default way
(`from_keras_model`) at 224, then benchmarks them all interleaved in one run.
Prints the summary with int8 speed-up and ours / keras.applications latency ratios.
"""

import os

import numpy as np
from absl import flags

from benchmarks import results_file
from tflite_lite import artifacts, cli
from tflite_lite._keras import keras, tf
from tflite_lite.architectures import _layers, create_model, deploy_form
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.convert.converter import convert_model
from tflite_lite.errors import UserError
from tflite_lite.report import format_table

DEFAULT_BUILDERS = ("mobilenet_v1_100", "mobilenet_v2_100", "mobilenet_v3_large_100",
                    "mobilenet_v3_small_100", "shufflenet_v1_g3_100", "shufflenet_v2_x1_0",
                    "squeezenet_1_0", "squeezenet_1_1", "efficientnet_lite0")
# keras.applications twins of some builders (MobileNet V3's hard swish and hard sigmoid as
# TF-op chains: the "before" of our single-layer form).
REFERENCES = {"keras_mobilenet_v2_100": lambda shape: keras.applications.MobileNetV2(
                  input_shape=shape, alpha=1.0, weights=None),
              "keras_mobilenet_v1_100": lambda shape: keras.applications.MobileNet(
                  input_shape=shape, alpha=1.0, weights=None),
              "keras_mobilenet_v3_large_100": lambda shape: keras.applications.MobileNetV3Large(
                  input_shape=shape, alpha=1.0, weights=None, include_preprocessing=False),
              "keras_mobilenet_v3_small_100": lambda shape: keras.applications.MobileNetV3Small(
                  input_shape=shape, alpha=1.0, weights=None, include_preprocessing=False)}

SUMMARY_COLUMNS = (("model", "model", "s"), ("input", "input", "s"), ("macs", "MACs", ",d"),
                   ("float32_bytes", "fp32 bytes", ",d"), ("int8_bytes", "int8 bytes", ",d"),
                   ("float32_p50_ms", "fp32 p50 ms", ".3f"), ("int8_p50_ms", "int8 p50 ms", ".3f"),
                   ("int8_speedup", "int8 speed-up", ".2f"),
                   ("int8_gmacs_per_second", "int8 GMAC/s", ".1f"))


def _keras_default_export(model, mode, images):
    """`TFLiteConverter.from_keras_model` as the TFLite guide shows it (dynamic batch)."""
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    if mode == "int8":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = lambda: ([image[None]] for image in images)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    return converter.convert()


FUSED_SUFFIX = "@fused_hswish"


def _with_batch_statistics(model, images):
    """Sets every batch norm's moving statistics to those of `images` (one training pass)."""
    norms = [layer for layer in model.layers
             if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(images, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum
    return model


def _has_hard_swish(model):
    return any(isinstance(layer, _layers.HardSwish) for layer in model.layers)


def _write(path, data):
    with artifacts.atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)


def export_builders(output_dir, input_shape, builders=DEFAULT_BUILDERS, references=True,
                    calibration_images=32, seed=0):
    """Exports each builder (and the references) to float32 and int8 `.tflite` files.

    Returns:
      {model name: {"float32": path, "int8": path}}.
    """
    rng = np.random.default_rng(seed)
    images = rng.standard_normal((calibration_images, *input_shape)).astype(np.float32)
    files = {}
    twins = [name for name in REFERENCES if name[len("keras_"):] in builders]
    names = list(builders) + (twins if references and input_shape[-1] == 3 else [])
    for name in names:
        keras.backend.clear_session()
        model = (REFERENCES[name](input_shape) if name in REFERENCES
                 else deploy_form(create_model(name, input_shape=input_shape, num_classes=1000
                                               if input_shape[0] >= 64 else 10), name))
        model = _with_batch_statistics(model, images)
        files[name] = {}
        for mode in ("float32", "int8"):
            path = os.path.join(output_dir, f"{name}_{mode}.tflite")
            if not os.path.exists(path):
                data = (_keras_default_export(model, mode, images) if name in REFERENCES
                        else convert_model(model, mode, images))
                _write(path, data)
            files[name][mode] = path
        if name not in REFERENCES and _has_hard_swish(model):
            path = os.path.join(output_dir, f"{name}_int8_fused_hswish.tflite")
            if not os.path.exists(path):
                _write(path, convert_model(model, "int8", images, hard_swish="fused"))
            files[name + FUSED_SUFFIX] = {"float32": files[name]["float32"], "int8": path}
    return files


def benchmark_builders(output_dir, input_shapes=((224, 224, 3), (32, 32, 1)),
                       builders=DEFAULT_BUILDERS, num_runs=100, threads=1, json_path=None):
    """Exports and benchmarks (interleaved, one process per model) at each input shape.

    Returns:
      Summary rows: model, input, MACs, sizes, fp32 and int8 p50, int8 speed-up, int8 GMAC/s,
      and for each reference its ratio to our same-architecture model.
    """
    summary, raw = [], []
    for shape in input_shapes:
        label = "x".join(str(d) for d in shape)
        files = export_builders(os.path.join(output_dir, label), shape, builders)
        paths = [path for modes in files.values() for path in modes.values()]
        rows = benchmark_host(BenchmarkConfig(models=tuple(paths), threads=(threads,),
                                              num_runs=num_runs, warmup_runs=10))
        by_path = {row["model"]: row for row in rows}
        raw += rows
        for name, modes in files.items():
            fp32, int8 = by_path[modes["float32"]], by_path[modes["int8"]]
            summary.append({
                "model": name, "input": label, "macs": int8["macs"],
                "float32_bytes": fp32["size_bytes"], "int8_bytes": int8["size_bytes"],
                "float32_p50_ms": fp32["p50_ms"], "int8_p50_ms": int8["p50_ms"],
                "int8_speedup": fp32["p50_ms"] / int8["p50_ms"],
                "int8_gmacs_per_second": int8["gmacs_per_second"]})
    for row in summary:
        if row["model"].startswith("keras_"):
            ours = next(r for r in summary if r["model"] == row["model"][len("keras_"):]
                        and r["input"] == row["input"])
            ours["int8_vs_keras_applications"] = ours["int8_p50_ms"] / row["int8_p50_ms"]
            ours["float32_vs_keras_applications"] = ours["float32_p50_ms"] / row["float32_p50_ms"]
    if json_path:
        results_file.save(json_path, {"summary": summary, "rows": raw,
                                      "settings": {"num_runs": num_runs, "threads": threads}})
    return summary


_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_export", "Where exports go.")
_BUILDERS = flags.DEFINE_list("builders", list(DEFAULT_BUILDERS), "Registered model names.")
_SIZES = flags.DEFINE_list("input_sizes", ["224x224x3", "32x32x1"], "Input shapes HxWxC.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed runs per model.", lower_bound=1)
_THREADS = flags.DEFINE_integer("threads", 1, "Interpreter threads.", lower_bound=1)
_JSON = flags.DEFINE_string("json", "benchmarks/results/export.json",
                            "Write the figures as JSON here.")


def _shape(text):
    try:
        shape = tuple(int(d) for d in text.split("x"))
    except ValueError:
        shape = ()
    if len(shape) != 3:
        raise UserError(f"input size must look like 224x224x3, got {text!r}")
    return shape


def main(argv):
    cli.reject_extra_args(argv)
    summary = benchmark_builders(_OUTPUT_DIR.value, tuple(_shape(s) for s in _SIZES.value),
                                 tuple(_BUILDERS.value), _NUM_RUNS.value, _THREADS.value,
                                 _JSON.value)
    columns = SUMMARY_COLUMNS + (("int8_vs_keras_applications", "int8 / keras.app", ".2f"),
                                 ("float32_vs_keras_applications", "fp32 / keras.app", ".2f"))
    print(format_table(summary, columns))


if __name__ == "__main__":
    cli.run(main)
