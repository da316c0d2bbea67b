"""Golden vectors for the Android demo: written from the real interpreter, and checked."""

import json
import os
import shutil
import subprocess

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, import_program, run_main
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.android import write_golden_vectors
from tflite_lite.data import Preprocessing


def test_golden_vectors_match_the_interpreter(exported_int8, tmp_path):
    path, contract = exported_int8
    record = write_golden_vectors(str(path), str(tmp_path / "golden.json"), count=3, top_k=2)
    assert json.loads((tmp_path / "golden.json").read_text()) == record
    classifier = TFLiteClassifier(path.read_bytes())
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    assert [case["label"] for case in record["cases"]] == [9, 2, 1]  # first of each class
    for case in record["cases"]:
        pixels = np.array(case["pixels"], np.uint8).reshape(case["height"], case["width"],
                                                            case["channels"])
        assert (case["height"], case["width"]) == (28, 28)  # raw size: the app resizes
        normalized = preprocessing(pixels[None].astype(np.float32)).numpy()[0]
        tensor = classifier.to_input_tensor(normalized)[0]
        assert tensor.reshape(-1).tolist() == case["input_tensor"]
        raw = classifier.raw_output(normalized)
        assert raw.tolist() == case["raw_output"] and raw.dtype == np.float32  # float logits
        scores = classifier.scores(normalized)
        assert case["scores"] == [float(s) for s in scores]
        assert [t["index"] for t in case["top_k"]] == list(np.argsort(-scores, kind="stable")[:2])


def test_golden_camera_frames_go_through_the_camera_path(exported_int8, tmp_path):
    import base64
    import hashlib

    from tflite_lite.android import frame_input

    path, contract = exported_int8
    record = write_golden_vectors(str(path), str(tmp_path / "golden.json"), count=4)
    assert record["model_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    classifier = TFLiteClassifier(path.read_bytes())
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    frames = record["camera_frames"]
    assert sorted(f["rotation"] for f in frames) == [0, 90, 180, 270]
    assert {(f["width"] > f["height"]) for f in frames} == {True, False}  # both orientations
    for frame in frames:
        rgb = np.frombuffer(base64.b64decode(frame["rgb_base64"]), np.uint8).reshape(
            frame["height"], frame["width"], 3)
        tensor = classifier.to_input_tensor(frame_input(rgb, frame["rotation"], preprocessing))
        assert tensor.reshape(-1).tolist() == frame["input_tensor"]
        assert classifier.raw_output(frame_input(rgb, frame["rotation"], preprocessing)).tolist() \
            == frame["raw_output"]


def test_frame_input_turns_crops_and_averages_areas():
    from tflite_lite.android import frame_input

    rng = np.random.default_rng(0)
    upright = rng.integers(0, 256, (64, 96, 3), dtype=np.uint8)  # landscape 3:2
    rgb = Preprocessing((32, 32, 3), mean=(0,), std=(1,))
    # Centre crop 64x64 (columns 16..80), then exact 2x2 means: an independent computation.
    blocks = upright[:, 16:80].astype(np.float64).reshape(32, 2, 32, 2, 3).mean(axis=(1, 3))
    np.testing.assert_array_equal(frame_input(upright, 0, rgb), blocks.astype(np.float32))
    for rotation in (90, 180, 270):  # a sensor frame turned by -rotation comes back upright
        sensor = np.rot90(upright, k=rotation // 90)
        np.testing.assert_array_equal(frame_input(sensor, rotation, rgb),
                                      frame_input(upright, 0, rgb))
    gray = Preprocessing((32, 32, 1))
    flat = np.full((480, 640, 3), 200, np.uint8)
    assert np.all(frame_input(flat, 90, gray) == frame_input(flat[:32, :32], 0, gray))


def test_repository_golden_file_is_for_the_bundled_model():
    import glob
    import hashlib

    from conftest import REPO

    bundled = {hashlib.sha256(open(p, "rb").read()).hexdigest() for p in glob.glob(
        f"{REPO}/android_demo/app/src/main/assets/models/*/*.tflite")}
    goldens = glob.glob(f"{REPO}/android_demo/core/golden/*.json")
    assert goldens
    for path in goldens:
        record = json.loads(open(path).read())
        assert record["model_sha256"] in bundled, path
        assert record["camera_frames"], path


def test_golden_vectors_need_a_contract(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3")
    result = run_main("make_golden_vectors", "--model", str(model), "--output",
                        str(tmp_path / "g.json"))
    assert_one_line_error(result, "no contract (m.json) beside it")
    assert not (tmp_path / "g.json").exists()


def test_bundle_copies_model_contract_and_labels(exported_int8, tmp_path):
    from tflite_lite.android import bundle_for_android

    app = tmp_path / "app_project"
    (app / "app").mkdir(parents=True)
    (app / "app" / "build.gradle.kts").write_text("// stub project marker\n")
    path, contract = exported_int8
    target = bundle_for_android(str(path), str(app), name="demo")
    files = sorted(p.name for p in (app / "app/src/main/assets/models/demo").iterdir())
    assert files == ["labels.txt", "model_int8.json", "model_int8.tflite"]
    assert target.endswith("models/demo")
    assert (app / "app/src/main/assets/models/demo/model_int8.tflite").read_bytes() == \
        path.read_bytes()


def test_bundle_rejects_a_model_without_contract(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3" + bytes(32))
    result = run_main("bundle_android_model", "--model", str(model), "--app",
                        str(tmp_path / "nowhere"))
    assert_one_line_error(result, "m.json: missing")


APP_CONTRACT = ("android_demo/app/src/main/assets/models/mobilenet_v1_050_fashion_camera/"
                "model_int8.json")


@pytest.mark.slow  # needs kotlinc, which CI installs after the fast step
def test_preprocess_command_runs_the_apps_camera_path(tmp_path):
    """`android_demo/core/preprocess.sh` (the Kotlin core on PNG / JPEG frames) gives the very
    input tensor that the Python twin gives, for every rotation and both orientations."""
    import subprocess

    from PIL import Image

    from conftest import REPO
    from tflite_lite.android import camera_frame, frame_input
    from tflite_lite.convert.evaluate import quantize
    from tflite_lite.data import load_raw_test_images

    contract = json.loads(open(f"{REPO}/{APP_CONTRACT}").read())
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    scale, zero_point = contract["input"]["scale"], contract["input"]["zero_point"]
    images, _ = load_raw_test_images("fashion_mnist", 2)
    script = f"{REPO}/android_demo/core/preprocess.sh"
    for rotation in (0, 90, 180, 270):
        paths, expected = [], []
        for n, (image, size) in enumerate(zip(images, ((640, 480), (480, 640)))):
            frame = camera_frame(image, size, rotation, seed=n)
            paths.append(str(tmp_path / f"r{rotation}_{n}.png"))
            Image.fromarray(frame).save(paths[-1])
            expected.append(quantize(frame_input(frame, rotation, preprocessing), scale,
                                     zero_point, np.int8))
        out = tmp_path / f"r{rotation}.npy"
        result = subprocess.run(["bash", script, "--contract", f"{REPO}/{APP_CONTRACT}",
                                 "--rotation", str(rotation), "--output", str(out), *paths],
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        tensors = np.load(out)
        assert tensors.dtype == np.int8 and tensors.shape == (2, 32, 32, 1)
        np.testing.assert_array_equal(tensors, np.stack(expected))
    jpeg = tmp_path / "frame.jpg"
    Image.fromarray(camera_frame(images[0], (640, 480), 0)).save(jpeg, quality=90)
    result = subprocess.run(["bash", script, "--contract", f"{REPO}/{APP_CONTRACT}", "--output",
                             str(tmp_path / "j.npy"), str(jpeg)], capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0 and np.load(tmp_path / "j.npy").shape == (1, 32, 32, 1)
    (tmp_path / "broken.png").write_bytes(b"\x89PNG not really")
    for args, fragment in (([str(tmp_path / "none.png")], "none.png: no such frame"),
                           ([str(tmp_path / "broken.png")], "not a PNG or JPEG image"),
                           (["--rotation", "45", str(jpeg)], "multiple of 90")):
        bad = subprocess.run(["bash", script, "--contract", f"{REPO}/{APP_CONTRACT}", "--output",
                              str(tmp_path / "bad.npy"), *args], capture_output=True, text=True,
                             timeout=300)
        lines = [line for line in bad.stderr.splitlines() if line.startswith("error:")]
        assert bad.returncode == 2 and len(lines) == 1 and fragment in lines[0], bad.stderr
        assert not (tmp_path / "bad.npy").exists()
    bad = subprocess.run(["bash", script, "--contract", str(tmp_path / "none.json"), "--output",
                          str(tmp_path / "bad.npy"), str(jpeg)], capture_output=True, text=True,
                         timeout=300)
    assert bad.returncode == 2 and "no such contract file" in bad.stderr


@pytest.mark.slow  # a benchmark study (6 s)
def test_camera_benchmark_study_runs_on_a_few_frames():
    from conftest import REPO
    camera = import_program("benchmarks.camera")
    NOTHING, VARIANTS = camera.NOTHING, camera.VARIANTS
    benchmark_camera_path = camera.benchmark_camera_path

    model = f"{REPO}/{APP_CONTRACT[:-len('.json')]}.tflite"
    rows, record = benchmark_camera_path(model, count=8, nothing_count=2, core=False,
                                         log=lambda line: None)
    assert len(rows) == len(VARIANTS) + len(NOTHING)
    assert all(row["frames"] == 8 for row in rows[:len(VARIANTS)])
    assert all(0 <= row["accuracy"] <= 1 for row in rows[:len(VARIANTS)])
    assert all(row["accuracy"] is None for row in rows[len(VARIANTS):])
    assert 0 <= record["dark_on_light_accuracy"] <= 1 and record["path"].startswith("python")
    assert 0 <= record["nothing_rejected"] <= 1 and 0 <= record["garments_rejected"] <= 1


def test_camera_benchmark_answers_as_the_app_does():
    decide = import_program("benchmarks.camera").decide

    scores = np.array([[0.1, 0.2, 0.7], [0.5, 0.3, 0.2], [0.34, 0.33, 0.33]])
    assert decide(scores, {"nothing_class": 2, "min_score": 0.4}).tolist() == [-1, 0, -1]
    assert decide(scores, {"nothing_class": None, "min_score": 0.4}).tolist() == [2, 0, -1]
    assert decide(scores, None).tolist() == [2, 0, 0]


def test_toolchain_check_passes_here_and_fails_on_an_old_kotlin(tmp_path):
    """`android_demo/check_toolchain.sh` (CI) holds the Gradle files to the README's statement
    of what LiteRT needs: it passes on the repository and names each problem on a copy with
    Kotlin 2.0.21, targetSdk 35 and `kotlinOptions`."""
    script = "check_toolchain.sh"
    demo = os.path.join(REPO, "android_demo")
    ok = subprocess.run(["bash", os.path.join(demo, script)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    copy = tmp_path / "demo"
    shutil.copytree(demo, copy, ignore=shutil.ignore_patterns("assets", "golden", "src"))
    catalog = copy / "gradle" / "libs.versions.toml"
    catalog.write_text(catalog.read_text().replace('kotlin = "2.3.0"', 'kotlin = "2.0.21"'))
    app = copy / "app" / "build.gradle.kts"
    app.write_text(app.read_text().replace("targetSdk = 36", "targetSdk = 35")
                   + 'android { kotlinOptions { jvmTarget = "17" } }\n')
    bad = subprocess.run(["bash", str(copy / script)], capture_output=True, text=True)
    assert bad.returncode == 1
    assert "Kotlin 2.0.21 in gradle/libs.versions.toml is older than the 2.3.0" in bad.stderr
    assert "targetSdk 35" in bad.stderr and "kotlinOptions" in bad.stderr
