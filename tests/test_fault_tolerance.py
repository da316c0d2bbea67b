"""Several processes and killed processes: two workers on loopback, `kill -9` during training
and export. Each test starts real training or conversion subprocesses, so all are slow."""

import json
import os
import signal
import socket
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_script
from tflite_lite.run_record import RunRecord

pytestmark = pytest.mark.slow

_TRAIN = os.path.join(REPO, "scripts", "train.py")


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_workers(args, count=2, timeout=600):
    """Runs `scripts/train.py ARGS --strategy multi_worker` as `count` workers on 127.0.0.1."""
    addresses = [f"127.0.0.1:{port}" for port in _free_ports(count)]
    workers = []
    for index in range(count):
        tf_config = {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}}
        env = dict(os.environ, TF_CONFIG=json.dumps(tf_config), TF_CPP_MIN_LOG_LEVEL="3")
        workers.append(subprocess.Popen(
            [sys.executable, _TRAIN, *args, "--strategy", "multi_worker", "--verbose", "2"],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [worker.communicate(timeout=timeout)[0] for worker in workers]
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    return outputs


def _weights(path):
    from tflite_lite.compression import load_model

    return load_model(str(path)).get_weights()


def test_two_workers_train_float_and_qat_to_identical_weights(tmp_path):
    float_dir, qat_dir = tmp_path / "float", tmp_path / "qat"
    _run_workers(["--model", "squeezenet_1_1", "--epochs", "2", "--max_train_examples", "1024",
                  "--batch_size", "64", "--output_dir", str(float_dir)])
    for folder in (float_dir, float_dir / "worker_1"):
        record = RunRecord.load(folder)
        assert record["distribution"]["workers"] == 2 and record["distribution"]["replicas"] == 2
        assert record["epochs"] == 2
    assert RunRecord.load(float_dir / "worker_1")[
        "distribution"]["worker_index"] == 1
    chief, other = _weights(float_dir / "model.keras"), _weights(float_dir / "worker_1/model.keras")
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))
    first_epoch = _weights(float_dir / "checkpoints" / "epoch_001.keras")
    assert not all(np.array_equal(a, b) for a, b in zip(chief, first_epoch))  # it trained
    # Global batch 64 over 1,024 examples: 16 steps per epoch on each worker (32 images each).
    history = json.loads((float_dir / "history.json").read_text())
    assert len(history["loss"]) == 2
    assert not (float_dir / "backup").exists()

    _run_workers(["--init_from", str(float_dir / "model.keras"), "--qat", "--epochs", "1",
                  "--max_train_examples", "512", "--batch_size", "64",
                  "--output_dir", str(qat_dir)])
    chief, other = _weights(qat_dir / "model.keras"), _weights(qat_dir / "worker_1/model.keras")
    assert len(chief) > len(first_epoch)  # fake-quantization ranges as well
    assert all(np.array_equal(a, b) for a, b in zip(chief, other))


def test_multi_worker_needs_a_valid_tf_config(tmp_path):
    env_backup = os.environ.pop("TF_CONFIG", None)
    try:
        result = run_script("train", "--strategy", "multi_worker", "--epochs", "1",
                            "--output_dir", str(tmp_path / "run"))
        assert_one_line_error(result, "TF_CONFIG")
        os.environ["TF_CONFIG"] = "{not json"
        result = run_script("train", "--strategy", "multi_worker", "--epochs", "1",
                            "--output_dir", str(tmp_path / "run"))
        assert_one_line_error(result, "TF_CONFIG must be JSON")
    finally:
        os.environ.pop("TF_CONFIG", None)
        if env_backup is not None:
            os.environ["TF_CONFIG"] = env_backup
    assert not (tmp_path / "run").exists()


def _train_command(output_dir, *extra):
    return [sys.executable, _TRAIN, "--model", "squeezenet_1_1", "--epochs", "4",
            "--max_train_examples", "3000", "--batch_size", "128", "--output_dir",
            str(output_dir), "--verbose", "2", *extra]


def test_kill_9_during_training_resumes_from_the_last_finished_epoch(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen(_train_command(run), cwd=REPO, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    # An epoch's checkpoint file is written after its backup, so epoch 2 is safe once it exists.
    deadline = time.time() + 300
    while not (run / "checkpoints" / "epoch_002.keras").exists():
        assert process.poll() is None, "training ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not RunRecord.load(run) and not (run / "model.keras").exists()
    losses_before = json.loads((run / "history.json").read_text())["loss"][:2]

    changed = subprocess.run(_train_command(run, "--learning_rate", "0.01"), cwd=REPO,
                             capture_output=True, text=True, timeout=300)
    assert_one_line_error(changed, "interrupted run", "learning_rate")

    resumed = subprocess.run(_train_command(run), cwd=REPO, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Epoch 3/4" in resumed.stdout and "Epoch 1/4" not in resumed.stdout
    record = RunRecord.load(run)
    assert record["epochs"] == 4 and record["resumed_from_epoch"] == 2
    history = json.loads((run / "history.json").read_text())
    assert len(history["loss"]) == len(history["val_accuracy"]) == 4
    assert history["loss"][:2] == losses_before
    assert not (run / "backup").exists()


def test_kill_9_during_export_leaves_no_tflite_and_a_rerun_completes(trained_run, tmp_path):
    output = tmp_path / "export" / "model_int8.tflite"
    command = [sys.executable, os.path.join(REPO, "scripts", "export.py"), "--model",
               str(trained_run / "model.keras"), "--mode", "int8", "--output", str(output),
               "--evaluate"]  # evaluating on the whole test split keeps it busy past 6 s
    for delay in (2.0, 6.0):  # importing TensorFlow, then converting or evaluating
        process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
        time.sleep(delay)
        assert process.poll() is None, "the export finished before it could be killed"
        process.send_signal(signal.SIGKILL)
        process.wait()
        left = os.listdir(output.parent) if output.parent.exists() else []
        assert not [name for name in left if name.endswith(".tflite")], left
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    # the float model's int8 chose its PTQ steps (auto, the default): its plots are beside it
    files = sorted(os.listdir(output.parent))
    plots = [name for name in files if name.endswith(".png")]
    assert [name for name in files if name not in plots] == [
        "labels.txt", "model_int8.json", "model_int8.tflite"]
    assert "model_int8_ptq_auto.png" in plots and set(plots) <= {
        "model_int8_ptq_auto.png", "model_int8_ptq.png"}
