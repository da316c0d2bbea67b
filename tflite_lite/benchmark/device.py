"""Device benchmark over adb with TFLite's `benchmark_model` binary, parsed into host-style rows.

    rows = benchmark_device(DeviceConfig(models=("m.tflite",), benchmark_binary="benchmark_model"))

The user supplies the Android `benchmark_model` binary for the phone's ABI (TFLite publishes
nightly builds). The model and the binary are pushed to `device_dir`, the binary is run with
`--graph --num_threads --num_runs --warmup_runs` (and `--use_gpu` / `--use_nnapi`), and its
report (init, first inference, warm-up, inference mean / std / min / max / p5 / median / p95,
memory footprint) becomes the same row keys the host benchmark writes.
"""

import dataclasses
import os
import re
import shutil
import subprocess

from tflite_lite._config import Config
from tflite_lite.convert import flatbuffer
from tflite_lite.errors import UserError

DELEGATES = ("cpu", "gpu", "nnapi")

_NUMBER = r"([-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?)"
_STATS = re.compile(r"count=(\d+)(.*)$")
_TIMINGS = re.compile(r"Inference timings in us: Init: " + _NUMBER + r", First inference: "
                      + _NUMBER + r", Warmup \(avg\): " + _NUMBER + r", Inference \(avg\): "
                      + _NUMBER)
_MEMORY = re.compile(r"Memory footprint delta from the start of the tool \(MB\): init="
                     + _NUMBER + r" overall=" + _NUMBER)
_SIZE = re.compile(r"The input model file size \(MB\): " + _NUMBER)
_THREADS = re.compile(r"#threads used for CPU inference: \[(\d+)\]")


def parse_benchmark_model_output(text):
    """Parses `benchmark_model`'s report (plain or logcat-prefixed lines).

    Returns:
      A dict in ms / MB: init_ms, first_inference_ms, warmup_mean_ms, mean_ms, std_ms, min_ms,
      max_ms, p5_ms, p50_ms, p95_ms (None where the tool's version does not print them),
      num_runs, memory_init_mb, memory_overall_mb, model_size_mb, threads.

    Raises:
      UserError: the text has no final timings line (the run failed).
    """
    timings = _TIMINGS.search(text)
    if not timings:
        lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
        raise UserError("benchmark_model printed no 'Inference timings' line; last line: "
                        f"{lines[-1][:200] if lines else '(no output)'}")
    init_us, first_us, warmup_us, mean_us = (float(g) for g in timings.groups())
    result = {"init_ms": init_us / 1e3, "first_inference_ms": first_us / 1e3,
              "warmup_mean_ms": warmup_us / 1e3, "mean_ms": mean_us / 1e3}
    stat_lines = [m for m in (_STATS.search(line) for line in text.splitlines()) if m]
    fields = {}
    if stat_lines:  # the last `count=` line summarizes the timed runs
        last = stat_lines[-1]
        result["num_runs"] = int(last.group(1))
        fields = {key: float(value) for key, value in re.findall(r"(\w+)=" + _NUMBER,
                                                                 last.group(2))}
    for key, name in (("std", "std_ms"), ("min", "min_ms"), ("max", "max_ms"), ("p5", "p5_ms"),
                      ("median", "p50_ms"), ("p95", "p95_ms")):
        result[name] = fields[key] / 1e3 if key in fields else None
    memory = _MEMORY.search(text)
    size = _SIZE.search(text)
    threads = _THREADS.search(text)
    result.update(
        num_runs=result.get("num_runs"),
        memory_init_mb=float(memory.group(1)) if memory else None,
        memory_overall_mb=float(memory.group(2)) if memory else None,
        model_size_mb=float(size.group(1)) if size else None,
        threads=int(threads.group(1)) if threads else None)
    return result


@dataclasses.dataclass
class DeviceConfig(Config):
    """A device benchmark run.

    Attributes:
      models: `.tflite` paths on this machine.
      benchmark_binary: the Android `benchmark_model` binary on this machine.
      threads: thread counts. Defaults to (1,).
      num_runs: timed runs. Defaults to 50.
      warmup_runs: warm-up runs. Defaults to 5.
      delegate: cpu, gpu or nnapi. Defaults to "cpu".
      serial: adb device serial. Defaults to None (the only device).
      adb: the adb command. Defaults to "adb".
      device_dir: where files go on the device. Defaults to "/data/local/tmp/tflite_lite".
    """

    _kind = "device benchmark"

    models: tuple
    benchmark_binary: str
    threads: tuple = (1,)
    num_runs: int = 50
    warmup_runs: int = 5
    delegate: str = "cpu"
    serial: str = None
    adb: str = "adb"
    device_dir: str = "/data/local/tmp/tflite_lite"

    def validate(self):
        if self.delegate not in DELEGATES:
            raise UserError(f"delegate must be one of {', '.join(DELEGATES)}, got "
                            f"{self.delegate!r}")
        if not self.threads or min(self.threads) < 1 or self.num_runs < 1 or self.warmup_runs < 0:
            raise UserError("threads and num_runs must be >= 1, warmup_runs >= 0")


class _Adb:
    def __init__(self, command, serial):
        path = shutil.which(command)
        if path is None:
            raise UserError(f"{command}: adb not found; install Android platform-tools and put "
                            "adb on PATH")
        self.base = [path] + (["-s", serial] if serial else [])

    def __call__(self, *args, timeout=600):
        try:
            result = subprocess.run(self.base + list(args), capture_output=True, text=True,
                                    timeout=timeout)
        except subprocess.TimeoutExpired:
            raise UserError(f"adb {' '.join(args[:2])} timed out after {timeout} s") from None
        if result.returncode != 0:
            message = (result.stderr.strip() or result.stdout.strip() or
                       f"exit {result.returncode}").splitlines()[-1]
            raise UserError(f"adb {args[0]} failed: {message}")
        return result.stdout + result.stderr


def benchmark_device(config):
    """Runs each model at each thread count on the device; returns host-style rows."""
    config.validate()
    if not os.path.isfile(config.benchmark_binary):
        raise UserError(f"{config.benchmark_binary}: no such benchmark_model binary")
    descriptions = {path: flatbuffer.describe(flatbuffer.read_bytes(path), path)
                    for path in dict.fromkeys(config.models)}
    adb = _Adb(config.adb, config.serial)
    state = adb("get-state", timeout=30).strip()
    if state != "device":
        raise UserError(f"no Android device ready (adb get-state: {state})")
    adb("shell", "mkdir", "-p", config.device_dir)
    binary = f"{config.device_dir}/benchmark_model"
    adb("push", config.benchmark_binary, binary)
    adb("shell", "chmod", "755", binary)
    rows = []
    for path, description in descriptions.items():
        remote = f"{config.device_dir}/{os.path.basename(path)}"
        adb("push", path, remote)
        for threads in config.threads:
            flags = [f"--graph={remote}", f"--num_threads={threads}",
                     f"--num_runs={config.num_runs}", f"--warmup_runs={config.warmup_runs}"]
            if config.delegate != "cpu":
                flags.append(f"--use_{config.delegate}=true")
            parsed = parse_benchmark_model_output(adb("shell", binary, *flags))
            median = parsed["p50_ms"] or parsed["mean_ms"]
            rows.append(dict(parsed, model=path, name=os.path.basename(path), threads=threads,
                             delegate=config.delegate, size_bytes=description["size_bytes"],
                             macs=description["macs"],
                             gmacs_per_second=description["macs"] / median / 1e6))
    return rows
