"""Makes every published figure from data: `docs/figures.md` from the committed benchmark
records (`benchmarks/results/*.json`), and the generated blocks of the README and the
docs pages (between `<!-- figures:NAME -->` and `<!-- /figures -->`) from those records and the
zoo's contracts.

Usage:
  python -m benchmarks.figures           # rewrite the docs' figures
  python -m benchmarks.figures --check   # exit 1 if a file is out of date (the tests run it)

Nothing here imports TensorFlow.
"""

import glob
import os
import re
import sys

from benchmarks import results_file
from tflite_lite import artifacts
from tflite_lite.contract import Contract
from tflite_lite.errors import UserError

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIGURES_PAGE = os.path.join(REPO, "docs", "figures.md")
README = os.path.join(REPO, "README.md")
# The figures page, in reading order: the records of benchmarks/results/ by name.
PAGE_RECORDS = ("main_job", "suite", "zoo", "training", "builders_224", "quantization",
                "low_bit", "ptq", "ptq_mobilenet_v2_100", "scores", "compression",
                "channel_pruning", "distillation", "micro_zoo", "keras3_qat", "keras3_pruning",
                "keras3_qat_full", "keras3_jax", "keras3_qat_small", "xnnpack",
                "ptq_engines", "ptq_auto")
_BLOCK = re.compile(r"(<!-- figures:(\w+) -->\n)(.*?)(<!-- /figures -->)", re.DOTALL)


def _cell(value, spec):
    if value is None:
        return "-"
    if isinstance(value, str) or not spec or spec == "s":
        return str(value)
    return format(value, spec)


def markdown_table(columns, rows):
    """A Markdown table: `columns` as (key, label, format spec) or plain labels (the rows are
    then dicts of display strings keyed by label)."""
    columns = [tuple(c) if isinstance(c, (list, tuple)) else (c, c, "s") for c in columns]
    lines = ["| " + " | ".join(label for _, label, _ in columns) + " |",
             "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_cell(row.get(key), spec) for key, _, spec in columns)
                     + " |")
    return "\n".join(lines)


def _provenance(record):
    parts = [f"`{record['command']}`"]
    if record.get("commit"):
        parts.append(f"commit {record['commit']}")
    if record.get("created"):
        parts.append(record["created"])
    if record.get("host"):
        parts.append(record["host"])
    text = "Measured by " + ", ".join(parts) + "."
    if record.get("transcribed"):
        text += f" Record {record['transcribed']}"
    return text


def record_section(name, record):
    """The figures page's section for one benchmark record."""
    title = record.get("title") or name.replace("_", " ").capitalize()
    parts = [f"## {title}", record.get("about", ""), _record_body(name, record),
             record.get("notes", ""), _provenance(record)]
    return "\n\n".join(part for part in parts if part)


def _record_body(name, record):
    if name in _BODIES:
        return _BODIES[name](record)
    return markdown_table(record["columns"], record["rows"])


def _main_job_body(record):
    rows = [dict(row, accuracy=row["tflite_accuracy"]) for row in record["artifacts"]]
    table = markdown_table((("file", "export", "s"), ("accuracy", "TFLite accuracy", ".4f"),
                            ("eval_examples", "test images", ",d"),
                            ("size_bytes", "bytes", ",d"), ("p50_ms", "p50 ms", ".3f")), rows)
    return (f"`bash scripts/run.sh` (preset `{record['preset']}`): "
            f"{record['wall_seconds'] / 60:.1f} min in all, set-up included, of which "
            f"{record['train_minutes']:.1f} min training; peak memory "
            f"{record['peak_memory_bytes'] / 2**30:.2f} GiB.\n\n{table}")


def _suite_body(record):
    return (f"After set-up, {record['passed']} tests passed in {record['pytest_seconds']:.0f} s "
            f"of pytest ({record['wall_seconds']:.0f} s in all).")


# ptq="auto"'s candidates under their bench_ptq names (benchmarks/ptq.py VARIANTS).
AUTO_CANDIDATES = ("plain", "bias_correction", "cle+bias_correction", "litert_int8",
                   "adaround+bias_correction")


def _rows_by_model(rows):
    models = {}
    for row in rows:
        models.setdefault(row["model"], {})[row["variant"]] = row
    return models


def _ptq_agreement_table(models, variants):
    rows = [{"model": model, "float": next(iter(found.values()))["keras_accuracy"],
             **{name: f"{row['agreement']:.4f} ({row['gap_pp']:+.2f})"
                for name, row in found.items()}} for model, found in models.items()]
    return markdown_table([("model", "model", "s"), ("float", "float acc", ".4f")]
                          + [(name, name, "s") for name in variants], rows)


def auto_rows(models):
    """Per model: auto's test agreement against the best of its candidates run alone."""
    rows = []
    for model, found in models.items():
        auto = found["auto"]
        best = max((found[name] for name in AUTO_CANDIDATES if name in found),
                   key=lambda row: row["agreement"])
        rows.append({"model": model, "agreement": auto["agreement"], "gap_pp": auto["gap_pp"],
                     "best": best["variant"], "best_agreement": best["agreement"],
                     "versus_best_pp": 100 * (auto["agreement"] - best["agreement"]),
                     "seconds": auto["seconds"], "kept": auto["auto_plan"]["chosen"]})
    return rows


AUTO_COLUMNS = (("model", "model", "s"), ("agreement", "auto agree", ".4f"),
                ("gap_pp", "auto gap pp", "+.2f"), ("kept", "auto kept", "s"),
                ("seconds", "auto s", ".0f"), ("best", "best candidate alone", "s"),
                ("best_agreement", "its agree", ".4f"),
                ("versus_best_pp", "auto − best pp", "+.2f"))


def engine_rows(models):
    """Per model: LiteRT Quantizer's files beside the converter's (size, latency, accuracy)."""
    rows = []
    for model, found in models.items():
        plain, w4a8 = found["plain"], found["litert_w4a8"]
        rows.append({"model": model, "int8_bytes": plain["size_bytes"],
                     "w4a8_ratio": w4a8["size_bytes"] / plain["size_bytes"],
                     "w4a8_pp": 100 * (w4a8["int8_accuracy"] - plain["int8_accuracy"]),
                     "int8_p50": plain["p50_ms"], "litert_p50": found["litert_int8"]["p50_ms"],
                     "w4a8_p50": w4a8["p50_ms"],
                     "int8_agreement": plain["agreement"],
                     "litert_agreement": found["litert_int8"]["agreement"],
                     "int16x8_agreement": found["int16x8"]["agreement"],
                     "a16w8_agreement": found["litert_a16w8"]["agreement"]})
    return rows


ENGINE_COLUMNS = (("model", "model", "s"), ("int8_bytes", "int8 bytes", ",d"),
                  ("w4a8_ratio", "w4a8 ÷ int8 size", ".2f"),
                  ("w4a8_pp", "w4a8 − int8 acc pp", "+.2f"), ("int8_p50", "int8 p50 ms", ".3f"),
                  ("litert_p50", "LiteRT int8 p50 ms", ".3f"),
                  ("w4a8_p50", "w4a8 p50 ms", ".3f"), ("int8_agreement", "int8 agree", ".4f"),
                  ("litert_agreement", "LiteRT int8 agree", ".4f"),
                  ("int16x8_agreement", "int16x8 agree", ".4f"),
                  ("a16w8_agreement", "LiteRT a16w8 agree", ".4f"))


def _ptq_auto_body(record):
    models = _rows_by_model(record["rows"])
    variants = list(dict.fromkeys(row["variant"] for row in record["rows"]))
    return "\n\n".join([
        "Agreement with the float model on test (int8 accuracy − float, pp):",
        _ptq_agreement_table(models, variants),
        "`auto` against the best of its candidates run alone (agreement on test):",
        markdown_table(AUTO_COLUMNS, auto_rows(models)),
        "LiteRT Quantizer beside the converter (p50 at 1 thread, one interleaved run per model):",
        markdown_table(ENGINE_COLUMNS, engine_rows(models))])


_BODIES = {"main_job": _main_job_body, "suite": _suite_body, "ptq_auto": _ptq_auto_body}


def zoo_rows():
    """One row per zoo entry, from its contract and the zoo benchmark's latency."""
    latency = {row["entry"]: row for row in results_file.load("zoo")["rows"]}
    rows = []
    for path in sorted(glob.glob(os.path.join(REPO, "models", "*", "model_int8.tflite"))):
        entry = os.path.basename(os.path.dirname(path))
        contract = Contract.beside(path)
        evaluation = contract.evaluation or {}
        output = contract["output"]
        rows.append({
            "entry": f"`{entry}`",
            "keras_accuracy": evaluation.get("keras_accuracy"),
            "int8_accuracy": evaluation.get("tflite_accuracy"),
            "test_images": evaluation.get("num_examples"),
            "kb": contract["size_bytes"] / 1024, "macs": contract["macs"] / 1e6,
            "io": f"{contract['input']['dtype']} in, {_output_kind(output)} out",
            "p50_ms": latency.get(entry, {}).get("p50_ms")})
    return rows


def _output_kind(output):
    if output.get("float_head"):
        return "float32 logits"
    return f"{output['dtype']} {output.get('scores', 'probabilities')}"


ZOO_COLUMNS = (("entry", "entry", "s"), ("keras_accuracy", "Keras acc", ".4f"),
               ("int8_accuracy", "int8 acc", ".4f"), ("test_images", "test images", ",d"),
               ("kb", "KB", ".0f"), ("macs", "MACs (M)", ".1f"), ("io", "input / output", "s"),
               ("p50_ms", "p50 ms", ".3f"))


def readme_block(name):
    """The generated text of a page's block `name` (zoo, main_job, suite)."""
    if name == "zoo":
        zoo = results_file.load("zoo")
        return (markdown_table(ZOO_COLUMNS, zoo_rows()) + "\n\nTest accuracy of the released "
                "int8 file and of the Keras model it was exported from, as each entry's contract "
                f"records them; p50 on LiteRT, 1 thread. {_provenance(zoo)}")
    if name in ("main_job", "suite"):
        record = results_file.load(name)
        return f"{_BODIES[name](record)} {_provenance(record)}"
    raise UserError(f"unknown figures block {name!r}; known: zoo, main_job, suite")


def figures_page():
    """The text of `docs/figures.md`."""
    sections = ["# Figures", "Every figure here is generated by `python -m benchmarks.figures` "
                "from the records in `benchmarks/results/`, each written by the command it "
                "names. Absolute times are from a shared 2-core x86-64 machine and drift; "
                "ratios measured in one run hold."]
    sections += [record_section(name, results_file.load(name)) for name in PAGE_RECORDS]
    return "\n\n".join(sections) + "\n"


def with_blocks(path):
    """The text of a page (the README, a docs page) with its generated blocks made anew."""
    text = open(path).read()
    return _BLOCK.sub(lambda m: m.group(1) + readme_block(m.group(2)) + "\n" + m.group(4), text)


def outputs():
    """{path: the text it should have}: the figures page, and every page with blocks."""
    pages = [README] + sorted(glob.glob(os.path.join(REPO, "docs", "*.md")))
    made = {path: with_blocks(path) for path in pages
            if path != FIGURES_PAGE and _BLOCK.search(open(path).read())}
    return {FIGURES_PAGE: figures_page(), **made}


def stale_files():
    """The generated files whose text is out of date, relative to the repository."""
    stale = []
    for path, text in outputs().items():
        current = open(path).read() if os.path.isfile(path) else None
        if current != text:
            stale.append(os.path.relpath(path, REPO))
    return stale


def write_all():
    for path, text in outputs().items():
        with artifacts.atomic_path(path) as tmp:
            with open(tmp, "w") as f:
                f.write(text)
        print(f"wrote {os.path.relpath(path, REPO)}")


def main(argv):
    if argv[1:] not in ([], ["--check"]):
        print("usage: python -m benchmarks.figures [--check]", file=sys.stderr)
        return 2
    try:
        if argv[1:] == ["--check"]:
            stale = stale_files()
            if stale:
                print(f"error: out of date: {', '.join(stale)}; run python -m benchmarks.figures",
                      file=sys.stderr)
                return 1
            return 0
        write_all()
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
