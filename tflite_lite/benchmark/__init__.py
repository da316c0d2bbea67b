"""Benchmark stage: latency, init time, memory and size of `.tflite` files.

- `benchmark_host(BenchmarkConfig(...))`: LiteRT's interpreter on this machine, each model in
  its own process, models interleaved, ratios against a baseline.
- `benchmark_device(DeviceConfig(...))`: TFLite's `benchmark_model` on a phone over adb.
- `benchmark_micro(MicroConfig(...))`: TensorFlow Lite Micro on this machine: missing ops,
  arena, flash, time per invoke, and output parity with LiteRT on the test split.
- `run_benchmark(...)`: any of them, plus the optional `litert-benchmark` cross-check, a printed
  table, JSON and CSV.
"""

import os
import platform
import sys
import tempfile
import types

from tflite_lite import _io
from tflite_lite.benchmark.device import (DeviceConfig, benchmark_device,
                                          parse_benchmark_model_output)
from tflite_lite.benchmark.micro import MICRO_COLUMNS, MicroConfig, benchmark_micro
from tflite_lite.benchmark.host import (LATENCY_COLUMNS, BenchmarkConfig, benchmark_host,
                                        latency_stats, run_litert_benchmark)
from tflite_lite.benchmark.results import load_results, save_results
from tflite_lite.errors import UserError
from tflite_lite.report import format_table

__all__ = ["BenchmarkConfig", "DeviceConfig", "LATENCY_COLUMNS", "MICRO_COLUMNS", "MicroConfig",
           "benchmark", "benchmark_device", "benchmark_host", "benchmark_micro", "cross_check",
           "latency_stats", "load_results", "parse_benchmark_model_output", "save_results",
           "run_benchmark", "run_litert_benchmark"]

CROSS_CHECK_COLUMNS = (("name", "model", "s"), ("threads", "thr", "d"),
                       ("p50_ms", "ours p50 ms", ".3f"),
                       ("litert_benchmark_median_ms", "litert-benchmark median ms", ".2f"),
                       ("litert_benchmark_ratio", "ours / theirs", ".3f"))


def benchmark(models, threads=(1,), num_runs=100, warmup_runs=10, baseline=None):
    """Host latency of `.tflite` models on LiteRT, each in its own process, interleaved.

    Args:
      models: paths, flatbuffer bytes or `ExportResult`s (a dict names them; in-memory ones
        are written to a temporary folder for the workers).
      threads: thread counts to run each model at. Defaults to (1,).
      num_runs: timed runs per model and thread count. Defaults to 100.
      warmup_runs: untimed runs first. Defaults to 10.
      baseline: the name or path the ratios are against. Defaults to None (the first).

    Returns:
      One row per (model, threads): `benchmark_host`'s figures (p50_ms, p90_ms, init_ms, ...).
    """
    named = dict(models) if isinstance(models, dict) else {
        (m if isinstance(m, (str, os.PathLike)) else f"model_{i}"): m
        for i, m in enumerate(models)}
    with tempfile.TemporaryDirectory(prefix="tflite_lite_bench_") as folder:
        paths = {}
        for name, model in named.items():
            if isinstance(model, (str, os.PathLike)):
                paths[name] = os.fspath(model)
                continue
            data = getattr(model, "tflite", model)
            if not isinstance(data, (bytes, bytearray)):
                raise UserError(f"cannot benchmark a {type(model).__name__}: give a .tflite "
                                "path, its bytes or an ExportResult")
            paths[name] = os.path.join(folder, f"{os.path.basename(str(name))}.tflite")
            with open(paths[name], "wb") as f:
                f.write(data)
        config = BenchmarkConfig(models=tuple(paths.values()), threads=tuple(threads),
                                 num_runs=num_runs, warmup_runs=warmup_runs,
                                 baseline=paths.get(baseline, baseline))
        rows = benchmark_host(config)
    by_path = {path: name for name, path in paths.items()}
    return [dict(row, model=str(by_path[row["model"]])) for row in rows]


def cross_check(rows, config):
    """Adds `litert-benchmark`'s median (same model, threads, runs, warm-up) to each row."""
    for row in rows:
        latency = run_litert_benchmark(row["model"], row["threads"], config.num_runs,
                                       config.warmup_runs)
        row["litert_benchmark_median_ms"] = latency["median_ms"]
        row["litert_benchmark_ratio"] = (row["p50_ms"] / latency["median_ms"]
                                         if latency["median_ms"] else None)
    return rows


def _host_info():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f
                        if line.startswith("model name")), cpu)
    except OSError:
        pass
    from ai_edge_litert import __version__ as litert_version  # noqa: PLC0415
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
            "ai_edge_litert": litert_version}
    try:
        from importlib.metadata import version  # noqa: PLC0415
        info["tflite_micro"] = version("tflite-micro")
    except Exception:  # noqa: BLE001  (not installed: the micro extra)
        pass
    return info


def _mode(config):
    return {DeviceConfig: "device", MicroConfig: "micro"}.get(type(config), "host")


def run_benchmark(config, json_path=None, csv_path=None, with_cross_check=False, verbose=0):
    """Runs a host (`BenchmarkConfig`), device (`DeviceConfig`) or TFLM (`MicroConfig`)
    benchmark, prints the table and writes JSON / CSV. Returns the rows."""
    if isinstance(config, MicroConfig):
        rows = benchmark_micro(config, verbose=verbose)
        columns = MICRO_COLUMNS
    elif isinstance(config, DeviceConfig):
        rows = benchmark_device(config)
        columns = tuple(c for c in LATENCY_COLUMNS if c[0] != "ratio_to_baseline")
    else:
        rows = benchmark_host(config)
        columns = LATENCY_COLUMNS
        if with_cross_check:
            cross_check(rows, config)
    print(format_table(rows, columns))
    if with_cross_check and _mode(config) == "host":
        print()
        print(format_table(rows, CROSS_CHECK_COLUMNS))
    if json_path:
        save_results(json_path, rows, config, mode=_mode(config), host=_host_info())
    if csv_path:
        _io.write_csv(csv_path, rows)
    return rows


class _CallableModule(types.ModuleType):
    """`tflite_lite.benchmark(...)` is `benchmark(...)` whether the name resolves to this
    package (once imported) or to the function."""

    def __call__(self, *args, **kwargs):
        return benchmark(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
