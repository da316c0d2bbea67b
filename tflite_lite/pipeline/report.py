"""A run's report: `pipeline.json` (the recipe and every measured figure), `report.md` (tables)
and matplotlib plots (accuracy vs size, accuracy vs latency with the Pareto front, training
curves)."""

import datetime
import gzip
import os

from tflite_lite import _io, _progress
from tflite_lite.report import _save_png, format_table
from tflite_lite.benchmark.results import FILE as BENCHMARK_FILE
from tflite_lite.benchmark.results import load_results, single_thread_rows
from tflite_lite.contract import Contract
from tflite_lite.errors import UserError
from tflite_lite.run_record import RunRecord, load_history

PIPELINE_FILE = "pipeline.json"  # a training stage's own record is its RunRecord
PLOTS = {"accuracy_vs_size": "accuracy_vs_size.png",
         "accuracy_vs_latency": "accuracy_vs_latency.png",
         "training_curves": "training_curves.png"}
TRAINING_COLUMNS = (
    ("stage", "stage", "s"), ("model", "model", "s"), ("how", "how", "s"),
    ("epochs", "epochs", "d"), ("minutes", "minutes", ".1f"),
    ("test_accuracy", "test acc", ".4f"), ("test_examples", "test images", ",d"),
    ("params", "params", ",d"), ("macs", "MACs", ",d"),
)
ARTIFACT_COLUMNS = (
    ("file", "file", "s"), ("keras_accuracy", "Keras acc", ".4f"),
    ("tflite_accuracy", "TFLite acc", ".4f"), ("agreement", "agreement", ".4f"),
    ("eval_examples", "test images", ",d"), ("size_kb", "KB", ".1f"), ("gzip_kb", "gzip KB", ".1f"),
    ("macs", "MACs", ",d"), ("p50_ms", "p50 ms", ".3f"), ("ratio", "latency vs first", ".2f"),
)


def _how(record):
    parts = []
    if record.distillation:
        parts.append(f"distilled from {record.distillation.get('teacher_model') or 'teacher'}")
    if record.init_from:
        parts.append("fine-tuned")
    compression = record.compression or {}
    if compression.get("pruning"):
        parts.append(f"pruned to {compression['sparsity']:.0%}")
    if record.quantization:
        parts.append("QAT")
    return ", ".join(parts) or "from scratch"


def load_pipeline_record(run_dir):
    """A finished pipeline run's record, `pipeline.json`, which `write_report` writes.

    Raises:
      UserError: a folder without one (or with an unreadable one).
    """
    path = os.path.join(run_dir, PIPELINE_FILE)
    if not os.path.isfile(path):
        raise UserError(f"{run_dir}: not a pipeline run folder (no {PIPELINE_FILE}; rerun its "
                        "recipe to write it: finished stages are skipped)")
    return _io.read_json(path, "pipeline record")


def training_rows(stages, histories):
    rows = []
    for stage in stages:
        if stage.kind != "train":
            continue
        record = RunRecord.load(stage.folder)
        histories[stage.name] = load_history(stage.folder)
        rows.append({"stage": stage.name, "folder": stage.folder, "model": record.model,
                     "how": _how(record), "epochs": record.epochs,
                     "minutes": (record.wall_seconds or 0) / 60,
                     "test_accuracy": record.test_accuracy,
                     "test_examples": record.test_examples, "init_from": record.init_from,
                     "params": record.params, "macs": record.macs,
                     "train_seconds": record.train_seconds, "wall_seconds": record.wall_seconds})
    return rows


def artifact_rows(stages):
    exports = next((s for s in stages if s.kind == "export"), None)
    bench = next((s for s in stages if s.kind == "benchmark"), None)
    latency = {}
    if bench is not None:
        latency = single_thread_rows(load_results(os.path.join(bench.folder, BENCHMARK_FILE)))
    rows = []
    for job in exports.settings["exports"] if exports else ():
        contract = Contract.beside(job["output"], required=False) or {}
        evaluation = contract.get("evaluation") or {}
        name = os.path.basename(job["output"])
        with open(job["output"], "rb") as f:
            gzip_bytes = len(gzip.compress(f.read(), compresslevel=9))
        measured = latency.get(name, {})
        rows.append({"file": name, "stage": job["stage"], "mode": job["mode"],
                     "keras_accuracy": evaluation.get("keras_accuracy"),
                     "tflite_accuracy": evaluation.get("tflite_accuracy"),
                     "agreement": evaluation.get("agreement"),
                     "eval_examples": evaluation.get("num_examples"),
                     "size_bytes": contract.get("size_bytes"),
                     "size_kb": contract.get("size_bytes", 0) / 1024,
                     "gzip_bytes": gzip_bytes, "gzip_kb": gzip_bytes / 1024,
                     "macs": contract.get("macs"), "float_ops": contract.get("float_ops"),
                     "p50_ms": measured.get("p50_ms"), "p90_ms": measured.get("p90_ms"),
                     "init_ms": measured.get("init_ms"),
                     "ratio": measured.get("ratio_to_baseline")})
    return rows


def pareto_front(points):
    """The points (cost, accuracy) no other point beats on both, sorted by cost."""
    front = []
    for cost, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not front or accuracy > front[-1][1]:
            front.append((cost, accuracy))
    return front


def _plot(run_dir, artifacts, training, histories):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    written = {}
    scored = [r for r in artifacts if r["tflite_accuracy"] is not None]
    for key, cost, label in (("accuracy_vs_size", "size_kb", "file size (KB)"),
                             ("accuracy_vs_latency", "p50_ms", "p50 latency (ms, 1 thread)")):
        points = [r for r in scored if r[cost] is not None]
        if not points:
            continue
        figure, axes = plt.subplots(figsize=(6, 4))
        for row in points:
            axes.scatter(row[cost], row["tflite_accuracy"], s=30)
            axes.annotate(row["file"].replace(".tflite", ""), (row[cost], row["tflite_accuracy"]),
                          fontsize=7, xytext=(4, 2), textcoords="offset points")
        front = pareto_front([(r[cost], r["tflite_accuracy"]) for r in points])
        # Rings on the front's points: a one-point front shows too, in the plot and legend.
        axes.plot(*zip(*front), "--o", color="gray", linewidth=1, markersize=11,
                  markerfacecolor="none", label="Pareto front")
        axes.set(xlabel=label, ylabel="TFLite test accuracy", title=key.replace("_", " "),
                 xlim=(0, 1.15 * max(r[cost] for r in points)),
                 ylim=accuracy_limits([r["tflite_accuracy"] for r in points]))
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
        written[key] = _save(figure, os.path.join(run_dir, PLOTS[key]))
    if any(h.get("val_accuracy") for h in histories.values()):
        written["training_curves"] = _plot_training_curves(plt, run_dir, training, histories)
    plt.close("all")
    return written


def accuracy_limits(accuracies, min_span=0.10):
    """The accuracy axis: at least `min_span` (10 points) around the values, within [0, 1],
    so that a gap of a point or two reads as what it is, not as the whole height."""
    low, high = min(accuracies), max(accuracies)
    span = max(min_span, 1.2 * (high - low))
    middle = (low + high) / 2
    bottom = min(max(0.0, middle - span / 2), 1.0 - span)
    return max(0.0, bottom), min(1.0, max(0.0, bottom) + span)


def _epoch_offsets(training):
    """Each stage's first epoch: a fine-tuning stage starts where the stage it reads ended."""
    folders = {os.path.abspath(os.path.join(row["folder"], "model.keras")): row["stage"]
               for row in training}
    epochs = {row["stage"]: row["epochs"] or 0 for row in training}
    offsets, parents = {}, {}
    for row in training:  # in run order: a parent comes before its fine-tuning
        parent = parents[row["stage"]] = folders.get(row["init_from"] or "")
        offsets[row["stage"]] = offsets[parent] + epochs[parent] if parent else 0
    return offsets, parents


def _plot_training_curves(plt, run_dir, training, histories):
    """Validation accuracy and training cross-entropy per epoch (a distilled stage's label
    term), and, when a stage distils, its total loss (alpha·CE + (1 − alpha)·KD) apart."""
    from matplotlib.ticker import MaxNLocator

    offsets, parents = _epoch_offsets(training)
    distilled = [name for name, h in histories.items() if h.get("kd_loss")]
    figure, panels = plt.subplots(1, 3 if distilled else 2, figsize=(15 if distilled else 10, 4))
    series = (("val_accuracy", "validation accuracy"), ("cross_entropy", "training cross-entropy"),
              ("loss", "distillation loss (total)"))
    colors = {}
    for (key, title), axes in zip(series, panels):
        for name, history in histories.items():
            values = history.get("ce_loss" if key == "cross_entropy" and name in distilled
                                 else "loss" if key == "cross_entropy" else key)
            if key == "loss" and name not in distilled or not values:
                continue
            epochs = [offsets[name] + i for i in range(1, len(values) + 1)]
            parent = histories.get(parents[name] or "", {})
            parent_key = ("ce_loss" if parents[name] in distilled else "loss") if (
                key == "cross_entropy") else key
            if parent.get(parent_key) and key != "loss":  # continue the parent's line
                epochs, values = [offsets[name]] + epochs, [parent[parent_key][-1]] + values
            label = name + (" (CE term)" if key == "cross_entropy" and name in distilled else "")
            line, = axes.plot(epochs, values, marker=".", label=label, color=colors.get(name))
            colors[name] = line.get_color()
        axes.set(xlabel="epoch", ylabel=title, title=title)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
        axes.legend(fontsize=7)
        axes.grid(alpha=0.3)
    return _save(figure, os.path.join(run_dir, PLOTS["training_curves"]))


def _save(figure, path):
    return os.path.basename(_save_png(figure, path))


def _summary(training, artifacts):
    by_stage = {row["stage"]: row for row in training}
    summary = {"train_minutes": sum(r["wall_seconds"] or 0 for r in training) / 60}
    if "baseline" in by_stage and "student" in by_stage:
        gain = by_stage["student"]["test_accuracy"] - by_stage["baseline"]["test_accuracy"]
        summary["distillation_gain_pp"] = 100 * gain
        int8 = {r["stage"]: r["tflite_accuracy"] for r in artifacts if r["mode"] == "int8"}
        if int8.get("student") is not None and int8.get("baseline") is not None:
            summary["distillation_gain_int8_pp"] = 100 * (int8["student"] - int8["baseline"])
    int8_rows = [r for r in artifacts if r["mode"] == "int8" and r["tflite_accuracy"] is not None
                 and r["stage"] != "teacher"]
    if int8_rows:
        best = max(int8_rows, key=lambda r: r["tflite_accuracy"])
        summary["best_int8"] = {"file": best["file"], "tflite_accuracy": best["tflite_accuracy"],
                                "size_bytes": best["size_bytes"], "p50_ms": best["p50_ms"]}
    return summary


def write_report(recipe, run_dir, stages, history):
    """Writes `pipeline.json`, `report.md` and the plots of a run; returns the run record."""
    histories = {}
    training = training_rows(stages, histories)
    artifacts = artifact_rows(stages)
    plots = _plot(run_dir, artifacts, training, histories)
    record = {
        "recipe": recipe.get_config(),
        "run_dir": os.path.abspath(run_dir),
        "stages": history,
        "training": training,
        "artifacts": artifacts,
        "summary": _summary(training, artifacts),
        "plots": plots,
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    _io.write_json(os.path.join(run_dir, PIPELINE_FILE), record)  # see load_pipeline_record
    with _io.atomic_path(os.path.join(run_dir, "report.md")) as tmp:
        with open(tmp, "w") as f:
            f.write(render_markdown(record))
    return record


def _artifacts_note(training, artifacts):
    """Which test images the accuracies are on, and what the latency column is relative to."""
    counts = {row.get("eval_examples") for row in artifacts} - {None}
    trained = {row.get("test_examples") for row in training} - {None}
    if len(counts) == 1:
        count = counts.pop()
        same = " (the Training table's too)" if trained == {count} else ""
        where = f"the first {count:,} test images{same}"
    else:
        where = "the test images counted in each row"
    first = artifacts[0]["file"] if artifacts else "the first file"
    return (f"Accuracy on {where}; p50 latency on LiteRT, 1 thread, all files interleaved; "
            f"latency vs first: p50 over `{first}`'s.")


def render_markdown(record):
    recipe = record["recipe"]
    summary = record["summary"]
    preset = f" (preset `{recipe['preset']}`)" if recipe.get("preset") else ""
    lines = [f"# {recipe['name']}{preset}", ""]
    if recipe.get("description"):
        lines += [recipe["description"], ""]
    dataset = recipe["dataset"]
    lines += [f"Dataset `{dataset['name']}` at {dataset['input_size']}x{dataset['input_size']} px; "
              f"training took {summary['train_minutes']:.1f} min in all.", ""]
    if "best_int8" in summary:
        best = summary["best_int8"]
        lines += [f"Best int8 model: `{best['file']}`, test accuracy "
                  f"{best['tflite_accuracy']:.4f}.", ""]
    if "distillation_gain_pp" in summary:
        gain = f"Distillation: student − baseline = {summary['distillation_gain_pp']:+.2f} pp (Keras)"
        if "distillation_gain_int8_pp" in summary:
            gain += f", {summary['distillation_gain_int8_pp']:+.2f} pp (int8)"
        lines += [gain + ".", ""]
    lines += ["## Training", "", "```", format_table(record["training"], TRAINING_COLUMNS), "```",
              "", "## Artifacts", "",
              _artifacts_note(record["training"], record["artifacts"]), "",
              "```", format_table(record["artifacts"], ARTIFACT_COLUMNS), "```", ""]
    for key, file in record["plots"].items():
        lines += [f"![{key.replace('_', ' ')}]({file})", ""]
    lines += ["## Stages", ""]
    for name, status in record["stages"].items():
        seconds = status.get("seconds")
        lines.append(f"- {name}: {status['status']}" +
                     (f" in {_progress.format_seconds(seconds)}" if seconds is not None else ""))
    return "\n".join(lines) + "\n"
