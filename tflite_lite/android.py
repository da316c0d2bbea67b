"""The Android demo's side of an export: bundling it into the app, and golden vectors that the
app's Kotlin core is tested against.

    bundle_for_android("runs/m/model_int8.tflite", "android_demo", name="fashion_mnv2")
    write_golden_vectors("models/m/model_int8.tflite", "android_demo/core/golden/m.json")

`bundle_for_android` writes `android_demo/app/src/main/assets/models/<name>/` with the
`.tflite`, its contract and labels; the app lists that folder in its model picker.

Golden vectors: for a few raw test images (0-255 pixels at the dataset's own size) the file
holds the exact integer input tensor that the contract's preprocessing and quantization give,
the raw output of LiteRT's interpreter for it, its dequantized scores and the top-k classes.
The demo's Kotlin core is tested against it bit for bit.
"""

import json
import os
import shutil

import numpy as np

from tflite_lite import _io
from tflite_lite.convert.api import CONTRACT_FORMAT, LABELS_FILE
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.convert.export import rebase_contract
from tflite_lite.convert.flatbuffer import read_bytes
from tflite_lite.convert.probe import check_loads
from tflite_lite.data import Preprocessing, load_raw_test_images
from tflite_lite.errors import UserError

ASSETS = os.path.join("app", "src", "main", "assets", "models")


def bundle_for_android(model_path, app_dir, name=None):
    """Copies an exported model with its contract and labels into the app's assets.

    Args:
      model_path: an exported `.tflite`; `<stem>.json` and `labels.txt` must sit beside it.
      app_dir: the Android project (`android_demo`).
      name: the folder (and picker) name. Defaults to the model's parent folder name and stem.

    Returns:
      The folder written.
    """
    read_bytes(model_path)  # a real flatbuffer, or one error line
    stem = os.path.splitext(os.path.basename(model_path))[0]
    folder = os.path.dirname(os.path.abspath(model_path))
    contract_path = os.path.join(folder, f"{stem}.json")
    labels_path = os.path.join(folder, LABELS_FILE)
    for path in (contract_path, labels_path):
        if not os.path.isfile(path):
            raise UserError(f"{path}: missing; bundle a model written by scripts/export.py")
    with open(contract_path) as f:
        contract = json.load(f)
    if contract.get("format") != CONTRACT_FORMAT:
        raise UserError(f"{contract_path}: not a {CONTRACT_FORMAT} contract")
    if not os.path.isfile(os.path.join(app_dir, "app", "build.gradle.kts")):
        raise UserError(f"{app_dir}: not the Android demo project (no app/build.gradle.kts)")
    name = name or f"{os.path.basename(folder)}_{stem}"
    target = os.path.join(app_dir, ASSETS, name)
    os.makedirs(target, exist_ok=True)
    for source in (model_path, labels_path):
        with _io.atomic_path(os.path.join(target, os.path.basename(source))) as tmp:
            shutil.copyfile(source, tmp)
    _io.write_json(os.path.join(target, os.path.basename(contract_path)),
                   rebase_contract(contract, folder, target))
    return target


GOLDEN_FORMAT = "tflite_lite.golden/1"


def write_golden_vectors(model_path, output, count=4, top_k=3, dataset=None):
    """Writes golden vectors for the `.tflite` at `model_path` (its contract JSON beside it).

    Args:
      model_path: an exported integer `.tflite`; `<stem>.json` must sit beside it.
      output: the JSON file to write (atomically).
      count: how many test images (the first of each class, in class order). Defaults to 4.
      top_k: classes in the expected top-k. Defaults to 3.
      dataset: dataset name. Defaults to the one the contract was evaluated on.

    Returns:
      The written record.
    """
    contract_path = os.path.splitext(model_path)[0] + ".json"
    if not os.path.isfile(contract_path):
        raise UserError(f"{contract_path}: no contract beside the model (export it first)")
    with open(contract_path) as f:
        contract = json.load(f)
    if contract["input"]["dtype"] not in ("int8", "uint8", "int16"):
        raise UserError(f"golden vectors need an integer model, {model_path} takes "
                        f"{contract['input']['dtype']}")
    dataset = dataset or (contract.get("evaluation") or {}).get("dataset") or "fashion_mnist"
    images, labels = load_raw_test_images(dataset, count)
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    data = read_bytes(model_path)
    check_loads(model_path)  # LiteRT in a child first: a corrupt file must not crash this process
    classifier = TFLiteClassifier(data, num_threads=1)
    cases = []
    for image, label in zip(images, labels):
        normalized = preprocessing(image[np.newaxis].astype(np.float32)).numpy()[0]
        tensor = classifier.to_input_tensor(normalized)[0]
        raw = classifier.raw_output(normalized)
        scores = classifier.scores(normalized)
        order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_k]
        cases.append({
            "label": int(label), "height": int(image.shape[0]), "width": int(image.shape[1]),
            "channels": int(image.shape[2]), "pixels": image.reshape(-1).astype(int).tolist(),
            "input_tensor": tensor.reshape(-1).astype(int).tolist(),
            "raw_output": raw.reshape(-1).astype(int).tolist(),
            "scores": [float(s) for s in scores],
            "top_k": [{"index": int(i), "label": contract["class_names"][i],
                       "score": float(scores[i])} for i in order],
        })
    record = {"format": GOLDEN_FORMAT, "model": os.path.basename(model_path),
              "contract": {k: contract[k] for k in ("format", "mode", "input", "output",
                                                    "preprocessing", "class_names")},
              "top_k": top_k, "cases": cases}
    _io.write_json(output, record)
    return record
