"""Stage 2 of a search over a space file: evolution over per-stage choices. Each proposal's
exact costs are measured here first (stage 1: a second or so, cached in the state); only a
candidate that fits becomes a trial, a proxy training, in this process or on Ray Tune.

`run_search` calls `run_evolution` when `SearchConfig.space` is set. Every trial and result
is kept in the search's state (`search.json`: `trials` in proposal order, `rejected` with the
costs of the proposals over the budget), rewritten as each trial ends: a killed search resumes
with the trials it had not finished, and proposes the same next generations
(`search_space.Evolution` depends on the history only).
"""

import os

from tflite_lite.errors import UserError
from tflite_lite.pipeline.search_space import (SEARCHABLE_MODEL, Evolution,
                                               activation_bytes_bound, candidate_id, load_space)
from tflite_lite.pipeline.trials import open_trials


def proxy_training(settings):
    """One trial: the candidate's proxy training."""
    from tflite_lite.training import TrainConfig, train  # noqa: PLC0415  (TensorFlow)

    record = train(TrainConfig(**settings))
    return dict(proxy_accuracy=record.best_val_accuracy, proxy_seconds=record.train_seconds)


def smallest_candidate(space):
    """The space's cheapest candidate: every choice at its smallest, the most pruning."""
    return {"input_size": min(space.input_sizes), "channel_fraction": max(space.channel_fractions),
            "architecture": {
                "stem_width": min(space.stem_widths), "stem_stride": max(space.stem_strides),
                "head_width": min(space.head_widths),
                "stages": [{"width": min(s.widths), "depth": min(s.depths),
                            "kernel": min(s.kernels), "expansion": min(s.expansions),
                            "stride": s.stride} for s in space.stages]}}


def hand_scaled(space, multiplier, size):
    """MobileNet V2's recipe in the space's stages, scaled by hand: kernel 3; expansion 1 in
    the first stage and 6 after it (or the space's nearest), as its Table 2; each stage's
    largest depth, its largest width (and the stem's) times `multiplier`; the stem's largest
    stride; no pruning."""
    def scaled(widths):
        return max(1, round(max(widths) * multiplier))

    def expansion(index, choices):
        return min(choices, key=lambda e: abs(e - (1 if index == 0 else 6)))
    return {"input_size": size, "channel_fraction": 0.0, "architecture": {
        "stem_width": scaled(space.stem_widths), "stem_stride": max(space.stem_strides),
        "head_width": 0,
        "stages": [{"width": scaled(s.widths), "depth": max(s.depths),
                    "kernel": 3 if 3 in s.kernels else min(s.kernels),
                    "expansion": expansion(i, s.expansions), "stride": s.stride}
                   for i, s in enumerate(space.stages)]}}


def space_baseline(space, budget, channels, num_classes, latency_target, log=print):
    """(id, candidate, costs) of the hand-scaled baseline (MCUNet's: MobileNet V2 scaled down
    in width and resolution): at each input size the widest `hand_scaled` that fits (width
    multiplier lowered in steps of 0.05), and of those the one with the most MACs."""
    from tflite_lite.pipeline.search import measure_costs  # noqa: PLC0415

    fitting = []
    for size in sorted(set(space.input_sizes), reverse=True):
        for step in range(20, 0, -1):
            candidate = hand_scaled(space, step / 20, size)
            costs = measure_costs(SEARCHABLE_MODEL, size, 0.0, budget, channels, num_classes,
                                  latency_target, candidate["architecture"])
            if not costs["over"]:
                log(f"search: baseline at {size} px: width x{step / 20:.2f} fits, "
                    f"{costs['macs']:,} MACs")
                fitting.append((costs["macs"], -len(fitting), candidate, costs))
                break
    if not fitting:
        raise UserError("no baseline: MobileNet V2's recipe in this space does not fit the "
                        "budget even at width x0.05 and the smallest input size")
    _, _, candidate, costs = max(fitting, key=lambda found: found[:2])
    log(f"search: baseline {candidate_id(candidate)}")
    return candidate_id(candidate), candidate, costs


def _entry(candidate, trial):
    return dict(model=SEARCHABLE_MODEL, input_size=candidate["input_size"],
                channel_fraction=candidate["channel_fraction"],
                architecture=candidate["architecture"], trial=trial)


def _candidate(entry):
    return {key: entry[key] for key in ("input_size", "channel_fraction", "architecture")}


def _finished(entry):
    return "proxy_accuracy" in entry or "error" in entry


def _fitness(entry):
    return entry.get("proxy_accuracy")


def _check_smallest(space, config, budget, channels, num_classes):
    """`UserError` naming the smallest candidate's costs when even it breaks the budget."""
    from tflite_lite.pipeline.search import _smallest_cost, measure_costs  # noqa: PLC0415

    candidate = smallest_candidate(space)
    costs = measure_costs(SEARCHABLE_MODEL, candidate["input_size"],
                          candidate["channel_fraction"], budget, channels, num_classes,
                          config.latency_target, candidate["architecture"])
    if costs["over"]:
        found = _smallest_cost([dict(costs, candidate=candidate_id(candidate))], budget)
        raise UserError(f"the budget {config.budget} is below the smallest candidate of "
                        f"{config.space}: {found or f'{candidate_id(candidate)}: {costs}'}")


def run_evolution(state, config, recipe, budget, channels, num_classes, run_dir, log=print):
    """Proposes and runs `config.trials` trials; returns the fitting candidates' ids, best
    proxy accuracy first.

    Raises:
      UserError: a budget below the space's smallest candidate, or no trial that fits.
    """
    from tflite_lite.pipeline.search import (_folder_name, _proxy_settings,  # noqa: PLC0415
                                             measure_costs)

    space = load_space(config.space)
    if "smallest_checked" not in state:
        _check_smallest(space, config, budget, channels, num_classes)
        state["smallest_checked"] = True
    evolution = Evolution(space, config.population, config.children, seed=config.search_seed)
    order = state.setdefault("trials", [])
    entries = state["candidates"]
    log(f"search: evolution over {space.size():,} candidates of {config.space}: "
        f"{config.trials} trials on {config.workers} worker(s)"
        + (f" at {config.address}" if config.address else ""))

    def item(cid):
        folder = os.path.abspath(os.path.join(run_dir, "proxy", _folder_name(cid)))
        entry = entries[cid]
        return (_proxy_settings(recipe, entry["model"], entry["input_size"],
                                entry["channel_fraction"], config, folder,
                                entry["architecture"]),)

    rejected = state.setdefault("rejected", {})

    def fits(candidate):
        """Stage 1: the exact costs (cached), within the budget or not."""
        cid = candidate_id(candidate)
        if cid in rejected or cid in entries:
            return cid not in rejected
        bound = activation_bytes_bound(candidate, channels)
        if "arena_kb" in budget and bound > budget["arena_kb"] * 1024:
            rejected[cid] = {"arena_bytes_bound": bound, "over": ["arena_kb"]}
        else:
            costs = measure_costs(SEARCHABLE_MODEL, candidate["input_size"],
                                  candidate["channel_fraction"], budget, channels, num_classes,
                                  config.latency_target, candidate["architecture"])
            if costs["over"]:
                rejected[cid] = costs
            else:
                entries[cid] = dict(_entry(candidate, None), **costs)
            measured = len(rejected) + len(entries)
            if measured % 20 == 0:
                state.save()
                log(f"search: exact costs of {measured} proposals, {len(rejected)} over the "
                    "budget")
        return cid not in rejected

    with open_trials(config.workers, config.address, os.path.join(run_dir, "tune")) as trials:
        while True:
            pending = [cid for cid in order if not _finished(entries[cid])]
            if pending:
                _run(trials, pending, item, state, config, log)
                continue
            if len(order) >= config.trials:
                break
            proposals = evolution.propose(
                [(_candidate(entries[c]), _fitness(entries[c])) for c in order],
                accept=fits)[:config.trials - len(order)]
            for candidate in proposals:
                cid = candidate_id(candidate)
                entries[cid]["trial"] = len(order)
                order.append(cid)
            for cid in [c for c, entry in entries.items() if entry.get("model") ==
                        SEARCHABLE_MODEL and entry.get("trial") is None]:
                del entries[cid]  # measured, fits, but beyond the last proposal
            state.save()
            if not proposals:
                break
    fitting = [cid for cid in order if _fitness(entries[cid]) is not None]
    if not fitting:
        raise UserError(f"no trial of the {len(order)} finished its proxy training (see "
                        f"{os.path.join(run_dir, 'search.json')})")
    return sorted(fitting, key=lambda cid: -_fitness(entries[cid]))


def _run(trials, pending, item, state, config, log):
    """Runs the `pending` trials, saving each result as it comes."""
    entries = state["candidates"]

    def on_result(index, result):
        cid = pending[index]
        entries[cid].update(result)
        state.save()
        done = sum(_finished(entries[c]) for c in state["trials"])
        running = min(trials.workers, len(pending) - sum(_finished(entries[c]) for c in pending))
        outcome = (f"failed: {result['error']}" if "error" in result
                   else f"proxy accuracy {result['proxy_accuracy']:.4f}")
        log(f"search: trial {entries[cid]['trial'] + 1} {cid}: {outcome} "
            f"(done {done}, running {running}, left {config.trials - done - running})")

    trials.run(proxy_training, [item(cid) for cid in pending], on_result,
               name=f"trials_{len(state['trials'])}")
    for cid in pending:
        if not _finished(entries[cid]):
            entries[cid]["error"] = "the trial returned no result"
    state.save()
