"""A compression search that meets a device budget: family, width, input size and channel pruning.

    record = run_search(SearchConfig(recipe="models/x/recipe.json",
                                     budget="arena_kb=64,flash_kb=256"), "runs/search_x")

1. **Exact filter.** Every candidate (registered model x input size x channel-pruning fraction)
   is built and profiled (params and MACs; int8 weights take at least a byte each, so a model
   with more parameters than the flash budget stops here), then exported for TensorFlow Lite
   Micro with random calibration images: flash is the `.tflite` with its metadata, arena the
   smallest TFLM allocates it in, latency TFLM's (or LiteRT's) time per inference on this host.
2. **Proxy.** The survivors train briefly (`proxy_epochs` on `proxy_examples` images); their
   validation accuracy ranks them.
3. **Full training.** The proxy's best `1 + full_train_top` survivors train as the recipe's
   student (its epochs and rate) in `<run_dir>/full/`; the one with the best validation
   accuracy wins (the proxy only shortlists) and goes on through the recipe's pipeline (its
   student adopted, then QAT, int8 for the micro target) in `<run_dir>/final`. The proxy's rank
   correlation with full training is measured on the shortlist.
4. **Baseline.** The hand-chosen baseline trains with the same seeds and goes through the same
   pipeline; every seed of the winner and of the baseline is taken to int8 and scored on TFLM,
   which gives the winner's gain over the baseline as mean and spread over the seeds.

Channel pruning here thins the freshly built model (`TrainConfig.channel_pruning` without
`init_from`): a narrower architecture trained from scratch. The whole search is kept in
`<run_dir>/search.json`, rewritten after every step, so a killed search resumes where it was;
`search.png` plots accuracy against cost for every candidate with the budget and Pareto front.
"""

import dataclasses
import functools
import json
import os
import shutil

import numpy as np

from tflite_lite import _io
from tflite_lite.architectures import (create_model, deploy_form, list_models, profile)
from tflite_lite.architectures._blocks import MIN_INPUT_SIZE
from tflite_lite.contract import Contract
from tflite_lite.errors import UserError
from tflite_lite.pipeline.search_config import (BUDGET_KEYS, SearchConfig,  # noqa: F401
                                                family, parse_budget)

STATE_FILE = "search.json"
SEARCHABLE_FAMILY = "searchable"
SEARCH_COLUMNS = (("candidate", "candidate", "s"), ("params", "params", ",d"),
                  ("macs", "MACs", ",d"), ("flash_bytes", "flash B", ",d"),
                  ("arena_bytes", "arena B", ",d"), ("latency_ms", "ms", ".2f"),
                  ("fits", "fits", "s"), ("proxy_accuracy", "proxy acc", ".4f"),
                  ("full_accuracy", "full acc", ".4f"),
                  ("full_test_mean", "test mean", ".4f"), ("full_test_std", "± std", ".4f"),
                  ("int8_tflm_mean", "int8 TFLM mean", ".4f"), ("int8_tflm_std", "± std", ".4f"))




def candidates(config):
    """(id, model, input size, channel fraction) of every candidate, in search order."""
    names = [n for n in list_models() if family(n) in config.families
             or not config.families and family(n) != SEARCHABLE_FAMILY]
    return [(f"{name}@{size}px/c{round(fraction * 100):02d}", name, size, fraction)
            for name in names for size in config.input_sizes
            for fraction in config.channel_fractions]


def _pruning(fraction):
    return {"criterion": "l1", "fraction": fraction} if fraction else None


def _built(name, size, fraction, channels, num_classes, architecture=None):
    from tflite_lite.compression import ChannelPruningConfig, prune_channels  # noqa: PLC0415
    extra = {"architecture": architecture} if architecture else {}
    model = create_model(name, input_shape=(size, size, channels), num_classes=num_classes,
                         **extra)
    if fraction:
        model = prune_channels(model, ChannelPruningConfig(**_pruning(fraction)))
    return deploy_form(model, None if fraction else name)


def _over(costs, budget):
    """Budget keys the costs exceed (a cost not measured yet does not count)."""
    return [key for key, limit in budget.items()
            if costs.get(BUDGET_KEYS[key][0]) is not None
            and costs[BUDGET_KEYS[key][0]] > limit * BUDGET_KEYS[key][1]]


def measure_costs(name, size, fraction, budget, channels=1, num_classes=10,
                  latency_target="micro", architecture=None):
    """The exact costs of one candidate, stopping at the first that breaks the budget."""
    from tflite_lite.convert import export  # noqa: PLC0415
    model = _built(name, size, fraction, channels, num_classes, architecture)
    counts = profile(model)
    costs = {"params": int(counts["params"]), "macs": int(counts["macs"])}
    bound = {"flash_bytes": costs["params"]}  # int8 weights: at least a byte each
    if _over(costs, budget) or _over(bound, budget):
        return dict(costs, over=_over(costs, budget) or ["flash_kb"])
    images = np.random.default_rng(0).uniform(-1, 1, (16, size, size, channels))
    result = export(model, mode="int8", calibration=images.astype(np.float32),
                    representative_examples=16, target="micro")
    costs.update(flash_bytes=result.contract["micro"]["flash_bytes"],
                 arena_bytes=result.contract["micro"]["arena_bytes"])
    if "latency_ms" in budget:
        costs["latency_ms"] = _latency(result.tflite, latency_target)
    return dict(costs, over=_over(costs, budget))


class _LiteRT:
    """LiteRT on one thread, called like `MicroInterpreter.run`."""

    def __init__(self, tflite):
        from tflite_lite.convert.evaluate import TFLiteClassifier  # noqa: PLC0415
        classifier = TFLiteClassifier(tflite, num_threads=1)
        self.interpreter, self.input = classifier.interpreter, classifier.input
        self.output = classifier.output

    def run(self, tensor):
        self.interpreter.set_tensor(self.input["index"], tensor)
        self.interpreter.invoke()
        return self.interpreter.get_tensor(self.output["index"])


def _latency(tflite, target, runs=20):
    """p50 ms per inference of `tflite` on TFLM or LiteRT (one thread) on this host."""
    from tflite_lite.benchmark.micro import time_invokes  # noqa: PLC0415
    from tflite_lite.convert.micro import MicroInterpreter  # noqa: PLC0415
    runner = MicroInterpreter(tflite) if target == "micro" else _LiteRT(tflite)
    tensor = np.zeros(runner.input["shape"], runner.input["dtype"])
    return time_invokes(runner, tensor, runs)["p50_ms"]


class _State(dict):
    """`search.json`: the config and every candidate's figures, rewritten after each step."""

    def __init__(self, run_dir, config):
        self.path = os.path.join(run_dir, STATE_FILE)
        super().__init__(config=config.get_config(), candidates={})
        if os.path.isfile(self.path):
            with open(self.path) as f:
                saved = json.load(f)
            if saved["config"] != self["config"]:
                raise UserError(f"{self.path} holds another search (its config differs); "
                                "use a new run folder")
            self.update(saved, config=self["config"])

    def save(self):
        _io.write_json(self.path, dict(self))


def _proxy_settings(recipe, name, size, fraction, config, folder, architecture=None):
    settings = dict(recipe.dataset_settings, model=name, input_size=size,
                    architecture=architecture,
                    epochs=config.proxy_epochs, max_train_examples=config.proxy_examples,
                    learning_rate=recipe.student.get("learning_rate", 2e-3),
                    warmup_epochs=0, channel_pruning=_pruning(fraction), output_dir=folder,
                    keep_checkpoints=1, verbose=2)
    settings["max_eval_examples"] = settings.get("max_eval_examples") or 2000
    return settings


def _candidate_recipe(recipe, name, size, fraction, suffix, architecture=None):
    """`recipe` with the candidate as its student and the micro export; the winner's keeps the
    recipe's name (it is the recipe's model), the others' get `suffix`."""
    student = dict(recipe.student, model=name)
    student.pop("channel_pruning", None)
    student.pop("architecture", None)
    if architecture:
        student["architecture"] = architecture
    if fraction:
        student["channel_pruning"] = _pruning(fraction)
    modes = list(dict.fromkeys(list(recipe.export["modes"]) + ["int8"]))
    name = recipe.name if suffix == "final" else f"{recipe.name}_{suffix}"
    return dataclasses.replace(recipe, name=name, student=student,
                               dataset=dict(recipe.dataset, input_size=size),
                               export=dict(recipe.export, modes=modes, target="micro"))


def hand_baseline(budget, sizes, channels, num_classes, latency_target, log=print):
    """(id, model, size, fraction, costs) of the hand-chosen baseline: the registered model with
    the fewest parameters; its input size, then its width, scaled down until it fits."""
    registered = [n for n in list_models() if family(n) != SEARCHABLE_FAMILY]
    smallest = min(registered, key=lambda name: profile(create_model(
        name, input_shape=(max(sizes),) * 2 + (channels,), num_classes=num_classes))["params"])
    steps = [(size, 0.0) for size in range(max(sizes), MIN_INPUT_SIZE - 1, -4)]
    steps += [(MIN_INPUT_SIZE if steps[-1][0] == MIN_INPUT_SIZE else steps[-1][0],
               round(0.05 * i, 2)) for i in range(1, 19)]
    costs = None
    for size, fraction in steps:
        costs = measure_costs(smallest, size, fraction, budget, channels, num_classes,
                              latency_target)
        log(f"search: baseline {smallest}@{size}px/c{round(fraction * 100):02d}: "
            + ("fits" if not costs["over"] else f"over {', '.join(costs['over'])}"))
        if not costs["over"]:
            return (f"{smallest}@{size}px/c{round(fraction * 100):02d}", smallest, size,
                    fraction, costs)
    raise UserError(f"no baseline: {smallest} does not fit the budget even at "
                    f"{MIN_INPUT_SIZE} px and 90% of its channels pruned")


def _spearman(first, second):
    """Spearman's rank correlation of two equal-length lists (no tie correction)."""
    if len(first) < 3:
        return None
    ranks = [np.argsort(np.argsort(values)) for values in (first, second)]
    return float(np.corrcoef(*ranks)[0, 1])


def _smallest_cost(rows, budget):
    """The smallest measured value of each budget key over `rows`, for the error message."""
    parts = []
    for key in budget:
        field, unit = BUDGET_KEYS[key]
        measured = [(row[field], row["candidate"]) for row in rows if row.get(field) is not None]
        if measured:
            value, where = min(measured)
            shown = f"{value / unit:,.1f}" if unit > 1 else f"{value:,.6g}"
            parts.append(f"smallest {key} found {shown} ({where})")
    return "; ".join(parts)


def plot_search(rows, budget, path, baseline=None):
    """Accuracy (proxy, and full where trained) against the first budget's cost for every
    candidate measured, the budget as a line, the survivors' Pareto front; the contenders'
    and the baseline's test mean ± std where several seeds trained them."""
    import matplotlib  # noqa: PLC0415
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    from tflite_lite.pipeline.report import pareto_front  # noqa: PLC0415

    key = next(iter(budget))
    field, unit = BUDGET_KEYS[key]
    figure, axes = plt.subplots(figsize=(8, 5))
    measured = [r for r in rows if r.get(field) is not None]
    over = [r for r in measured if not r["fits"] == "yes"]
    axes.scatter([r[field] / unit for r in over], [0] * len(over), marker="x", color="grey",
                 label="over budget (not trained)")
    trained = [r for r in measured if r.get("proxy_accuracy") is not None]
    axes.scatter([r[field] / unit for r in trained], [r["proxy_accuracy"] for r in trained],
                 label="proxy accuracy")
    full = [r for r in trained if r.get("full_accuracy") is not None]
    axes.scatter([r[field] / unit for r in full], [r["full_accuracy"] for r in full],
                 marker="*", s=150, label="full training")
    front = pareto_front([(r[field] / unit, r["proxy_accuracy"]) for r in trained])
    if front:
        axes.step(*zip(*front), where="post", color="C3", label="Pareto front (proxy)")
    seeded = [r for r in full if (r.get("seeds") or 0) > 1]
    if seeded:
        axes.errorbar([r[field] / unit for r in seeded], [r["full_test_mean"] for r in seeded],
                      yerr=[r["full_test_std"] for r in seeded], fmt="D", color="C2", capsize=3,
                      label="test mean ± std over seeds")
    if baseline and baseline.get("full_test_mean") is not None:
        axes.errorbar([baseline[field] / unit], [baseline["full_test_mean"]],
                      yerr=[baseline["full_test_std"]], fmt="s", color="k", capsize=3,
                      label=f"baseline {baseline['candidate']}")
    axes.axvline(budget[key], color="k", linestyle="--", label=f"budget {key}={budget[key]:g}")
    axes.set_xlabel(key.replace("_", " "))
    axes.set_ylabel("accuracy (validation; test for the seeds' means)")
    axes.legend(loc="lower right", fontsize=8)
    figure.tight_layout()
    with _io.atomic_path(path, suffix=".png") as temporary:
        figure.savefig(temporary)
    plt.close(figure)
    return path


def rows_of(state):
    return [dict(candidate=cid, **{k: v for k, v in entry.items() if k != "over"},
                 fits="yes" if entry.get("over") == [] else
                 ("no: " + ",".join(entry["over"]) if entry.get("over") else "?"))
            for cid, entry in state["candidates"].items()]


def run_search(config, run_dir=None, log=print):
    """Runs (or resumes) a budget search into `run_dir` (default `runs/search_<recipe name>`);
    returns the search record.

    Raises:
      UserError: a bad config, a budget no candidate meets (with the smallest costs found),
        or a run folder that holds another search.
    """
    from tflite_lite.data import dataset_class_names  # noqa: PLC0415
    from tflite_lite.pipeline import load_recipe  # noqa: PLC0415

    config.validate()
    if config.address:
        from tflite_lite.pipeline.trials import check_address  # noqa: PLC0415
        check_address(config.address)
    budget = parse_budget(config.budget)
    recipe = load_recipe(config.recipe, config.preset)
    run_dir = run_dir or os.path.join("runs", f"search_{recipe.name}")
    channels = recipe.input_shape[-1]
    num_classes = len(dataset_class_names(recipe.dataset["name"])) + (
        1 if recipe.dataset.get("nothing_fraction") else 0)
    os.makedirs(run_dir, exist_ok=True)
    state = _State(run_dir, config)
    if config.space:
        from tflite_lite.pipeline.evolve import run_evolution  # noqa: PLC0415
        ranked = run_evolution(state, config, recipe, budget, channels, num_classes, run_dir,
                               log)
    else:
        survivors = _measure_candidates(state, config, budget, channels, num_classes, log)
        ranked = _train_proxies(state, survivors, recipe, config, run_dir, log)
    contenders = ranked[:1 + config.full_train_top]
    if config.baseline:
        _choose_baseline(state, config, budget, channels, num_classes, log)
    _train_full(state, contenders, recipe, config, run_dir, log)
    _release_winner(state, contenders, recipe, budget, run_dir, log)
    if config.baseline:
        _train_baseline(state, recipe, budget, run_dir, log)
        _int8_over_seeds(state, recipe, config, run_dir, log)
    full = [state["candidates"][c] for c in ranked if "full_accuracy" in state["candidates"][c]]
    state["proxy_rank_correlation"] = _spearman([e["proxy_accuracy"] for e in full],
                                                [e["full_accuracy"] for e in full])
    state["plot"] = plot_search(rows_of(state), budget, os.path.join(run_dir, "search.png"),
                                state.get("baseline"))
    state.save()
    return dict(state, run_dir=run_dir)


def _measure_candidates(state, config, budget, channels, num_classes, log):
    """Stage 1: every candidate's exact costs; returns those within the budget."""
    todo = candidates(config)
    for index, (cid, name, size, fraction) in enumerate(todo, 1):
        entry = state["candidates"].setdefault(cid, {"model": name, "input_size": size,
                                                     "channel_fraction": fraction})
        if "over" not in entry:
            entry.update(measure_costs(name, size, fraction, budget, channels,
                                       num_classes, config.latency_target))
            state.save()
            log(f"search: [{index}/{len(todo)}] {cid}: "
                + ("fits" if not entry["over"] else f"over {', '.join(entry['over'])}"))
    survivors = [cid for cid, *_ in todo if state["candidates"][cid]["over"] == []]
    if not survivors:
        raise UserError(f"no candidate meets the budget {config.budget}: "
                        f"{_smallest_cost(rows_of(state), budget)}")
    return survivors


def _train_proxies(state, survivors, recipe, config, run_dir, log):
    """Stage 2: a short proxy training of each survivor; returns them best first."""
    from tflite_lite.training import TrainConfig, train  # noqa: PLC0415

    for index, cid in enumerate(survivors, 1):
        entry = state["candidates"][cid]
        if entry.get("proxy_accuracy") is None:
            folder = os.path.join(run_dir, "proxy", _folder_name(cid))
            record = train(TrainConfig(**_proxy_settings(
                recipe, entry["model"], entry["input_size"], entry["channel_fraction"],
                config, folder)))
            entry.update(proxy_accuracy=record.best_val_accuracy,
                         proxy_seconds=record.train_seconds)
            state.save()
        log(f"search: proxy [{index}/{len(survivors)}] {cid}: validation accuracy "
            f"{entry['proxy_accuracy']:.4f}")
    return sorted(survivors, key=lambda c: -state["candidates"][c]["proxy_accuracy"])


def _full_training(settings):
    """One full training (a trial): its validation and test accuracy."""
    from tflite_lite.training import TrainConfig, train  # noqa: PLC0415
    record = train(TrainConfig(**settings))
    return {"validation": record.best_val_accuracy, "test": record.test_accuracy,
            "seconds": record.train_seconds}


def _seed_folder(name, seed):
    parts = ["full", _folder_name(name)] + ([f"seed{seed}"] if seed else []) + ["student"]
    return os.path.join(*parts)


def _baseline_name(state):
    """The baseline's name in folder names (its seeds' full trainings)."""
    return "baseline_" + state["baseline"]["candidate"]


def _train_full(state, contenders, recipe, config, run_dir, log):
    """Stage 3: the proxy's best few, and the baseline, trained fully as the recipe's student
    with `config.seeds` seeds each (as trials); each gets its mean and spread."""
    entries = [state["candidates"][cid] for cid in contenders]
    names = list(contenders)
    if "baseline" in state:
        entries.append(state["baseline"])
        names.append(_baseline_name(state))
    jobs = []
    for name, entry in zip(names, entries):
        entry["full_run"] = _seed_folder(name, 0)
        runs = entry.setdefault("seed_runs", {})
        for seed in range(config.seeds):
            if str(seed) not in runs:
                run = _candidate_recipe(recipe, entry["model"], entry["input_size"],
                                        entry["channel_fraction"], "final",
                                        entry.get("architecture"))
                settings = dict(run.dataset_settings, **run.student, verbose=2,
                                seed=run.student.get("seed", 0) + seed,
                                output_dir=os.path.abspath(os.path.join(
                                    run_dir, _seed_folder(name, seed))))
                jobs.append((f"full training of {name} (seed {seed})", (settings,),
                             functools.partial(
                                 _keep_seed, state, runs, seed, log,
                                 f"search: full training {name} seed {seed}: validation "
                                 "{validation:.4f}, test {test:.4f}")))
    _run_trials(config, run_dir, "full", _full_training, jobs)
    for entry in entries:
        _summarize_seeds(entry)
    state.save()


def _keep_seed(state, runs, seed, log, message, result):
    """Keeps one seed's trial result in `runs`, saves the state, logs `message` filled in
    from the result."""
    runs[str(seed)] = result
    state.save()
    log(message.format(**result))


def _run_trials(config, run_dir, name, function, jobs):
    """`function(*args)` for each `(what, args, keep)` of `jobs` as trials (Tune's record in
    `run_dir/tune/<name>`); `keep(result)` runs here as each ends.

    Raises:
      UserError: the first failed trial named, once all have ended (a rerun resumes).
    """
    from tflite_lite.pipeline.trials import open_trials  # noqa: PLC0415
    failures = []

    def on_result(index, result):
        what, _, keep = jobs[index]
        if "error" in result:
            failures.append(f"{what} failed: {result['error']}")
        else:
            keep(result)

    if jobs:
        with open_trials(config.workers, config.address,
                         os.path.join(run_dir, "tune")) as trials:
            trials.run(function, [args for _, args, _ in jobs], on_result, name=name)
    if failures:
        raise UserError(failures[0] + " (rerun the search to resume)")


def _summarize_seeds(entry):
    """full_accuracy (the validation mean, which chooses the winner), and the test mean and
    standard deviation over seeds."""
    runs = list(entry["seed_runs"].values())
    validation, test = ([run[key] for run in runs] for key in ("validation", "test"))
    mean, std = _mean_std(test)
    entry.update(full_accuracy=float(np.mean(validation)), full_test_mean=mean,
                 full_test_std=std, seeds=len(runs))


def _mean_std(values):
    """The mean and the sample standard deviation (0 for one value)."""
    return float(np.mean(values)), float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def _release_winner(state, contenders, recipe, budget, run_dir, log):
    """The best contender by full training (the first of equals in the proxy's order) goes
    on through the recipe in `run_dir/final`, adopting its training."""
    from tflite_lite.pipeline import run_pipeline  # noqa: PLC0415

    chosen = max(contenders, key=lambda c: state["candidates"][c]["full_accuracy"])
    entry = state["candidates"][chosen]
    if "winner" in state:
        return
    run = _candidate_recipe(recipe, entry["model"], entry["input_size"],
                            entry["channel_fraction"], "final", entry.get("architecture"))
    _adopt_student(run_dir, entry, "final")
    record = run_pipeline(run, os.path.join(run_dir, "final"), log)
    entry["pipeline"] = os.path.join("final", "pipeline.json")
    state["winner"] = dict(candidate=chosen, contenders=contenders,
                           final_int8=_final_int8(record, run_dir, budget))
    state.save()


def _choose_baseline(state, config, budget, channels, num_classes, log):
    """The hand-scaled baseline, kept in the state."""
    if "baseline" in state:
        return
    if config.space:
        from tflite_lite.pipeline.evolve import space_baseline  # noqa: PLC0415
        from tflite_lite.pipeline.search_space import (SEARCHABLE_MODEL,  # noqa: PLC0415
                                                       load_space)
        cid, candidate, costs = space_baseline(load_space(config.space), budget, channels,
                                               num_classes, config.latency_target, log)
        state["baseline"] = dict(candidate=cid, model=SEARCHABLE_MODEL, **candidate, **costs)
    else:
        cid, name, size, fraction, costs = hand_baseline(
            budget, config.input_sizes, channels, num_classes, config.latency_target, log)
        state["baseline"] = dict(candidate=cid, model=name, input_size=size,
                                 channel_fraction=fraction, **costs)
    state.save()


def _train_baseline(state, recipe, budget, run_dir, log):
    """The hand-chosen baseline through the winner's recipe (its seed-0 training adopted),
    and the winner's gain over it: int8 (one seed) and float test mean over the seeds."""
    from tflite_lite.pipeline import run_pipeline  # noqa: PLC0415
    baseline = state["baseline"]
    if "final_int8" not in baseline:
        run = _candidate_recipe(recipe, baseline["model"], baseline["input_size"],
                                baseline["channel_fraction"], "baseline",
                                baseline.get("architecture"))
        _adopt_student(run_dir, baseline, "baseline")
        record = run_pipeline(run, os.path.join(run_dir, "baseline"), log)
        baseline["final_int8"] = _final_int8(record, run_dir, budget, "baseline")
        state.save()
    winner, base = state["winner"]["final_int8"], baseline["final_int8"]
    state["gain_over_baseline_pp"] = 100 * (winner["tflite_accuracy"] - base["tflite_accuracy"])
    chosen = state["candidates"][state["winner"]["candidate"]]
    state["seed_gain_over_baseline_pp"] = _seed_gain(chosen, baseline, "full_test",
                                                     chosen["seeds"])


def _int8_over_seeds(state, recipe, config, run_dir, log):
    """Every seed's float winner and baseline through the recipe's QAT and int8 export (seed
    0's are the `final` and `baseline` runs; the others run in `int8/<which>/seed<k>`, adopting
    that seed's full training), each int8 file scored on TFLM on the test split (as trials);
    their means and spreads, and the winner's gain over the baseline on TFLM."""
    entries = {"winner": state["candidates"][state["winner"]["candidate"]],
               "baseline": state["baseline"]}
    names = {"winner": state["winner"]["candidate"],
             "baseline": _baseline_name(state)}
    jobs = []
    for which, entry in entries.items():
        runs = entry.setdefault("int8_seed_runs", {})
        pipeline = "final" if which == "winner" else "baseline"
        for seed in (s for s in range(config.seeds) if str(s) not in runs):
            run = _candidate_recipe(recipe, entry["model"], entry["input_size"],
                                    entry["channel_fraction"], pipeline,
                                    entry.get("architecture"))
            run = dataclasses.replace(run, student=dict(
                run.student, seed=run.student.get("seed", 0) + seed))
            folder = pipeline if seed == 0 else os.path.join("int8", which, f"seed{seed}")
            jobs.append((f"int8 export of the {which} (seed {seed})",
                         (run, os.path.abspath(run_dir), folder,
                          _seed_folder(names[which], seed),
                          run.dataset_settings.get("max_eval_examples")),
                         functools.partial(
                             _keep_seed, state, runs, seed, log,
                             f"search: int8 {which} seed {seed}: TFLM test accuracy "
                             "{tflm:.4f} (LiteRT {litert:.4f}, argmax agreement "
                             "{agreement:.4f})")))
    _run_trials(config, run_dir, "int8", _int8_trial, jobs)
    for entry in entries.values():
        mean, std = _mean_std([run["tflm"] for run in entry["int8_seed_runs"].values()])
        entry.update(int8_tflm_mean=mean, int8_tflm_std=std)
    state["int8_gain_over_baseline_pp"] = _seed_gain(entries["winner"], entries["baseline"],
                                                     "int8_tflm", config.seeds)
    state.save()


def _seed_gain(winner, baseline, figure, seeds):
    """The winner's gain over the baseline in points on `<figure>_mean`, beside the sum of
    their `<figure>_std`."""
    return dict(seeds=seeds,
                gain=100 * (winner[f"{figure}_mean"] - baseline[f"{figure}_mean"]),
                std_sum=100 * (winner[f"{figure}_std"] + baseline[f"{figure}_std"]))


def _int8_trial(run, run_dir, folder, student_run, max_examples):
    """One seed's pipeline (its full training adopted) and its int8 file on TFLM."""
    from tflite_lite.benchmark.micro import benchmark_micro_model  # noqa: PLC0415
    from tflite_lite.pipeline import run_pipeline  # noqa: PLC0415
    from tflite_lite.pipeline.release import final_int8  # noqa: PLC0415
    _adopt(os.path.join(run_dir, student_run), os.path.join(run_dir, folder, "student"))
    record = run_pipeline(run, os.path.join(run_dir, folder))
    path = os.path.join(run_dir, folder, "export", final_int8(record)["file"])
    row = benchmark_micro_model(path, max_examples=max_examples, num_runs=10)
    return {"tflm": row["accuracy"], "litert": row["litert_accuracy"],
            "agreement": row["argmax_agreement"], "arena_bytes": row["arena_bytes"],
            "flash_bytes": row["flash_bytes"], "examples": row["num_examples"],
            "file": os.path.relpath(path, run_dir)}


def _folder_name(cid):
    return cid.replace("/", "_").replace("@", "_")


def _adopt_student(run_dir, entry, pipeline):
    """Copies a candidate's finished full training into `<run_dir>/<pipeline>/student`, where
    the pipeline adopts it instead of training it again (same settings; a recipe whose student
    distills is retrained, its teacher being part of its settings)."""
    if entry.get("full_run"):
        _adopt(os.path.join(run_dir, entry["full_run"]),
               os.path.join(run_dir, pipeline, "student"))


def _adopt(source, target):
    """Copies the training folder `source` to `target` unless it is there already."""
    if os.path.exists(target):
        return
    temporary = target + ".partial"
    shutil.rmtree(temporary, ignore_errors=True)
    shutil.copytree(source, temporary)
    os.replace(temporary, target)


def _final_int8(record, run_dir, budget, folder="final"):
    """The winner's released int8 model: its figures, its TFLM costs (from its contract) and
    whether it meets the budget as exported (QAT and metadata included)."""
    from tflite_lite.pipeline.release import final_int8  # noqa: PLC0415
    final = final_int8(record)
    contract = Contract.beside(os.path.join(run_dir, folder, "export", final["file"]))
    costs = dict(contract.get("micro") or {}, macs=contract.get("macs"))
    summary = {key: final.get(key) for key in ("file", "size_bytes", "tflite_accuracy",
                                               "keras_accuracy", "agreement")}
    return dict(summary, **costs, over=_over(costs, budget))


def release_search(record, zoo_dir, command=None):
    """Releases a finished search's winner into the zoo folder `zoo_dir`: its `recipe.json`
    (the search's recipe with the winner as its student, named after the folder, the search's
    outcome as its description), and the final run's int8 model, contract, C source pair and
    card (`release.release_run`). Returns the card."""
    from tflite_lite.pipeline import load_recipe  # noqa: PLC0415
    from tflite_lite.pipeline.recipe import SECTIONS  # noqa: PLC0415
    from tflite_lite.pipeline.release import release_run  # noqa: PLC0415

    config = record["config"]
    recipe = load_recipe(config["recipe"], config.get("preset"))
    winner = record["candidates"][record["winner"]["candidate"]]
    run = _candidate_recipe(recipe, winner["model"], winner["input_size"],
                            winner["channel_fraction"], "final", winner.get("architecture"))
    found = dict(run.get_config(), name=os.path.basename(os.path.normpath(zoo_dir)),
                 description=search_summary(record), presets=None)
    # None in a recipe removes a key (a preset's way to unset one): leave them out
    sections = {key: ({k: v for k, v in found[key].items() if v is not None}
                      if isinstance(found[key], dict) else found[key])
                for key in SECTIONS if found.get(key) not in (None, {}, [])}
    with _io.atomic_path(os.path.join(zoo_dir, "recipe.json"), suffix=".json") as temporary:
        with open(temporary, "w") as f:
            json.dump(sections, f, indent=2, ensure_ascii=False)
            f.write("\n")
    return release_run(os.path.join(record["run_dir"], "final"), zoo_dir, command,
                       recipe={k: sections[k] for k in ("name", "description", "student")})


def search_summary(record):
    """One paragraph: the budget, the winner, the baseline and the gain, as measured."""
    config, winner = record["config"], record["winner"]
    final = winner["final_int8"]
    text = (f"The budget search's winner for {config['budget']} "
            f"(`scripts/search.py{' --space ' + config['space'] if config.get('space') else ''}`"
            f", {len(record.get('trials') or record['candidates'])} candidates trained as "
            f"proxies): `{winner['candidate']}`, int8 test accuracy {final['tflite_accuracy']} "
            f"on LiteRT; TFLM arena {final.get('arena_bytes', 0):,} B, flash "
            f"{final.get('flash_bytes', 0):,} B.")
    if "baseline" in record and "seed_gain_over_baseline_pp" in record:
        baseline, gain = record["baseline"], record["seed_gain_over_baseline_pp"]
        chosen = record["candidates"][winner["candidate"]]
        text += (f" Hand-scaled baseline `{baseline['candidate']}`: int8 test accuracy "
                 f"{baseline['final_int8']['tflite_accuracy']} (gain "
                 f"{record['gain_over_baseline_pp']:+.2f} pp); over {gain['seeds']} seeds the "
                 f"float test accuracy is {chosen['full_test_mean']:.4f} ± "
                 f"{chosen['full_test_std']:.4f} against {baseline['full_test_mean']:.4f} ± "
                 f"{baseline['full_test_std']:.4f} (gain {gain['gain']:+.2f} pp, the two "
                 f"standard deviations add to {gain['std_sum']:.2f} pp).")
    if "int8_gain_over_baseline_pp" in record:
        int8 = record["int8_gain_over_baseline_pp"]
        chosen = record["candidates"][winner["candidate"]]
        baseline = record["baseline"]
        text += (f" The int8 files on TFLM, over {int8['seeds']} seeds (each seed's QAT and "
                 f"export): {chosen['int8_tflm_mean']:.4f} ± {chosen['int8_tflm_std']:.4f} "
                 f"against {baseline['int8_tflm_mean']:.4f} ± {baseline['int8_tflm_std']:.4f} "
                 f"(gain {int8['gain']:+.2f} pp, standard deviations adding to "
                 f"{int8['std_sum']:.2f} pp).")
    return text
