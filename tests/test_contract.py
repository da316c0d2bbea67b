"""The contract's one owner, `tflite_lite.contract.Contract`: where it lives, its format check,
atomic saves and paths that follow a copy; and that nothing else derives its path."""

import json
import os
import subprocess

import pytest

from conftest import REPO
from tflite_lite.contract import FORMAT, Contract
from tflite_lite.errors import UserError

ZOO_CONTRACT = os.path.join(REPO, "models", "squeezenet_1_1_fashion", "model_int8.json")


def test_a_released_contract_loads_beside_its_model():
    contract = Contract.beside(ZOO_CONTRACT.replace(".json", ".tflite"))
    assert contract["format"] == FORMAT and contract.mode == "int8"
    assert contract.dataset == contract["evaluation"]["dataset"]
    assert contract["source_model"].startswith("../../runs/")


@pytest.mark.parametrize("text, message", [
    (None, "no contract (m.json) beside it"),
    ("{not json", "unreadable contract"),
    ('{"format": "other/1"}', f"not a {FORMAT} contract"),
    ("[1, 2]", f"not a {FORMAT} contract"),
])
def test_a_bad_contract_is_one_line(tmp_path, text, message):
    if text is not None:
        (tmp_path / "m.json").write_text(text)
    with pytest.raises(UserError) as error:
        Contract.beside(tmp_path / "m.tflite")
    assert message in str(error.value) and "\n" not in str(error.value)


def test_a_missing_contract_is_none_when_optional(tmp_path):
    assert Contract.beside(tmp_path / "m.tflite", required=False) is None


def test_save_is_atomic_and_round_trips(tmp_path):
    contract = Contract(format=FORMAT, mode="int8", evaluation=None)
    path = contract.save_beside(tmp_path / "m.tflite")
    assert path == str(tmp_path / "m.json")
    assert Contract.load(path) == contract
    assert os.listdir(tmp_path) == ["m.json"]  # no temporary left behind


def test_all_in_a_folder_passes_over_other_json(tmp_path):
    Contract(format=FORMAT, model_file="a.tflite").save(tmp_path / "a.json")
    (tmp_path / "run.json").write_text(json.dumps({"model": "x"}))
    assert [c["model_file"] for c in Contract.all_in(tmp_path)] == ["a.tflite"]


def test_paths_are_relative_and_follow_a_copy():
    old = Contract(source_model="/x/runs/a/qat/model.keras", export_config={
        "model_path": "runs/a/qat/model.keras", "output": "o.tflite"})
    moved = old.rebase("/x", "/x/models/a")
    assert isinstance(moved, Contract)
    assert moved["source_model"] == "../../runs/a/qat/model.keras"
    assert moved["export_config"]["model_path"] == "../../runs/a/qat/model.keras"
    assert moved.rebase("/x/models/a", "/x")["export_config"] == old["export_config"]


def test_nothing_else_derives_a_contract_path():
    found = subprocess.run(["git", "grep", "-n", r'splitext(.*)\[0\] + ".json"', "--",
                            ":!tflite_lite/contract.py"], cwd=REPO, capture_output=True, text=True)
    assert found.stdout == ""
