"""Releasing a finished run into the model zoo: the final int8 model, its contract and labels,
and a model card written from the run's measured figures.

    release_run("runs/squeezenet_1_1_fashion_full", "models/squeezenet_1_1_fashion")
"""

import os
import shutil

from tflite_lite import _io
from tflite_lite.contract import LABELS_FILE, Contract
from tflite_lite.convert.micro import write_c_source
from tflite_lite.pipeline.report import load_pipeline_record
from tflite_lite.errors import UserError

MODEL_FILE = "model_int8.tflite"
CONTRACT_FILE = "model_int8.json"


def final_int8(record):
    """The artifact row of the run's final model in int8 (QAT, else pruned, else student)."""
    stages = [row["stage"] for row in record["training"]]
    final = next(s for s in ("qat", "pruned", "student") if s in stages)
    for row in record["artifacts"]:
        if row["stage"] == final and row["mode"] == "int8":
            return row
    raise UserError(f"run {record['run_dir']} has no int8 export of its final model ({final})")


def release_run(run_dir, zoo_dir, command=None, recipe=None):
    """Copies the run's final int8 model, contract and labels into `zoo_dir` (and, for the micro
    target, writes its C source pair there) and writes its `README.md` model card.

    Args:
      run_dir: a finished pipeline run folder (with `pipeline.json`).
      zoo_dir: the zoo folder, e.g. `models/<name>`.
      command: the command that produced the run, for the card. Defaults to None.
      recipe: recipe sections that replace the run's in the card (a search's winner released
        under its own name and description). Defaults to None.

    Returns:
      The model card text.
    """
    record = load_pipeline_record(run_dir)
    if recipe:
        record = dict(record, recipe=dict(record["recipe"], **recipe))
    artifact = final_int8(record)
    export_dir = os.path.join(run_dir, "export")
    source = os.path.join(export_dir, artifact["file"])
    contract = Contract.beside(source).rebase(export_dir, zoo_dir)
    contract["model_file"] = MODEL_FILE
    os.makedirs(zoo_dir, exist_ok=True)
    for origin, name in ((source, MODEL_FILE), (os.path.join(export_dir, LABELS_FILE),
                                                 LABELS_FILE)):
        with _io.atomic_path(os.path.join(zoo_dir, name)) as tmp:
            shutil.copyfile(origin, tmp)
    contract.save(os.path.join(zoo_dir, CONTRACT_FILE))
    if contract.get("micro"):  # the C source pair, named after the zoo's model file
        with open(source, "rb") as f:
            write_c_source(f.read(), zoo_dir, os.path.splitext(MODEL_FILE)[0],
                           contract["micro"]["arena_bytes"], source=MODEL_FILE)
    card = model_card(record, artifact, contract, command)
    with _io.atomic_path(os.path.join(zoo_dir, "README.md")) as tmp:
        with open(tmp, "w") as f:
            f.write(card)
    return card


def _pct(value):
    return "-" if value is None else f"{value:.4f}"


def _output(output):
    if output.get("float_head"):
        weights = output.get("head_weights") or "float32"
        return (f"float32 logits from a float last layer with {weights} weights (the app "
                "applies the softmax)")
    return f"{output['dtype']} {output.get('scores', 'probabilities')} output"


def model_card(record, artifact, contract, command=None):
    """The markdown model card of a released run."""
    recipe = record["recipe"]
    training = {row["stage"]: row for row in record["training"]}
    float_stage = next(s for s in ("pruned", "student") if s in training)
    float_row = training[float_stage]
    float_export = next((r for r in record["artifacts"] if r["stage"] == float_stage
                         and r["mode"] == "float32"), {})
    shape = contract["input"]["shape"][1:]
    summary = record["summary"]
    pruning = (recipe.get("student") or {}).get("channel_pruning")
    thinned = (f", {pruning['fraction']:.0%} of its free channels pruned before training"
               if pruning else "")
    architecture = (recipe.get("student") or {}).get("architecture")
    if architecture:  # the searchable family: each stage as width/depth/kernel/expansion
        thinned += (f", stem {architecture['stem_width']} (stride "
                    f"{architecture['stem_stride']}), stages (width/depth/kernel/expansion) "
                    + ", ".join(f"{s['width']}/{s['depth']}/{s['kernel']}/{s['expansion']}"
                                for s in architecture["stages"]))
    rows = [
        ("architecture", f"`{float_row['model']}`{thinned}, {'x'.join(map(str, shape))} input, "
                         f"{contract['num_classes']} classes"),
        ("how it was trained", "; ".join(
            f"{r['stage']}: {r['how']}, {r['epochs']} epoch{'s' * (r['epochs'] != 1)}"
            for r in record["training"])),
        ("params / MACs", f"{float_row['params']:,} / {float_row['macs'] / 1e6:.1f}M"),
        ("float test accuracy (Keras)", _pct(float_row["test_accuracy"])),
        ("int8 test accuracy (TFLite)",
         f"{_pct(artifact['tflite_accuracy'])} on {artifact['eval_examples']:,} images, top-1 "
         f"agreement {_pct(artifact['agreement'])} with its Keras model"),
        ("int8 file", f"`{MODEL_FILE}`, {artifact['size_bytes']:,} bytes "
                      f"({artifact['gzip_bytes']:,} gzipped); {contract['input']['dtype']} "
                      f"input, {_output(contract['output'])}, "
                      f"{len(contract.get('float_ops') or [])} float ops"),
    ]
    if artifact.get("p50_ms") is not None:
        latency = f"p50 {artifact['p50_ms']:.3f} ms on LiteRT, 1 thread, x86-64 host"
        if float_export.get("p50_ms") is not None:
            latency += f" (float32: {float_export['p50_ms']:.3f} ms)"
        rows.append(("int8 latency", latency))
    if contract.get("micro"):
        rows.append(("TensorFlow Lite Micro", f"tensor arena {contract['micro']['arena_bytes']:,}"
                     f" bytes, flash {contract['micro']['flash_bytes']:,} bytes; C source "
                     "`model_int8_model_data.h` / `.cc`"))
    if "distillation_gain_pp" in summary:
        baseline = training["baseline"]["test_accuracy"]
        rows.append(("distillation", f"{summary['distillation_gain_pp']:+.2f} pp over the same "
                                     f"student from scratch ({baseline:.4f})"))
    rows.append(("training time", f"{summary['train_minutes']:.0f} min on 2 CPU cores "
                                  "(this recipe's stages)"))
    lines = [f"# {recipe['name']}", "", recipe.get("description", ""), "", "| | |", "|---|---|"]
    lines += [f"| {key} | {value} |" for key, value in rows]
    c_pair = "; `model_int8_model_data.h` / `.cc` for a TFLM project" if contract.get(
        "micro") else ""
    lines += ["", f"Files: `{MODEL_FILE}`, its contract `{CONTRACT_FILE}` (input/output "
              f"quantization, preprocessing, class names, evaluation) and `labels.txt`{c_pair}.",
              "",
              "## Exact command", "", "```",
              command or f"python scripts/pipeline.py --recipe models/{recipe['name']}/"
                         f"recipe.json --preset {recipe.get('preset') or 'full'}",
              "```", ""]
    return "\n".join(lines)
