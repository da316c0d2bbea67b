"""Safe by default: no network use besides an explicit dataset download; models load in
Keras safe mode (see test_bad_inputs for Lambda layers and recipes that are code)."""

import os
import subprocess
import sys

import pytest

from conftest import REPO

# Loaded into every Python process of the test through PYTHONPATH: any connection or name
# lookup that is not the loopback interface is recorded and refused.
_GUARD = '''
import os, socket

_LOG = os.environ["NETWORK_GUARD_LOG"]
_LOCAL = ("127.0.0.1", "::1", "localhost", "0.0.0.0", None, "")


def _refuse(what):
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {what}\\n")
    raise OSError(f"network guard: {what}")


_connect, _getaddrinfo = socket.socket.connect, socket.getaddrinfo


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in _LOCAL:
        _refuse(f"connect {address}")
    return _connect(self, address)


def getaddrinfo(host, *args, **kwargs):
    if host not in _LOCAL:
        _refuse(f"getaddrinfo {host}")
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.getaddrinfo = connect, getaddrinfo
'''


@pytest.mark.slow
def test_train_export_inspect_and_benchmark_never_reach_the_network(tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD)
    log = tmp_path / "network.log"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(guard), REPO]),
               NETWORK_GUARD_LOG=str(log), TF_CPP_MIN_LOG_LEVEL="3")
    run = tmp_path / "run"
    commands = [
        ["train.py", "--model", "squeezenet_1_1", "--epochs", "1", "--max_train_examples",
         "512", "--output_dir", str(run)],
        ["export.py", "--model", str(run / "model.keras"), "--mode", "int8", "--evaluate",
         "--max_eval_examples", "200", "--representative_examples", "32"],
        ["inspect_tflite.py", "--model", str(run / "model_int8.tflite")],
        ["benchmark.py", "--models", str(run / "model_int8.tflite"), "--num_runs", "20",
         "--rounds", "2", "--json", str(tmp_path / "bench.json")],
    ]
    for command in commands:
        result = subprocess.run([sys.executable, os.path.join(REPO, "scripts", command[0]),
                                 *command[1:]], cwd=REPO, env=env, capture_output=True,
                                text=True, timeout=900)
        assert result.returncode == 0, (command[0], result.stderr[-3000:])
    assert (tmp_path / "bench.json").exists()
    assert not log.exists(), log.read_text()


def test_the_guard_itself_refuses_a_lookup(tmp_path):
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(_GUARD)
    log = tmp_path / "network.log"
    env = dict(os.environ, PYTHONPATH=str(guard), NETWORK_GUARD_LOG=str(log))
    result = subprocess.run([sys.executable, "-c", "import socket; "
                             "socket.getaddrinfo('storage.googleapis.com', 443)"],
                            env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0 and "network guard" in result.stderr
    assert "storage.googleapis.com" in log.read_text()
