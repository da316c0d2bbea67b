"""Plain-text tables of measured figures, and the PTQ report's plot."""

import os

from tflite_lite import _io


def format_table(rows, columns):
    """Renders dict rows as an aligned text table.

    Args:
      rows: a list of dicts.
      columns: (key, header, format spec) triples, e.g. ("macs", "MACs", ",d").

    Returns:
      The table as one string, header first; text columns (spec "s") left-aligned, numbers
      right-aligned.
    """
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], spec)
                      for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    left = [spec == "s" for _, _, spec in columns]
    lines = ["  ".join(cell.ljust(w) if is_left else cell.rjust(w)
                       for cell, w, is_left in zip(line, widths, left)).rstrip()
             for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


RUN_SUMMARY_COLUMNS = (
    ("artifact", "artifact", "s"), ("keras_accuracy", "Keras acc", ".4f"),
    ("tflite_accuracy", "TFLite acc", ".4f"), ("agreement", "agreement", ".4f"),
    ("test_images", "test images", ",d"), ("size_bytes", "bytes", ",d"),
    ("p50_ms", "p50 ms (1 thr)", ".3f"), ("ratio_to_baseline", "latency vs first", ".2f"),
)


def _run_folders(run_dir, benchmark_json):
    """(folder of the contracts, benchmark JSON path) of a run folder: a training run with
    its exports beside `model.keras`, a pipeline run (`export/`, `benchmark/`) or a pipeline's
    `export/` folder itself."""
    import glob
    import os

    exports, bench = run_dir, os.path.join(run_dir, benchmark_json)
    if not glob.glob(os.path.join(run_dir, "*.tflite")) and os.path.isdir(
            os.path.join(run_dir, "export")):
        exports = os.path.join(run_dir, "export")
    if not os.path.isfile(bench):
        sibling = os.path.join(os.path.dirname(os.path.abspath(exports)), "benchmark",
                               os.path.basename(benchmark_json))
        bench = sibling if os.path.isfile(sibling) else os.path.join(exports, benchmark_json)
    return exports, bench


def summarize_run(run_dir, benchmark_json=None):
    """One row per exported `.tflite` of a run folder (a training run, a pipeline run or its
    `export/` folder): accuracy (Keras vs TFLite), size and latency, from the contract JSONs
    and `benchmark_json` (a pipeline's `benchmark/benchmark.json`). Returns (rows, table)."""
    from tflite_lite.benchmark.results import FILE, load_results, single_thread_rows
    from tflite_lite.contract import Contract

    exports, bench = _run_folders(run_dir, benchmark_json or FILE)
    latency = single_thread_rows(load_results(bench))
    rows = []
    for contract in Contract.all_in(exports):
        if "model_file" not in contract:
            continue
        evaluation = contract.get("evaluation") or {}
        measured = latency.get(contract["model_file"], {})
        rows.append({"artifact": contract["model_file"], "size_bytes": contract["size_bytes"],
                     **{k: evaluation.get(k) for k in ("keras_accuracy", "tflite_accuracy",
                                                        "agreement")},
                     "test_images": evaluation.get("num_examples"),
                     "p50_ms": measured.get("p50_ms"),
                     "ratio_to_baseline": measured.get("ratio_to_baseline")})
    return rows, format_table(rows, RUN_SUMMARY_COLUMNS)


def _save_png(figure, path):
    """Writes `figure` to `path` atomically (its folder made), closes it, returns `path`."""
    from matplotlib import pyplot as plt

    figure.tight_layout()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    with _io.atomic_path(path, suffix=".png") as tmp:
        figure.savefig(tmp, dpi=110)
    plt.close(figure)
    return path


def plot_ptq_auto(plan, path):
    """Writes `path` (a PNG): each `ptq="auto"` candidate's validation agreement with the
    float model and its seconds, the chosen one marked (`convert.auto_ptq`). Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    rows = plan["candidates"]
    figure, axes = plt.subplots(figsize=(6.0, 3.2))
    bars = axes.bar(range(len(rows)), [row["agreement"] for row in rows],
                    color=["tab:green" if row["chosen"] else "tab:gray" for row in rows])
    for bar, row in zip(bars, rows):
        axes.annotate(f"{row['seconds']:.0f} s", (bar.get_x() + bar.get_width() / 2,
                                                 bar.get_height()), ha="center", fontsize=7)
    axes.axhline(plan["agreement_target"], color="tab:red", linewidth=1, linestyle="--")
    lowest = min(row["agreement"] for row in rows)
    axes.set_ylim(max(0.0, min(lowest, plan["agreement_target"]) - 0.02), 1.0)
    axes.set_xticks(range(len(rows)), [row["candidate"] for row in rows], fontsize=7)
    axes.set(ylabel="validation agreement with float",
             title=f"ptq auto: chose {plan['chosen']}")
    return _save_png(figure, path)


def plot_ptq_errors(ptq_report, path, title=None):
    """Writes `path` (a PNG): each linear layer's relative int8 output error, in graph order
    and on a log scale, once per stage of a PTQ report (`compression.ptq.prepare`: "folded",
    then after each step). Returns `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    stages = ptq_report["layer_errors"]
    names = list(stages["folded"])
    figure, axes = plt.subplots(figsize=(max(6.0, 0.12 * len(names)), 4))
    for stage, errors in stages.items():
        axes.plot(range(len(names)), [max(errors.get(n, 0.0), 1e-12) for n in names],
                  marker=".", linewidth=1, label=stage)
    axes.set_yscale("log")
    axes.set_xticks(range(len(names)), names, rotation=90, fontsize=5)
    axes.set(ylabel="int8 output error / output energy",
             title=title or "PTQ: per-layer int8 error after each step")
    axes.legend(fontsize=7)
    axes.grid(alpha=0.3)
    return _save_png(figure, path)
