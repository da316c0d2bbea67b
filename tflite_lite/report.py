"""Plain-text tables of measured figures."""


def format_table(rows, columns):
    """Renders dict rows as an aligned text table.

    Args:
      rows: a list of dicts.
      columns: (key, header, format spec) triples, e.g. ("macs", "MACs", ",d").

    Returns:
      The table as one string, header first.
    """
    cells = [[header for _, header, _ in columns]]
    for row in rows:
        cells.append(["-" if row.get(key) is None else format(row[key], spec)
                      for key, _, spec in columns])
    widths = [max(len(line[i]) for line in cells) for i in range(len(columns))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(line, widths))) for line in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


RUN_SUMMARY_COLUMNS = (
    ("artifact", "artifact", "s"), ("keras_accuracy", "Keras acc", ".4f"),
    ("tflite_accuracy", "TFLite acc", ".4f"), ("agreement", "agreement", ".4f"),
    ("size_bytes", "bytes", ",d"), ("p50_ms", "p50 ms (1 thr)", ".3f"),
    ("ratio_to_baseline", "x float32", ".2f"),
)


def summarize_run(run_dir, benchmark_json="benchmark.json"):
    """One row per exported `.tflite` of a run folder: accuracy (Keras vs TFLite), size and
    latency, from the files the export and benchmark stages wrote (contract JSONs and
    `benchmark_json`). Returns (rows, table text)."""
    import glob
    import json
    import os

    latency = {}
    path = os.path.join(run_dir, benchmark_json)
    if os.path.isfile(path):
        with open(path) as f:
            for row in json.load(f)["rows"]:
                if row["threads"] == 1:
                    latency[os.path.basename(row["model"])] = row
    rows = []
    for contract_path in sorted(glob.glob(os.path.join(run_dir, "*.json"))):
        with open(contract_path) as f:
            contract = json.load(f)
        if not isinstance(contract, dict) or "model_file" not in contract:
            continue
        evaluation = contract.get("evaluation") or {}
        measured = latency.get(contract["model_file"], {})
        rows.append({"artifact": contract["model_file"], "size_bytes": contract["size_bytes"],
                     **{k: evaluation.get(k) for k in ("keras_accuracy", "tflite_accuracy",
                                                        "agreement")},
                     "p50_ms": measured.get("p50_ms"),
                     "ratio_to_baseline": measured.get("ratio_to_baseline")})
    return rows, format_table(rows, RUN_SUMMARY_COLUMNS)
