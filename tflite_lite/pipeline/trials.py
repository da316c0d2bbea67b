"""Where a search's trials run: in this process, or as Ray tasks on a local or joined cluster.

    with open_trials(workers=2, address=None) as trials:      # a local Ray on 2 workers
        for index, result in trials.run(evaluate, items):       # in completion order
            ...

A trial that raises does not stop the others: its result is `{"error": "<one line>"}`.
`address` joins a running cluster (`ray start --head` on one machine, `ray start
--address=HEAD:6379` on the others); nothing answering there is one `UserError` line within
`CONNECT_SECONDS`, before Ray's own client starts retrying for minutes.
"""

import contextlib
import os
import socket
import traceback

from tflite_lite.errors import UserError

CONNECT_SECONDS = 10
DEFAULT_RAY_PORT = 6379


def _one_line(error):
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[-1] if text else ''}"


def check_address(address, timeout=CONNECT_SECONDS):
    """`host:port` of a Ray head that accepts a connection; `UserError` naming the address."""
    host, _, port = address.rpartition(":") if ":" in address else (address, "", "")
    try:
        port = int(port or DEFAULT_RAY_PORT)
    except ValueError:
        raise UserError(f"Ray address {address!r} must be host:port") from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return f"{host}:{port}"
    except OSError as error:
        raise UserError(f"nothing answers at Ray address {host}:{port} ({error.strerror or error}"
                        f"; waited up to {timeout} s): start the head with `ray start --head`, "
                        "or leave out --address for a local Ray") from None


class InProcess:
    """Trials one after the other in this process."""

    workers = 1

    def run(self, function, items):
        for index, item in enumerate(items):
            try:
                yield index, function(*item)
            except UserError as error:
                yield index, {"error": str(error)}
            except Exception as error:  # noqa: BLE001  (a failed trial does not stop a search)
                traceback.print_exc()
                yield index, {"error": _one_line(error)}


class RayTrials:
    """Trials as Ray tasks, one CPU each, at most `workers` at a time."""

    def __init__(self, ray, workers):
        self.ray, self.workers = ray, workers

    def run(self, function, items):
        remote = self.ray.remote(num_cpus=1, max_retries=0)(_guarded)
        queue, running = list(enumerate(items)), {}
        while queue or running:
            while queue and len(running) < self.workers:
                index, item = queue.pop(0)
                running[remote.remote(function, item)] = index
            done, _ = self.ray.wait(list(running), num_returns=1)
            for reference in done:
                index = running.pop(reference)
                try:
                    result = self.ray.get(reference)
                except Exception as error:  # noqa: BLE001  (a worker lost: the trial failed)
                    result = {"error": _one_line(error)}
                yield index, result


def _guarded(function, item):
    """A trial's body on a worker: its error as a result, not a lost task."""
    try:
        return function(*item)
    except UserError as error:
        return {"error": str(error)}
    except Exception as error:  # noqa: BLE001
        return {"error": _one_line(error)}


@contextlib.contextmanager
def open_trials(workers=1, address=None):
    """In-process trials for one worker and no address; Ray otherwise (a local cluster of
    `workers` CPUs, or the one at `address`), shut down on exit.

    Raises:
      UserError: Ray is not installed (the extra named), or nothing answers at `address`.
    """
    if workers < 1:
        raise UserError(f"workers must be >= 1, got {workers!r}")
    if workers == 1 and not address:
        yield InProcess()
        return
    try:
        import ray  # noqa: PLC0415
    except ImportError:
        raise UserError("trials on Ray need the ray extra: pip install -e \".[ray]\"") from None
    if address:
        address = check_address(address)
    else:  # a cluster of this process's own, on this machine
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3"}})
    try:
        yield RayTrials(ray, workers)
    finally:
        ray.shutdown()
