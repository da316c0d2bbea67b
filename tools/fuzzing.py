"""Fuzzing the `.tflite` loading path: mutated copies of a valid model must be loaded or
refused with one line, never crash or hang the process that loads them.

    report = fuzz_loading("models/x/model_int8.tflite", count=1000, output_json="fuzz.json")

The loading path is `probe.describe_file`, what `inspect_tflite`, `benchmark` and the
pipeline use: a pure-Python parse in the calling process, then LiteRT in a child process.
Long-lived "caller" processes run it on one mutant after another; the harness watches them.
A caller that dies (signal, or a Python exception other than `UserError`) is a crash; one that
does not answer in time is a hang; either is recorded with the mutant's bytes and restarted.
"""

import collections
import concurrent.futures
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time

import numpy as np

from tflite_lite import artifacts
from tflite_lite.errors import UserError

MUTATIONS = ("bit_flips", "random_bytes", "extreme_int32", "truncate", "insert", "zero_run")
OUTCOMES = ("loaded", "refused_by_parser", "refused_by_litert", "litert_crash_contained",
            "litert_hang_contained", "caller_crash", "caller_hang")
_INT32_EXTREMES = (0, 1, 0x7FFFFFFF, -1, -0x80000000, 0x10000, 0x7FFFFFF0)


def structure_offsets(data):
    """Byte offsets of `data` outside the weight buffers: the tables, vectors and strings that
    describe the graph (where a mutation tests the parser rather than a weight value)."""
    from ai_edge_litert import schema_py_generated as schema

    inside = np.zeros(len(data), bool)
    model = schema.Model.GetRootAs(bytearray(data), 0)
    for index in range(model.BuffersLength()):
        table = model.Buffers(index)._tab
        field = table.Offset(4)
        if field:
            start = table.Vector(field)
            inside[start:start + table.VectorLen(field)] = True
    return np.flatnonzero(~inside)


def mutate(data, rng, structure):
    """One random mutation of `data`: (mutant bytes, {"kind", "offset", ...})."""
    kind = MUTATIONS[rng.integers(len(MUTATIONS))]
    # Half the mutations land in the graph's structure, half anywhere in the file.
    if rng.random() < 0.5 and len(structure):
        offset = int(structure[rng.integers(len(structure))])
    else:
        offset = int(rng.integers(len(data)))
    out = bytearray(data)
    detail = {"kind": kind, "offset": offset}
    if kind == "bit_flips":
        for _ in range(int(rng.integers(1, 9))):
            position = min(len(out) - 1, offset + int(rng.integers(0, 16)))
            out[position] ^= 1 << int(rng.integers(8))
    elif kind == "random_bytes":
        length = int(rng.integers(1, 17))
        out[offset:offset + length] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
        del out[len(data):]
    elif kind == "extreme_int32":
        offset -= offset % 4
        value = _INT32_EXTREMES[rng.integers(len(_INT32_EXTREMES))]
        out[offset:offset + 4] = int(value).to_bytes(4, "little", signed=True)
        del out[len(data):]
        detail.update(offset=offset, value=value)
    elif kind == "truncate":
        del out[offset:]
    elif kind == "insert":
        length = int(rng.integers(1, 65))
        out[offset:offset] = rng.integers(0, 256, length, dtype=np.uint8).tobytes()
    else:
        length = int(rng.integers(4, 257))
        out[offset:offset + length] = bytes(min(length, len(data) - offset))
    return bytes(out), detail


def serve():
    """The caller: reads a path per line, loads it with `describe_file`, answers one JSON line.
    A `UserError` is an answer; any other exception is left to kill the process (a crash)."""
    from tflite_lite.convert import flatbuffer, probe

    timeout = float(os.environ.get("TFLITE_LITE_FUZZ_CHILD_TIMEOUT", "20"))
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        path = line.strip()
        answer = {"outcome": "loaded", "message": ""}
        try:
            data = flatbuffer.read_bytes(path)
            flatbuffer.describe(data, path)
        except UserError as error:
            answer = {"outcome": "refused_by_parser", "message": str(error)}
        else:
            try:
                probe.check_loads(path, timeout)
            except UserError as error:
                message = str(error)
                outcome = ("litert_crash_contained" if "crashed" in message else
                           "litert_hang_contained" if "did not finish" in message else
                           "refused_by_litert")
                answer = {"outcome": outcome, "message": message}
        answer["message"] = answer["message"].replace(path, "<mutant>")[:300]
        print(json.dumps(answer), flush=True)


_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # where `tools` imports


class _Caller:
    """One caller process and the pipe to it; restarted after a crash or hang."""

    def __init__(self, child_timeout, scratch):
        self.child_timeout = child_timeout
        self.stderr_path = tempfile.mktemp(prefix="caller_", suffix=".log", dir=scratch)
        self.process = None

    def _start(self):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   TFLITE_LITE_FUZZ_CHILD_TIMEOUT=str(self.child_timeout))
        with open(self.stderr_path, "w") as stderr:  # a file: a full pipe would block it
            self.process = subprocess.Popen(
                [sys.executable, "-c", "from tools.fuzzing import serve; serve()"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=stderr, text=True,
                env=env, bufsize=1, cwd=_REPO)
        if self._read(300) is None:
            raise UserError(f"the fuzz caller process did not start: {self._last_error()}")

    def _read(self, timeout):
        ready, _, _ = select.select([self.process.stdout], [], [], timeout)
        if not ready:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def _last_error(self):
        with open(self.stderr_path) as f:
            lines = [line for line in f.read().splitlines() if line.strip()]
        return (lines[-1] if lines else "no output")[:300]

    def load(self, path, timeout):
        """The caller's answer for `path`, or a caller_crash / caller_hang record."""
        if self.process is None:
            self._start()
        self.process.stdin.write(path + "\n")
        self.process.stdin.flush()
        answer = self._read(timeout)
        if answer is not None:
            return answer
        hung = self.process.poll() is None
        if hung:
            self.process.kill()
        returncode = self.process.wait()
        self.process = None
        if hung:
            return {"outcome": "caller_hang", "message": f"no answer within {timeout} s"}
        reason = (f"killed by {signal.Signals(-returncode).name}" if returncode < 0
                  else self._last_error())
        return {"outcome": "caller_crash", "message": reason}

    def close(self):
        if self.process is not None and self.process.poll() is None:
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


def fuzz_loading(model_path, count=1000, seed=0, workers=2, child_timeout=20.0,
                 output_json=None, failures_dir=None, log=None):
    """Loads `count` mutants of `model_path` through the loading path and counts outcomes.

    Args:
      model_path: a valid `.tflite` to mutate.
      count: number of mutants. Defaults to 1000.
      seed: seeds the mutations (the same seed gives the same mutants). Defaults to 0.
      workers: caller processes working in parallel. Defaults to 2.
      child_timeout: seconds LiteRT's child may take per mutant. Defaults to 20.
      output_json: where the report is written (atomically). Defaults to None.
      failures_dir: where the mutants that crashed or hung a caller are kept. Defaults to None.
      log: a function taking a progress line. Defaults to None.

    Returns:
      The report: settings, `outcomes` counts, counts per mutation kind, and `failures`
      (each caller crash or hang with its mutation and message).
    """
    from tflite_lite.convert import flatbuffer, probe

    if not isinstance(count, int) or count < 1:
        raise UserError(f"count must be a positive integer, got {count!r}")
    if not isinstance(workers, int) or workers < 1:
        raise UserError(f"workers must be a positive integer, got {workers!r}")
    if not child_timeout > 0:
        raise UserError(f"child_timeout must be positive, got {child_timeout!r}")
    original = flatbuffer.read_bytes(model_path)
    flatbuffer.describe(original, model_path)
    probe.check_loads(model_path, child_timeout)  # the unmutated model must load
    structure = structure_offsets(original)
    rng = np.random.default_rng(seed)
    mutants = [mutate(original, rng, structure) for _ in range(count)]

    results = [None] * count
    lock = threading.Lock()
    done = [0]
    started = time.perf_counter()
    scratch = tempfile.mkdtemp(prefix="tflite_fuzz_")

    def run_share(worker_index):
        caller = _Caller(child_timeout, scratch)
        try:
            for index in range(worker_index, count, workers):
                path = os.path.join(scratch, f"mutant_{index:05d}.tflite")
                with open(path, "wb") as f:
                    f.write(mutants[index][0])
                answer = caller.load(path, child_timeout + 30)
                os.remove(path)
                results[index] = dict(mutants[index][1], index=index, **answer)
                with lock:
                    done[0] += 1
                    if log and done[0] % 100 == 0:
                        log(f"{done[0]}/{count} mutants, {time.perf_counter() - started:.0f} s")
        finally:
            caller.close()

    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=workers) as pool:
            list(pool.map(run_share, range(workers)))
    finally:
        for entry in os.listdir(scratch):
            os.remove(os.path.join(scratch, entry))
        os.rmdir(scratch)

    failures = [r for r in results if r["outcome"] in ("caller_crash", "caller_hang")]
    if failures_dir and failures:
        os.makedirs(failures_dir, exist_ok=True)
        for failure in failures:
            with artifacts.atomic_path(os.path.join(failures_dir,
                                              f"mutant_{failure['index']:05d}.tflite")) as tmp:
                with open(tmp, "wb") as f:
                    f.write(mutants[failure["index"]][0])
    by_kind = collections.defaultdict(collections.Counter)
    for result in results:
        by_kind[result["kind"]][result["outcome"]] += 1
    report = {
        "model": os.path.abspath(model_path),
        "model_bytes": len(original),
        "structure_bytes": int(len(structure)),
        "count": count,
        "seed": seed,
        "workers": workers,
        "child_timeout": child_timeout,
        "seconds": round(time.perf_counter() - started, 1),
        "outcomes": {outcome: sum(r["outcome"] == outcome for r in results)
                     for outcome in OUTCOMES},
        "by_mutation": {kind: dict(by_kind[kind]) for kind in MUTATIONS if kind in by_kind},
        "failures": failures,
        "litert_crashes": [r for r in results if r["outcome"] == "litert_crash_contained"][:50],
    }
    if output_json:
        artifacts.write_json(output_json, report)
    return report
