"""Shared test set-up: quiet TensorFlow, Keras 2 everywhere, helpers to run the scripts."""

import os
import subprocess
import sys

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tflite_lite  # noqa: E402,F401  (selects Keras 2 before any test imports TensorFlow)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, *args, timeout=600):
    """Runs `python scripts/<name>.py ARGS` and returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(REPO, "scripts", f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def assert_one_line_error(result, *fragments):
    """A bad-input run: non-zero exit, no traceback, and an `error:` line naming the problem."""
    assert result.returncode != 0, result.stdout
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    errors = lines
    for fragment in fragments:
        assert fragment in errors[0], errors[0]


@pytest.fixture(scope="session")
def fashion_mnist():
    from tflite_lite.data import load_dataset

    return load_dataset("fashion_mnist", input_shape=(32, 32, 1), batch_size=64)


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A briefly trained MobileNet V2 0.35 run folder (model.keras + run.json), 32x32x1."""
    from tflite_lite.training import TrainConfig, train

    folder = tmp_path_factory.mktemp("trained_run")
    train(TrainConfig(model="mobilenet_v2_035", epochs=2, batch_size=64,
                      max_train_examples=8000, keep_checkpoints=1, output_dir=str(folder),
                      verbose=0))
    return folder


@pytest.fixture(scope="session")
def exported_int8(trained_run):
    """The trained run exported to int8 (with a 500-image evaluation): (tflite path, contract)."""
    from tflite_lite.convert import ExportConfig, export_model

    output = trained_run / "model_int8.tflite"
    contract = export_model(ExportConfig(model_path=str(trained_run / "model.keras"),
                                         output=str(output), mode="int8", evaluate=True,
                                         representative_examples=64, max_eval_examples=500))
    return output, contract
