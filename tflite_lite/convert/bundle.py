"""Copying an export into the Android demo's assets: `.tflite`, contract and labels together.

    bundle_for_android("runs/m/model_int8.tflite", "android_demo", name="fashion_mnv2")

writes `android_demo/app/src/main/assets/models/<name>/` with the three files; the app lists
that folder in its model picker.
"""

import json
import os
import shutil

from tflite_lite import _io
from tflite_lite.convert.api import CONTRACT_FORMAT, LABELS_FILE
from tflite_lite.convert.export import rebase_contract
from tflite_lite.convert.flatbuffer import read_bytes
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
