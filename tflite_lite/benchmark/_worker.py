"""One benchmarked model in its own process (run by `host.py`; imports only LiteRT and numpy).

Usage: python _worker.py MODEL THREADS. Loads the model, reports init and first-inference
time, then answers JSON commands on stdin, one per line: {"runs": N, "timed": bool} → the
per-run times in ms; {"quit": true} → the memory figures, then exits.
"""

import json
import resource
import sys
import time

import numpy as np
from ai_edge_litert.interpreter import Interpreter, OpResolverType


def _rss_mb():
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * resource.getpagesize() / 2**20
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _random_input(detail, rng):
    dtype = np.dtype(detail["dtype"])
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return rng.integers(info.min, info.max, size=detail["shape"], endpoint=True, dtype=dtype)
    return rng.standard_normal(detail["shape"]).astype(dtype)


def _send(message):
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def main(path, threads):
    rss_start = _rss_mb()
    start = time.perf_counter()
    try:
        interpreter = Interpreter(model_path=path, num_threads=threads)
        interpreter.allocate_tensors()
    except RuntimeError as error:  # XNNPACK refuses sparse-format weights: builtin kernels
        if "XNNPack" not in str(error):
            raise
        interpreter = Interpreter(
            model_path=path, num_threads=threads,
            experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
        interpreter.allocate_tensors()
    init_ms = (time.perf_counter() - start) * 1e3
    rng = np.random.default_rng(0)
    for detail in interpreter.get_input_details():
        interpreter.set_tensor(detail["index"], _random_input(detail, rng))
    start = time.perf_counter()
    interpreter.invoke()
    first_ms = (time.perf_counter() - start) * 1e3
    rss_init = _rss_mb()
    _send({"init_ms": init_ms, "first_inference_ms": first_ms,
           "memory_init_mb": rss_init - rss_start})
    invoke, clock = interpreter.invoke, time.perf_counter_ns
    peak = rss_init
    for line in sys.stdin:
        command = json.loads(line)
        if command.get("quit"):
            break
        times = []
        for _ in range(command["runs"]):
            begin = clock()
            invoke()
            times.append((clock() - begin) / 1e6)
        peak = max(peak, _rss_mb())
        _send({"times_ms": times})
    _send({"memory_overall_mb": peak - rss_start, "peak_rss_mb":
           resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024})


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
