"""Where a search's trials run: in this process, or as a Ray Tune experiment on a local or joined cluster.

    with open_trials(workers=2, address=None, storage=run_dir) as trials:  # a local Ray
        trials.run(evaluate, items, on_result)   # on_result(index, result) as each ends

A trial that raises does not stop the others: its result is `{"error": "<one line>"}`.
`address` joins a running cluster (`ray start --head` on one machine, `ray start
--address=HEAD:6379` on the others); nothing answering there is one `UserError` line within
`CONNECT_SECONDS`, before Ray's own client starts retrying for minutes.
"""

import contextlib
import json
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

    def run(self, function, items, on_result, name="trials"):
        """Calls `on_result(index, result)` as each `function(*item)` ends."""
        del name
        for index, item in enumerate(items):
            on_result(index, guarded(function, item))


class TuneTrials:
    """Trials as a Ray Tune experiment, one CPU each, at most `workers` at a time; Tune
    keeps its own record in `<storage>/<name>`."""

    def __init__(self, tune, workers, storage):
        self.tune, self.workers, self.storage = tune, workers, storage

    def run(self, function, items, on_result, name="trials"):
        """Calls `on_result(index, result)` in this process as each trial ends."""
        tune, items = self.tune, list(items)
        if not items:
            return

        def trainable(config):
            return {"result_json": json.dumps(guarded(function, items[config["index"]]))}

        class Reporter(tune.Callback):
            def on_trial_complete(self, iteration, trials, trial, **info):
                result = json.loads((trial.last_result or {}).get("result_json", "null"))
                on_result(trial.config["index"], result or {"error": "no result"})

            def on_trial_error(self, iteration, trials, trial, **info):
                on_result(trial.config["index"], {"error": "the trial's worker failed (see "
                                                  f"{trial.error_file})"})

        tuner = tune.Tuner(
            tune.with_resources(trainable, {"cpu": 1}),
            param_space={"index": tune.grid_search(list(range(len(items))))},
            tune_config=tune.TuneConfig(max_concurrent_trials=self.workers),
            run_config=tune.RunConfig(storage_path=self.storage, name=name, verbose=0,
                                      callbacks=[Reporter()],
                                      failure_config=tune.FailureConfig(max_failures=0)))
        tuner.fit()


def guarded(function, item):
    """`function(*item)`, or its error as a result: a failed trial does not stop a search."""
    try:
        return function(*item)
    except UserError as error:
        return {"error": str(error)}
    except Exception as error:  # noqa: BLE001
        traceback.print_exc()
        return {"error": _one_line(error)}


@contextlib.contextmanager
def open_trials(workers=1, address=None, storage=None):
    """In-process trials for one worker and no address; Ray Tune otherwise (a local cluster of
    `workers` CPUs, or the one at `address`; Tune's records in `storage`), shut down on exit.

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
        from ray import tune  # noqa: PLC0415
    except ImportError:
        raise UserError("trials on Ray need the ray extra: pip install -e \".[ray]\"") from None
    if address:
        address = check_address(address)
    else:  # a cluster of this process's own, on this machine
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    os.environ.setdefault("RAY_AIR_NEW_OUTPUT", "0")  # verbose=0 then prints nothing
    ray.init(address=address, num_cpus=None if address else workers, include_dashboard=False,
             log_to_driver=False, configure_logging=False,
             runtime_env={"env_vars": {"TF_CPP_MIN_LOG_LEVEL": "3",  # one CPU per trial
                                       "TF_NUM_INTRAOP_THREADS": "1",
                                       "TF_NUM_INTEROP_THREADS": "1"}})
    try:
        yield TuneTrials(tune, workers, os.path.abspath(storage or "runs/tune"))
    finally:
        ray.shutdown()
