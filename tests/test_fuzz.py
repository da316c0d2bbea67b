"""The `.tflite` loading path under mutated inputs (a short run of the fuzz benchmark)."""

import json
import os

import numpy as np

from conftest import REPO, run_main
from tflite_lite.convert import flatbuffer
from tools.fuzzing import MUTATIONS, OUTCOMES, fuzz_loading, mutate, structure_offsets

SMALL_MODEL = os.path.join(REPO, "models", "shufflenet_v2_x0_5_fashion", "model_int8.tflite")


def test_mutations_are_reproducible_and_change_the_file():
    data = open(SMALL_MODEL, "rb").read()
    structure = structure_offsets(data)
    assert 0 < len(structure) < len(data)
    first = mutate(data, np.random.default_rng(7), structure)
    again = mutate(data, np.random.default_rng(7), structure)
    assert first == again
    rng = np.random.default_rng(0)
    kinds = set()
    for _ in range(60):
        mutant, detail = mutate(data, rng, structure)
        kinds.add(detail["kind"])
        assert mutant != data or detail["kind"] == "zero_run"
    assert kinds == set(MUTATIONS)


def test_short_fuzz_run_never_crashes_or_hangs_the_caller(tmp_path):
    report = fuzz_loading(SMALL_MODEL, count=40, seed=1, workers=2,
                          output_json=str(tmp_path / "fuzz.json"))
    assert sum(report["outcomes"].values()) == 40
    assert report["outcomes"]["caller_crash"] == 0, report["failures"]
    assert report["outcomes"]["caller_hang"] == 0, report["failures"]
    assert report["outcomes"]["loaded"] > 0  # harmless mutations still load
    assert report["outcomes"]["refused_by_parser"] > 0  # truncations and insertions do not
    assert set(report["outcomes"]) == set(OUTCOMES)
    assert json.loads((tmp_path / "fuzz.json").read_text())["count"] == 40


def test_fuzz_script_prints_the_table_and_refuses_a_broken_seed_model(tmp_path):
    result = run_main("tools/fuzz_tflite", "--model", SMALL_MODEL, "--count", "6", "--json",
                        str(tmp_path / "f.json"), "--failures_dir", str(tmp_path / "fail"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "caller_crash" in result.stdout and "6 mutants" in result.stdout
    broken = tmp_path / "broken.tflite"
    broken.write_bytes(flatbuffer.read_bytes(SMALL_MODEL)[:1000])
    result = run_main("tools/fuzz_tflite", "--model", str(broken), "--count", "6", "--json",
                        str(tmp_path / "g.json"))
    assert result.returncode == 2 and "truncated" in result.stderr
    assert not (tmp_path / "g.json").exists()
