"""The per-stage search: the searchable family, its space file, evolution, Ray trials, and (slow)
a tiny search on a local Ray with two workers against the same search in one process."""

import filecmp
import json
import os
import random
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_main
from tflite_lite.architectures import create_model, profile
from tflite_lite.errors import UserError
from tflite_lite.pipeline.search_space import Evolution, candidate_id, load_space, sample

pytest.importorskip("tflite_micro", reason="the micro extra (Linux x86_64)")

RECIPE = os.path.join(REPO, "models", "micro_fashion", "recipe.json")
SPACE = os.path.join(REPO, "models", "micro_fashion", "search_space.json")
TINY_SPACE = {"input_sizes": [28], "stem_widths": [4, 8], "stem_strides": [2],
              "stages": [{"widths": [8, 12], "depths": [1], "kernels": [3, 5],
                          "expansions": [2, 3], "stride": 2},
                         {"widths": [16, 24], "depths": [1, 2], "kernels": [3],
                          "expansions": [2, 3], "stride": 2}]}


def _write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return str(path)


def test_a_candidate_is_json_that_rebuilds_its_model_exactly():
    space = load_space(SPACE)
    candidate = json.loads(json.dumps(sample(space, random.Random(0))))
    shape = (candidate["input_size"],) * 2 + (1,)

    def build(keras=2):
        return create_model("searchable_ir", input_shape=shape, num_classes=10, keras=keras,
                            architecture=candidate["architecture"])

    first, second, third = build(), build(), build(keras=3)
    names = [layer.name for layer in first.layers]
    assert names == [layer.name for layer in second.layers] == [l.name for l in third.layers]
    assert [w.shape for w in first.weights] == [w.shape for w in second.weights]
    assert first.count_params() == third.count_params() == profile(first)["keras_params"]
    stages = candidate["architecture"]["stages"]
    assert sum(name.endswith("_dw") for name in names) == sum(s["depth"] for s in stages)
    kernels = [layer.kernel_size[0] for layer in first.layers if layer.name.endswith("_dw")]
    assert kernels == [s["kernel"] for s in stages for _ in range(s["depth"])]


def test_an_impossible_architecture_is_named():
    for architecture, fragment in [({"stages": [{"width": 8}]}, "stage 0 has no key 'depth'"),
                                   ({"stem_stride": 3}, "stem_stride must be 1 or 2"),
                                   ({"depth": 2}, "unknown key 'depth'")]:
        with pytest.raises(UserError, match=fragment):
            create_model("searchable_ir", input_shape=(32, 32, 1), num_classes=10,
                         architecture=architecture)
    bad_kernel = {"stages": [{"width": 8, "depth": 1, "kernel": 4, "expansion": 2,
                              "stride": 1}]}
    with pytest.raises(UserError, match="kernel must be one of 3, 5, 7, got 4"):
        create_model("searchable_ir", input_shape=(32, 32, 1), architecture=bad_kernel)


@pytest.mark.parametrize("data, fragment", [
    (dict(TINY_SPACE, depth=[1]), "unknown search-space option(s): depth"),
    (dict(TINY_SPACE, stages=[dict(TINY_SPACE["stages"][0], kernels=[3, 4])]),
     "kernel 4 is impossible"),
    (dict(TINY_SPACE, stages=[dict(TINY_SPACE["stages"][0], stride=3)]),
     "stage stride must be 1 or 2"),
    (dict(TINY_SPACE, input_sizes=[16]), "input size 16 is below the smallest, 28"),
    (dict(TINY_SPACE, channel_fractions=[1.0]), "channel_fractions must be in [0, 1)"),
    (dict(TINY_SPACE, stages=[dict(TINY_SPACE["stages"][0], widths=[])]),
     "stage widths must be a non-empty list of positive integers"),
    ({"input_sizes": [28]}, "missing 1 required positional argument: 'stages'"),
    ("{not json", "not JSON"),
])
def test_a_bad_space_file_is_one_line_naming_it(tmp_path, data, fragment):
    path = _write(tmp_path / "space.json", data)
    with pytest.raises(UserError) as error:
        load_space(path)
    assert path in str(error.value) and fragment in str(error.value), str(error.value)


def test_the_search_script_names_a_bad_space_file(tmp_path):
    path = _write(tmp_path / "space.json", dict(TINY_SPACE, kernel_sizes=[3]))
    result = run_main("search", "--recipe", RECIPE, "--budget", "arena_kb=16",
                      "--space", path, "--output_dir", str(tmp_path / "s"))
    assert_one_line_error(result, path, "unknown search-space option(s): kernel_sizes")
    assert not os.path.exists(tmp_path / "s")


def test_evolution_is_a_function_of_its_history_and_never_repeats():
    space = load_space(SPACE)
    evolution = Evolution(space, population=6, children=3, seed=1)
    first = evolution.propose([])
    assert len(first) == 6 and first == evolution.propose([])
    history = [(c, i / 10) for i, c in enumerate(first)]
    children = evolution.propose(history)
    assert len(children) == 3 and children == Evolution(space, 6, 3, seed=1).propose(history)
    ids = [candidate_id(c) for c in first + children]
    assert len(set(ids)) == len(ids)
    # A child differs from some scored parent in exactly one choice.
    for child in children:
        assert any(_distance(child, parent) == 1 for parent, _ in history)
    refused = evolution.propose([], accept=lambda c: c["architecture"]["stem_stride"] == 2)
    assert len(refused) == 6 and all(c["architecture"]["stem_stride"] == 2 for c in refused)


def _distance(first, second):
    def flat(candidate):
        arch = candidate["architecture"]
        values = [candidate["input_size"], candidate["channel_fraction"], arch["stem_width"],
                  arch["stem_stride"], arch["head_width"]]
        return values + [s[k] for s in arch["stages"] for k in ("width", "depth", "kernel",
                                                                 "expansion")]
    return sum(a != b for a, b in zip(flat(first), flat(second)))


def test_a_budget_below_the_smallest_candidate_names_its_costs(tmp_path):
    path = _write(tmp_path / "space.json", TINY_SPACE)
    result = run_main("search", "--recipe", RECIPE, "--budget", "arena_kb=2,flash_kb=4",
                      "--space", path, "--output_dir", str(tmp_path / "s"))
    assert_one_line_error(result, "below the smallest candidate",
                          "ir28c00-s4x2-8d1k3e2_16d1k3e2-h0", "arena_kb", "flash_kb")


def test_a_ray_address_that_answers_nothing_is_named_fast(tmp_path):
    path = _write(tmp_path / "space.json", TINY_SPACE)
    started = time.monotonic()
    result = run_main("search", "--recipe", RECIPE, "--budget", "arena_kb=16",
                      "--space", path, "--address", "127.0.0.1:1",
                      "--output_dir", str(tmp_path / "s"))
    assert_one_line_error(result, "nothing answers at Ray address 127.0.0.1:1")
    assert time.monotonic() - started < 30
    assert not os.path.exists(tmp_path / "s")


def test_architecture_belongs_to_the_searchable_family():
    from tflite_lite.training import TrainConfig
    with pytest.raises(UserError, match="architecture applies to the searchable family"):
        TrainConfig(model="mobilenet_v1_025", architecture={"stem_width": 8})


def test_a_failed_trial_does_not_stop_the_others():
    from tflite_lite.pipeline.trials import open_trials
    results = {}
    with open_trials(workers=1) as trials:
        trials.run(_half, [(2,), (0,), (4,)], results.__setitem__)
    assert results == {0: {"half": 1.0}, 1: {"error": "ZeroDivisionError: division by zero"},
                       2: {"half": 0.5}}


def _half(value):
    return {"half": 2 / value}


def test_a_failed_full_training_is_named_after_the_others_are_kept(tmp_path):
    from tflite_lite.pipeline.search import SearchConfig, _run_trials
    config, kept = SearchConfig(recipe=RECIPE, budget="macs=1"), []
    jobs = [(f"full training of {value}", (value,), kept.append) for value in (2, 0, 4)]
    with pytest.raises(UserError, match=r"^full training of 0 failed: ZeroDivisionError: "
                       r"division by zero \(rerun the search to resume\)$"):
        _run_trials(config, str(tmp_path), "full", _half, jobs)
    assert kept == [{"half": 1.0}, {"half": 0.5}]


@pytest.mark.slow
def test_tiny_search_on_ray_with_two_workers_finds_the_one_process_winner(tmp_path):
    """The whole search on a local Ray (two workers: trials and seeds in parallel) and the
    same evolution in one process propose the same trials, score them alike and rank the same
    winner; a rerun resumes without training."""
    space = _write(tmp_path / "space.json", TINY_SPACE)
    common = ["--recipe", RECIPE, "--preset", "short", "--budget", "arena_kb=16,flash_kb=64",
              "--space", space, "--trials", "4", "--population", "2", "--children", "2",
              "--proxy_examples", "300"]
    args = common + ["--seeds", "2", "--workers", "2",
                     "--output_dir", str(tmp_path / "ray"), "--release", str(tmp_path / "zoo")]
    result = run_main("search", *args)
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "ray" / "search.json").read_text())
    assert "(done 4, running 0, left 0)" in result.stdout
    assert (tmp_path / "ray" / "tune").is_dir()  # Ray Tune's own record of the trials
    winner = record["candidates"][record["winner"]["candidate"]]
    assert winner["seeds"] == 2 and set(winner["seed_runs"]) == {"0", "1"}
    assert "± std" in result.stdout
    # Each seed of the winner and of the baseline through QAT and int8, scored on TFLM: seed 0
    # is the released run, seed 1 adopted its own full training.
    baseline = record["baseline"]
    for which, entry in (("winner", winner), ("baseline", baseline)):
        runs = entry["int8_seed_runs"]
        assert set(runs) == {"0", "1"} and all(run["examples"] == 500 for run in runs.values())
        assert entry["int8_tflm_mean"] == pytest.approx(np.mean([r["tflm"] for r in runs.values()]))
        assert runs["1"]["file"].startswith(os.path.join("int8", which, "seed1", "export"))
        assert filecmp.cmp(tmp_path / "ray" / "int8" / which / "seed1" / "student" / "model.keras",
                           tmp_path / "ray" / os.path.dirname(entry["full_run"]) / "seed1" /
                           "student" / "model.keras", shallow=False)
    assert winner["int8_seed_runs"]["0"]["file"].startswith("final")
    assert winner["int8_seed_runs"]["0"]["litert"] == pytest.approx(
        record["winner"]["final_int8"]["tflite_accuracy"], abs=1e-4)
    assert record["int8_gain_over_baseline_pp"]["gain"] == pytest.approx(
        100 * (winner["int8_tflm_mean"] - baseline["int8_tflm_mean"]))
    assert "int8 TFLM test accuracy" in result.stdout
    # The winner released as a zoo entry: its recipe rebuilds it, its card and C pair beside.
    from tflite_lite.pipeline import load_recipe
    released = load_recipe(str(tmp_path / "zoo" / "recipe.json"))
    assert released.name == "zoo" and released.student["architecture"] == winner["architecture"]
    card = (tmp_path / "zoo" / "README.md").read_text()
    assert "stages (width/depth/kernel/expansion)" in card and "--output_dir" not in card
    assert "The int8 files on TFLM, over 2 seeds" in card
    assert (tmp_path / "zoo" / "model_int8_model_data.cc").is_file()

    # The same evolution in one process, TensorFlow on one thread as each Ray trial runs.
    one = tmp_path / "one"
    code = ("import sys; from tflite_lite.pipeline import load_recipe; "
            "from tflite_lite.pipeline.evolve import run_evolution; "
            "from tflite_lite.pipeline.search import SearchConfig, _State, parse_budget; "
            "import os; os.makedirs(sys.argv[2]); "
            "config = SearchConfig(recipe=sys.argv[1], preset='short', "
            "budget='arena_kb=16,flash_kb=64', space=sys.argv[3], trials=4, population=2, "
            "children=2, proxy_examples=300); state = _State(sys.argv[2], config); "
            "print(run_evolution(state, config, load_recipe(sys.argv[1], 'short'), "
            "parse_budget(config.budget), 1, 10, sys.argv[2], log=lambda line: None)[0])")
    env = dict(os.environ, TF_NUM_INTRAOP_THREADS="1", TF_NUM_INTEROP_THREADS="1")
    alone = subprocess.run([sys.executable, "-c", code, RECIPE, str(one), space], env=env,
                           capture_output=True, text=True, timeout=1200, check=False)
    assert alone.returncode == 0, alone.stderr
    state = json.loads((one / "search.json").read_text())
    assert state["trials"] == record["trials"]
    assert ({c: state["candidates"][c]["proxy_accuracy"] for c in state["trials"]}
            == {c: record["candidates"][c]["proxy_accuracy"] for c in record["trials"]})
    assert alone.stdout.split()[-1] == record["winner"]["contenders"][0]

    again = run_main("search", *args)
    assert again.returncode == 0 and "search: trial" not in again.stdout
    assert "search: int8" not in again.stdout and "search: full training" not in again.stdout
    assert json.loads((tmp_path / "ray" / "search.json").read_text())["winner"] == (
        record["winner"])


def test_the_family_search_leaves_the_searchable_family_to_space_files():
    from tflite_lite.pipeline.search import SearchConfig, candidates
    names = {name for _, name, _, _ in candidates(SearchConfig(recipe=RECIPE, budget="macs=1"))}
    assert "searchable_ir" not in names and "mobilenet_v1_025" in names
