"""Artifacts are written atomically: complete files or none."""

import os
import stat

import pytest

from tflite_lite import _io


def test_failed_write_leaves_nothing(tmp_path):
    target = tmp_path / "model.tflite"
    with pytest.raises(RuntimeError):
        with _io.atomic_path(str(target)) as tmp:
            open(tmp, "wb").write(b"half a model")
            raise RuntimeError("killed mid-write")
    assert os.listdir(tmp_path) == []


def test_successful_write_replaces_the_target_with_normal_permissions(tmp_path):
    target = tmp_path / "record.json"
    target.write_text("old")
    _io.write_json(str(target), {"test_accuracy": 0.9})
    assert target.read_text().strip().startswith("{")
    assert os.listdir(tmp_path) == ["record.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o666 & ~umask


def test_keras_model_is_saved_atomically_and_loads(tmp_path):
    from tflite_lite._keras import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="fc")])
    path = tmp_path / "model.keras"
    _io.save_keras_model(model, str(path))
    _io.save_keras_model(model, str(path))  # overwriting works too
    assert os.listdir(tmp_path) == ["model.keras"]
    assert keras.models.load_model(str(path), safe_mode=True).get_layer("fc").units == 2


def test_a_killed_writer_leaves_no_target_and_the_next_write_removes_its_temporary(tmp_path):
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "model.tflite"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from tflite_lite import _io\n"
        "with _io.atomic_path(sys.argv[1]) as tmp:\n"
        "    open(tmp, 'wb').write(b'TFL3 half')\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(60)\n"), str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout.readline().strip() == "writing"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    left = os.listdir(tmp_path)
    assert "model.tflite" not in left and len(left) == 1 and left[0].startswith(".model.tflite.")
    time.sleep(0.1)
    with _io.atomic_path(str(target)) as tmp:
        open(tmp, "wb").write(b"TFL3 whole")
    assert os.listdir(tmp_path) == ["model.tflite"]
