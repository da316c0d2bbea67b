"""The budget search: budget parsing, the exact filter, errors, and (slow) a whole tiny search."""

import json
import os

import pytest

from conftest import REPO, assert_one_line_error, run_main
from tflite_lite.errors import UserError
from tflite_lite.pipeline import search

pytest.importorskip("tflite_micro", reason="the micro extra (Linux x86_64)")

RECIPE = os.path.join(REPO, "models", "micro_fashion", "recipe.json")


def test_budget_parses_and_rejects_bad_keys_and_values():
    assert search.parse_budget("arena_kb=64, flash_kb=256") == {"arena_kb": 64.0,
                                                                 "flash_kb": 256.0}
    for text, fragment in [("ram_kb=64", "unknown budget key 'ram_kb'"),
                           ("arena_kb=0", "arena_kb must be a positive number"),
                           ("flash_kb=-3", "flash_kb must be a positive number"),
                           ("macs=many", "macs must be a positive number"),
                           ("arena_kb", "key=value pairs"), ("", "empty budget")]:
        with pytest.raises(UserError, match=fragment):
            search.parse_budget(text)


def test_config_round_trips_and_validates():
    config = search.SearchConfig(recipe=RECIPE, budget="arena_kb=64", families=("squeezenet",))
    assert search.SearchConfig.from_config(config.get_config()) == config
    for kwargs, fragment in [({"families": ("resnet",)}, "unknown family resnet"),
                             ({"input_sizes": (16,)}, "input sizes must be integers >= 28"),
                             ({"channel_fractions": (1.0,)}, "channel fractions"),
                             ({"latency_target": "gpu"}, "latency_target")]:
        with pytest.raises(UserError, match=fragment):
            search.SearchConfig(recipe=RECIPE, budget="arena_kb=64", **kwargs)


def test_costs_are_exact_and_the_filter_stops_early():
    budget = search.parse_budget("arena_kb=64,flash_kb=256")
    thin = search.measure_costs("mobilenet_v1_025", 28, 0.5, budget)
    assert thin["over"] == [] and thin["arena_bytes"] <= 64 * 1024
    assert thin["flash_bytes"] <= 256 * 1024 and thin["params"] < thin["flash_bytes"]
    wide = search.measure_costs("mobilenet_v1_100", 28, 0.0, budget)
    assert wide["over"] == ["flash_kb"] and "arena_bytes" not in wide  # stopped at the profile


@pytest.mark.parametrize("args, fragment", [
    (["--budget", "ram_kb=1"], "unknown budget key 'ram_kb'"),
    (["--budget", "arena_kb=-1"], "arena_kb must be a positive number"),
    (["--budget", "params=1000", "--families", "mobilenet_v1", "--input_sizes", "28",
      "--channel_fractions", "0"], "no candidate meets the budget params=1000: smallest params "
     "found 212,762 (mobilenet_v1_025@28px/c00)"),
    (["--budget", "arena_kb=64", "--input_sizes", "32,x"], "--input_sizes must be ints"),
])
def test_search_script_bad_input(tmp_path, args, fragment):
    result = run_main("search", "--recipe", RECIPE, "--output_dir", str(tmp_path / "s"), *args)
    assert_one_line_error(result, fragment)
    assert not os.path.exists(tmp_path / "s" / "final")


@pytest.mark.slow
def test_tiny_search_trains_the_winner_and_resumes(tmp_path):
    args = ["--recipe", RECIPE, "--preset", "short", "--budget", "arena_kb=64,flash_kb=256",
            "--families", "mobilenet_v1", "--input_sizes", "28",
            "--channel_fractions", "0,0.25,0.5", "--proxy_examples", "500", "--full_train_top", "1",
            "--nobaseline", "--output_dir", str(tmp_path)]
    result = run_main("search", *args)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "search.json").read_text())
    # Both survivors train fully; the better by validation accuracy wins, whatever the proxy said.
    contenders = record["winner"]["contenders"]
    assert sorted(contenders) == ["mobilenet_v1_025@28px/c25", "mobilenet_v1_025@28px/c50"]
    full = {cid: record["candidates"][cid]["full_accuracy"] for cid in contenders}
    assert record["winner"]["candidate"] == max(contenders, key=full.get)
    assert record["proxy_rank_correlation"] is None  # two points rank nothing
    # The pipeline adopted the winner's full training instead of training it again.
    assert "pipeline: student: finished before, skipped" in result.stdout
    assert (tmp_path / "final" / "student" / "stage.json").is_file()
    final = record["winner"]["final_int8"]
    assert final["over"] == [] and final["arena_bytes"] <= 64 * 1024
    assert (tmp_path / "final" / "export" / "qat_int8_model_data.cc").is_file()
    assert "baseline" not in record  # the baseline runs the same pipeline again
    assert (tmp_path / "search.png").stat().st_size > 0
    # A rerun resumes: nothing trains again, the same record comes back.
    again = run_main("search", *args)
    assert again.returncode == 0 and "running" not in again.stdout
    assert json.loads((tmp_path / "search.json").read_text())["winner"] == record["winner"]


@pytest.mark.slow
@pytest.mark.parametrize("target", ["micro", "host"])
def test_latency_budget_is_measured_on_its_target(target):
    costs = search.measure_costs("mobilenet_v1_025", 28, 0.5, {"latency_ms": 1000.0},
                                 latency_target=target)
    assert costs["over"] == [] and 0 < costs["latency_ms"] < 1000
    assert search.measure_costs("mobilenet_v1_025", 28, 0.5, {"latency_ms": 1e-6},
                                latency_target=target)["over"] == ["latency_ms"]
