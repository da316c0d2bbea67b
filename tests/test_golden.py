"""Golden vectors for the Android demo: written from the real interpreter, and checked."""

import json

import numpy as np

from conftest import assert_one_line_error, run_main
from tflite_lite.convert.evaluate import TFLiteClassifier, dequantize
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
        assert raw.tolist() == case["raw_output"]
        scores = dequantize(raw, contract["output"]["scale"], contract["output"]["zero_point"])
        assert [t["index"] for t in case["top_k"]] == list(np.argsort(-scores, kind="stable")[:2])


def test_golden_vectors_need_a_contract(tmp_path):
    model = tmp_path / "m.tflite"
    model.write_bytes(b"\0\0\0\0TFL3")
    result = run_main("make_golden_vectors", "--model", str(model), "--output",
                        str(tmp_path / "g.json"))
    assert_one_line_error(result, "no contract beside the model")
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
