"""Host latency benchmark on LiteRT's interpreter (XNNPACK), models interleaved.

    rows = benchmark_host(BenchmarkConfig(models=("a.tflite", "b.tflite"), threads=(1, 2)))

Each (model, thread count) runs in its own worker process, started once. After every
worker's warm-up, the timed runs go in rounds: a chunk of A, a chunk of B, a chunk of A, ...,
so slow drifts of a shared machine (other load, clock changes) hit every model alike. Only one
worker runs at a time. Ratios are taken against the baseline model at the same thread count.
"""

import dataclasses
import json
import math
import os
import signal
import subprocess
import sys
import tempfile

import numpy as np

from tflite_lite import _progress
from tflite_lite._config import Config
from tflite_lite.convert.probe import describe_file
from tflite_lite.errors import UserError

_WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_worker.py")

LATENCY_COLUMNS = (
    ("name", "model", "s"), ("threads", "thr", "d"), ("size_bytes", "bytes", ",d"),
    ("macs", "MACs", ",d"), ("init_ms", "init ms", ".1f"),
    ("first_inference_ms", "first ms", ".2f"), ("mean_ms", "mean ms", ".3f"),
    ("std_ms", "std", ".3f"), ("p50_ms", "p50 ms", ".3f"), ("p90_ms", "p90 ms", ".3f"),
    ("p99_ms", "p99 ms", ".3f"), ("gmacs_per_second", "GMAC/s", ".1f"),
    ("memory_overall_mb", "mem MB", ".1f"), ("ratio_to_baseline", "x base", ".2f"),
)


@dataclasses.dataclass
class BenchmarkConfig(Config):
    """A host benchmark run.

    Attributes:
      models: `.tflite` paths.
      threads: thread counts; every model runs at each. Defaults to (1,).
      num_runs: timed runs per model and thread count, at least. Defaults to 100.
      warmup_runs: untimed runs first. Defaults to 10.
      min_seconds: keep running until each has this much timed inference. Defaults to 0.
      rounds: the timed runs are split into this many interleaved chunks. Defaults to 10.
      baseline: the model the ratios are against. Defaults to None (the first).
    """

    _kind = "benchmark"

    models: tuple
    threads: tuple = (1,)
    num_runs: int = 100
    warmup_runs: int = 10
    min_seconds: float = 0.0
    rounds: int = 10
    baseline: str = None

    def validate(self):
        if not self.models:
            raise UserError("no models to benchmark")
        if not self.threads or min(self.threads) < 1:
            raise UserError(f"thread counts must be >= 1, got {list(self.threads)}")
        for key in ("num_runs", "rounds"):
            if getattr(self, key) < 1:
                raise UserError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.warmup_runs < 0 or self.min_seconds < 0:
            raise UserError("warmup_runs and min_seconds must be >= 0")
        if self.baseline is not None and self.baseline not in self.models:
            raise UserError(f"baseline {self.baseline!r} is not one of the models")


def latency_stats(times_ms):
    """mean, std, min, p50, p90, p99 (ms) of a list of run times."""
    times = np.asarray(times_ms, np.float64)
    p50, p90, p99 = np.percentile(times, [50, 90, 99])
    return {"mean_ms": float(times.mean()), "std_ms": float(times.std()),
            "min_ms": float(times.min()), "p50_ms": float(p50), "p90_ms": float(p90),
            "p99_ms": float(p99)}


class _Worker:
    def __init__(self, path, threads):
        self.path, self.threads = path, threads
        self.process = subprocess.Popen(
            [sys.executable, _WORKER, path, str(threads)], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
        self.times = []
        self.timed_seconds = 0.0
        self.start = self._receive()

    def _receive(self):
        line = self.process.stdout.readline()
        if not line:
            self.process.wait()
            code = self.process.returncode
            reason = (f"crashed ({signal.Signals(-code).name})" if code and code < 0
                      else f"failed ({self.process.stderr.read().strip()[-200:] or code})")
            raise UserError(f"{self.path}: benchmark worker {reason}")
        return json.loads(line)

    def run(self, runs, timed=True):
        self.process.stdin.write(json.dumps({"runs": runs}) + "\n")
        self.process.stdin.flush()
        times = self._receive()["times_ms"]
        if timed:
            self.times += times
            self.timed_seconds += sum(times) / 1e3

    def finish(self):
        self.process.stdin.write(json.dumps({"quit": True}) + "\n")
        self.process.stdin.flush()
        memory = self._receive()
        self.process.wait(timeout=30)
        return memory

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def display_names(paths):
    names = [os.path.basename(p) for p in paths]
    if len(set(names)) < len(names):
        names = [os.path.join(os.path.basename(os.path.dirname(os.path.abspath(p))), n)
                 for p, n in zip(paths, names)]
    return dict(zip(paths, names))


def benchmark_host(config):
    """Runs the benchmark and returns one row per (model, thread count).

    Each row has: model (path), name, threads, size_bytes, macs, init_ms, first_inference_ms,
    memory_init_mb / memory_overall_mb (resident memory added since before loading),
    peak_rss_mb (the whole worker process), warmup_runs, num_runs, the `latency_stats`,
    gmacs_per_second (MACs / p50) and ratio_to_baseline (p50 / the baseline's p50).
    """
    config.validate()
    descriptions = {path: describe_file(path) for path in dict.fromkeys(config.models)}
    names = display_names(list(descriptions))
    entries = [(path, threads) for threads in config.threads for path in descriptions]
    chunk = max(1, math.ceil(config.num_runs / config.rounds))
    progress = _progress.Progress("benchmark", len(entries) * config.num_runs, unit="runs",
                                  every=None, stream=sys.stderr)
    workers = []
    try:
        for path, threads in entries:
            workers.append(_Worker(path, threads))
            if config.warmup_runs:
                workers[-1].run(config.warmup_runs, timed=False)
        while any(len(w.times) < config.num_runs or w.timed_seconds < config.min_seconds
                  for w in workers):
            for worker in workers:
                before = len(worker.times)
                worker.run(chunk)
                progress.update(min(len(worker.times), config.num_runs) - min(before,
                                                                              config.num_runs))
        memory = [worker.finish() for worker in workers]
    finally:
        progress.close()
        for worker in workers:
            worker.kill()
    rows = []
    for worker, memory_figures in zip(workers, memory):
        description = descriptions[worker.path]
        stats = latency_stats(worker.times)
        rows.append(dict(
            model=worker.path, name=names[worker.path], threads=worker.threads,
            size_bytes=description["size_bytes"], macs=description["macs"],
            init_ms=worker.start["init_ms"],
            first_inference_ms=worker.start["first_inference_ms"],
            memory_init_mb=worker.start["memory_init_mb"], **memory_figures,
            warmup_runs=config.warmup_runs, num_runs=len(worker.times), **stats,
            gmacs_per_second=description["macs"] / stats["p50_ms"] / 1e6))
    baseline = config.baseline or config.models[0]
    base = {row["threads"]: row["p50_ms"] for row in rows if row["model"] == baseline}
    for row in rows:
        row["ratio_to_baseline"] = row["p50_ms"] / base[row["threads"]]
    return rows


def run_litert_benchmark(path, threads, num_runs, warmup_runs, timeout=600):
    """LiteRT's own `litert-benchmark` on the same model and settings (for cross-checking).

    Returns:
      Its `latency` record (init_ms, avg_ms, median_ms, ... in 0.01 ms steps).
    """
    tool = os.path.join(os.path.dirname(sys.executable), "litert-benchmark")
    if not os.path.exists(tool):
        raise UserError("litert-benchmark (installed with ai-edge-litert) was not found beside "
                        f"{sys.executable}")
    fd, output = tempfile.mkstemp(suffix=".json")
    os.close(fd)
    try:
        result = subprocess.run([tool, "--model", path, "--num_threads", str(threads),
                                 "--num_runs", str(num_runs), "--warmup_runs", str(warmup_runs),
                                 "--result_json", output], capture_output=True, text=True,
                                timeout=timeout)
        if result.returncode != 0:
            raise UserError(f"litert-benchmark failed on {path} (exit {result.returncode})")
        with open(output) as f:
            return json.load(f)["latency"]
    finally:
        if os.path.exists(output):
            os.remove(output)
