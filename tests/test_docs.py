"""The README and the docs as a user reads them: their tables render, their command lines and
python blocks run as written (or say why not), their figures are the benchmarks' records, the
site builds, and the zoo they point to carries no machine's paths."""

import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest

from conftest import REPO

README = os.path.join(REPO, "README.md")
# The README and every docs page but the generated figures page, whose commands are the
# provenance of its records, not instructions.
DOCUMENTS = [README] + sorted(p for p in glob.glob(os.path.join(REPO, "docs", "*.md"))
                              if os.path.basename(p) != "figures.md")

# Every command line of the docs, and how the slow test runs it: the line with its
# placeholders filled in ({run}: a tiny training run, {tmp}: a scratch folder; extra flags keep
# the data small), or None and why not.
README_COMMANDS = {
    "bash scripts/setup.sh": "{line}",
    "python scripts/train.py --model NAME --dataset fashion_mnist --epochs N --batch_size B "
    "--input_size 32 --output_dir DIR":
        "python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --epochs 1 "
        "--batch_size 64 --input_size 32 --output_dir {run} --max_train_examples 512 "
        "--max_eval_examples 256",
    "python scripts/profile_model.py --model mobilenet_v2_100 --input_size 224": "{line}",
    "python scripts/export.py --model DIR/model.keras --mode int8 --dataset fashion_mnist "
    "--output DIR/model_int8.tflite --evaluate":
        "python scripts/export.py --model {run}/model.keras --mode int8 --dataset fashion_mnist "
        "--output {run}/model_int8.tflite --evaluate --max_eval_examples 500",
    "python scripts/export.py --model DIR/model.keras --mode int8 --evaluate":
        "python scripts/export.py --model {run}/model.keras --mode int8 --evaluate "
        "--max_eval_examples 200 --output {tmp}/readme_int8.tflite",
    "python scripts/inspect_tflite.py --model FILE.tflite [--tensors]":
        "python scripts/inspect_tflite.py --model {run}/model_int8.tflite --tensors",
    "python scripts/benchmark.py --models a.tflite,b.tflite --threads 1,2 --num_runs 200 "
    "--json out.json":
        "python scripts/benchmark.py --models {run}/model_int8.tflite,"
        "models/squeezenet_1_1_fashion/model_int8.tflite "
        "--threads 1,2 --num_runs 200 --json {tmp}/out.json",
    "python scripts/benchmark.py --models a.tflite,b.tflite":
        "python scripts/benchmark.py --models {run}/model_int8.tflite,"
        "models/squeezenet_1_1_fashion/model_int8.tflite --num_runs 20",
    "python scripts/summarize_run.py --run_dir DIR": "python scripts/summarize_run.py --run_dir {run}",
    "python scripts/make_golden_vectors.py --model DIR/model_int8.tflite --output "
    "android_demo/core/golden/NAME.json":
        "python scripts/make_golden_vectors.py --model {run}/model_int8.tflite "
        "--output {tmp}/golden.json",
    "python scripts/pipeline.py --recipe models/NAME/recipe.json --preset short":
        "python scripts/pipeline.py --recipe models/shufflenet_v2_x0_5_fashion/recipe.json "
        "--preset short --check",
    "python scripts/benchmark.py --target micro --models a.tflite --json micro.json":
        "python scripts/benchmark.py --target micro --models "
        "models/squeezenet_1_1_fashion/model_int8.tflite --dataset fashion_mnist "
        "--max_examples 20 --num_runs 5 --json {tmp}/micro.json",
    "python -m tools.fuzz_tflite --count 1000":
        "python -m tools.fuzz_tflite --count 20 --json {tmp}/fuzz.json "
        "--failures_dir {tmp}/fuzz_failures",
    "python -m benchmarks.figures": "python -m benchmarks.figures --check",
    "python -m benchmarks.zoo": "python -m benchmarks.zoo --num_runs 5 --json {tmp}/zoo.json",
}
# Why the others are not run here.
_IN_PROCESS = ("the same program and flags run in-process in {} (left out here to keep CI's slow "
               "step short)")
_BENCHMARK = "a benchmark of minutes to hours; {} runs it on a tiny input in-process"
NOT_RUN = {
    "python scripts/train.py --init_from DIR/model.keras --qat --epochs 1 --learning_rate 2e-4 "
    "--output_dir DIR_QAT": _IN_PROCESS.format("tests/test_quantization.py"),
    "python scripts/export.py --model DIR/model.keras --accuracy_budget_pp 0.3 --evaluate":
        _IN_PROCESS.format("tests/test_convert.py"),
    "python scripts/train.py --init_from DIR/model.keras --prune_final_sparsity 0.75 --epochs 2 "
    "--learning_rate 5e-4 --output_dir DIR_P": _IN_PROCESS.format("tests/test_pruning.py"),
    "python scripts/export.py --model DIR_P/model.keras --sparse":
        _IN_PROCESS.format("tests/test_pruning.py"),
    "python scripts/train.py --model squeezenet_1_1 --teacher DIR/model.keras --temperature 4 "
    "--alpha 0.5": _IN_PROCESS.format("tests/test_distillation.py"),
    "python scripts/train.py --model NAME --dataset fashion_mnist --epochs N --output_dir DIR":
        "the README's short form of the docs' train line, which runs",
    "python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --epochs 10 "
    "--batch_size 128 --input_size 32 --output_dir runs/m":
        "10 epochs on the full split; the docs' train line runs on 512 images",
    "python scripts/train.py --model mobilenet_v3_small_100 --weights imagenet --dataset "
    "folder:PHOTOS --input_size 96 --output_dir DIR":
        "needs Keras' ImageNet file (a download) and a photo folder; tests/test_weights.py "
        "trains from a keras.applications weights file in-process",
    "bash scripts/run.sh": "the main job (minutes); benchmarks.main_job measures it",
    "bash scripts/test.sh": "the test suite itself",
    "python3 tools/peak_memory.py bash scripts/run.sh": "measures the main job (minutes)",
    "python -m benchmarks.NAME": "a placeholder for any benchmark's name",
    "python -m benchmarks.training --epochs 15": _BENCHMARK.format("tests/test_training.py"),
    "python -m benchmarks.quantization --float_runs DIR1,DIR2 --low_bit_run DIR1":
        "a benchmark of hours",
    "python -m benchmarks.compression --float_run DIR --epochs 2 --channel_epochs 4":
        _BENCHMARK.format("tests/test_pruning.py"),
    "python -m benchmarks.export": "a benchmark of every builder at 224 px",
    "python scripts/export.py --model released.tflite --scores float_logits":
        "tests/test_scores.py runs it on a copy of a zoo model",
    "python -m benchmarks.scores --runs DIR1,DIR2 --released models/*/model_int8.tflite":
        "a benchmark of minutes",
    "python scripts/export.py --model DIR/model.keras --ptq cle,adaround,bias_correction "
    "--per_tensor --evaluate": _IN_PROCESS.format("tests/test_ptq.py (every step, and "
                                                  "per-tensor weights)"),
    "python -m benchmarks.ptq --runs DIR1,DIR2": _BENCHMARK.format("tests/test_ptq.py"),
    "python -m benchmarks.keras3_qat": _BENCHMARK.format("tests/test_keras3.py"),
    "python -m benchmarks.xnnpack": _BENCHMARK.format("tests/test_convert.py"),
    "python -m benchmarks.activation_ranges --run DIR": _BENCHMARK.format("tests/test_ptq.py"),
    "python -m benchmarks.camera --count 100":
        "a benchmark of minutes; tests/test_golden.py runs its study on a few frames",
    "python -m benchmarks.main_job": "runs the main job (minutes)",
    "python -m benchmarks.suite": "runs the test suite",
    "python scripts/pipeline.py --recipe models/mobilenet_v1_050_fashion_camera/recipe.json "
    "--preset short": "the main job, `bash scripts/run.sh`",
    "python scripts/pipeline.py --recipe models/NAME/recipe.json --preset full "
    "--release models/NAME": "the full recipe (over an hour); writes into the zoo",
    "python scripts/export.py --model DIR/model.keras --target micro --evaluate":
        _IN_PROCESS.format("tests/test_micro.py"),
    "python scripts/search.py --recipe models/micro_fashion/recipe.json --budget "
    "arena_kb=64,flash_kb=256": "a search of an hour; tests/test_search.py runs a tiny one "
                                "in-process",
    "python scripts/benchmark.py --device --benchmark_binary ./benchmark_model --models "
    "a.tflite": "needs a phone over adb",
    "python scripts/bundle_android_model.py --model DIR/model_int8.tflite --name NAME":
        "writes into the Android demo; the convert tests bundle into a copy",
    "python scripts/pipeline.py --recipe FILE [--preset NAME]": "the same program as above",
    "python scripts/train.py --model mobilenet_v1_050 --epochs 30 --batch_size 256 "
    "--strategy multi_worker --output_dir /shared/runs/v1": "needs two machines",
}
# The python blocks of the docs pages that no test runs as written, and why (the README's run
# as a notebook; the docs' others run in test_docs_python_blocks_run_as_written).
PYTHON_NOT_RUN = {
    ("convert.md", 0): "a fragment on a `model` and `data` of the reader's; tests/test_api.py "
                       "exports by name and with options=",
    ("compression.md", 0): "a fragment on a `model` and `data` of the reader's; "
                           "tests/test_ptq.py exports with every step",
    ("compression.md", 1): "a fragment on a `float_model` of the reader's; "
                           "tests/test_quantization.py quantizes, trains, saves and loads",
    ("compression.md", 2): "a fragment on a trained `model`; tests/test_pruning.py runs each call",
    ("compression.md", 3): "a fragment on a `student` and `teacher`; tests/test_distillation.py",
    ("training.md", 0): "10 epochs on the full split; tests/test_training.py trains through the "
                        "same call",
}


def command_lines(path):
    """Every command line a page gives: lines of its bash blocks (continuations joined,
    comments and environment assignments dropped) and `python scripts/...`,
    `python -m benchmarks.NAME` / `tools.NAME` and `python3 tools/...` code spans."""
    text = open(path).read()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*", "", line).strip()
            line = re.sub(r"^(\w+='[^']*'\s+)+", "", line)
            if line and not line.startswith(("#", "source ")):
                lines.append(" ".join(line.split()))
    spans = re.findall(r"`(python3? (?:scripts/|tools/|-m (?:benchmarks|tools)\.)[^`]+)`", text)
    lines += [" ".join(span.split()) for span in spans if "..." not in span]  # "..." elides
    return lines


def docs_command_lines():
    return list(dict.fromkeys(line for path in DOCUMENTS for line in command_lines(path)))


def python_blocks(path, section=None):
    """The ```python blocks of a page (or of one of its `## ` sections), in order."""
    text = open(path).read()
    if section:
        start = text.index(section)
        end = text.find("\n## ", start + len(section))
        text = text[start:end if end > 0 else None]
    return re.findall(r"```python\n(.*?)```", text, re.DOTALL)


@pytest.mark.slow  # 11 s: trains and exports; tests/test_api.py covers the calls in the fast suite
def test_readme_library_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The "Using the library" blocks, one after another in one namespace, as in a notebook;
    what its comments claim about the export is what the export is."""
    blocks = python_blocks(README, "## Using the library")
    assert len(blocks) >= 2 and "tflite_lite.export(" in blocks[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, README, "exec"), namespace)  # noqa: S102  (our own README)
    printed = capsys.readouterr().out
    assert "ExportResult(int8" in printed and "0 float ops" in printed
    # the Keras 3 model, then its QAT model from its .keras file: all int8 too
    assert printed.count("0 float ops") == 3 and "keras3" not in printed
    from tflite_lite import compression

    assert compression.is_quantized(namespace["qat"])
    assert (tmp_path / "runs" / "notebook" / "k3_qat.keras").is_file()
    contract = namespace["result"].contract
    assert contract["input"]["dtype"] == "int8" and contract["output"]["dtype"] == "float32"
    assert "int8 input, float32 logits out" in blocks[0]
    assert (tmp_path / "runs" / "notebook" / "model_int8.json").is_file()
    assert namespace["result"].evaluation["num_examples"] == 500


@pytest.mark.slow  # loads a dataset and builds models
def test_docs_python_blocks_run_as_written(tmp_path, monkeypatch):
    """Each docs page's python blocks run in order in one namespace, unless listed with the
    reason they do not."""
    monkeypatch.chdir(tmp_path)
    listed, ran = set(), 0
    for path in DOCUMENTS[1:]:
        namespace = {}
        for index, block in enumerate(python_blocks(path)):
            key = (os.path.basename(path), index)
            if key in PYTHON_NOT_RUN:
                listed.add(key)
                continue
            exec(compile(block, path, "exec"), namespace)  # noqa: S102  (our own docs)
            ran += 1
    assert listed == set(PYTHON_NOT_RUN), "listed blocks that are no longer in the docs"
    assert ran >= 2


def test_tables_have_no_stray_rows():
    """A blank line inside a Markdown table ends it: the rows after it render as raw text."""
    for path in DOCUMENTS:
        lines = open(path).read().splitlines()
        fenced = False
        for number, line in enumerate(lines, 1):
            if line.startswith("```"):
                fenced = not fenced
            previous = lines[number - 2] if number > 1 else ""
            if fenced or not line.startswith("|") or previous.startswith("|"):
                continue
            # A table starts here: its header, then the separator row.
            separator = lines[number] if number < len(lines) else ""
            assert re.fullmatch(r"\|( *:?-+:? *\|)+", separator.strip()), \
                f"{os.path.relpath(path, REPO)} line {number}: a table row outside a table"


def test_readme_is_short():
    assert len(open(README).read().splitlines()) <= 250


def test_figures_are_the_benchmarks_records():
    """The figures page and the README's figures are what `python -m benchmarks.figures`
    makes from the committed records; a hand edit or a new record not yet applied fails."""
    from benchmarks import figures

    assert figures.stale_files() == []
    page = open(figures.FIGURES_PAGE).read()
    commands = [figures.results_file.load(name)["command"] for name in figures.PAGE_RECORDS]
    assert all(f"`{command}`" in page for command in commands)


def test_auto_is_compared_with_the_best_of_its_candidates_run_alone():
    from benchmarks import figures

    def row(variant, agreement):
        return {"model": "m", "variant": variant, "agreement": agreement, "gap_pp": -0.1,
                "seconds": 50.0, "auto_plan": {"chosen": "bias_correction"}}

    rows = [row("plain", 0.98), row("bias_correction", 0.985), row("int16x8", 0.999),
            row("auto", 0.984)]
    [auto] = figures.auto_rows(figures._rows_by_model(rows))
    assert auto["best"] == "bias_correction"  # int16x8 is no candidate of auto
    assert auto["versus_best_pp"] == pytest.approx(-0.1) and auto["kept"] == "bias_correction"


@pytest.mark.slow  # 10-20 s
@pytest.mark.skipif(shutil.which("mkdocs", path=os.path.dirname(sys.executable)) is None,
                    reason="MkDocs is not installed (the docs extra, which scripts/setup.sh adds)")
def test_site_builds_strict_and_offline(tmp_path):
    """`mkdocs build --strict`: every page in the nav, every link and anchor resolves, the API
    reference renders from the docstrings; the theme loads no web fonts."""
    mkdocs = os.path.join(os.path.dirname(sys.executable), "mkdocs")
    result = subprocess.run([mkdocs, "build", "--strict", "--site-dir", str(tmp_path / "site")],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env=dict(os.environ, NO_MKDOCS_2_WARNING="1"))
    assert result.returncode == 0, result.stderr[-3000:]
    index = (tmp_path / "site" / "index.html").read_text()
    assert "fonts.googleapis.com" not in index


def test_every_docs_command_line_is_run_or_says_why_not():
    lines = docs_command_lines()
    assert "bash scripts/run.sh" in lines and "bash scripts/test.sh" in lines
    unknown = [line for line in lines if line not in README_COMMANDS and line not in NOT_RUN]
    assert not unknown, f"command lines the docs test does not know: {unknown}"
    gone = [line for line in {**README_COMMANDS, **NOT_RUN} if line not in lines]
    assert not gone, f"no longer in the docs: {gone}"
    for line, command in README_COMMANDS.items():
        assert command is not None or line in NOT_RUN, line
        if command is not None:  # the same program, the README's flags kept
            written, run = shlex.split(line), shlex.split(command.format(line=line, run="R",
                                                                         tmp="T"))
            assert run[:2] == written[:2], line
            flags = {w.split("=")[0] for w in written if w.startswith("--")}
            assert flags <= {w.split("=")[0] for w in run if w.startswith("--")}, line


@pytest.mark.slow
def test_docs_command_lines_run_as_written(tmp_path):
    """Each line as a user types it after the Quickstart: in a shell, in the repository, after
    `source .venv/bin/activate`, with no environment variables that quieten TensorFlow."""
    activate = os.path.join(REPO, ".venv", "bin", "activate")
    in_venv = os.path.isfile(activate) and os.path.realpath(sys.prefix) == os.path.realpath(
        os.path.join(REPO, ".venv"))
    prefix = "source .venv/bin/activate && " if in_venv else ""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_CPP")}
    if not in_venv:  # the interpreter running the tests stands in for the venv
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    run_dir = tmp_path / "run"
    ran = []
    for line, command in README_COMMANDS.items():
        if command is None:
            continue
        command = command.format(line=line, run=run_dir, tmp=tmp_path)
        result = subprocess.run(["bash", "-c", prefix + command], cwd=REPO, env=env,
                                capture_output=True, text=True, timeout=600)
        assert result.returncode == 0, f"{command}\n{result.stderr[-3000:]}"
        chatter = [l for l in (result.stdout + result.stderr).splitlines()
                   if re.match(r"(INFO|WARNING): |[IWE]\d{4} |fully_quantize: |"
                               r"WARNING:absl:|.*BackupAndRestore", l)]
        assert not chatter, f"{command}: TensorFlow/LiteRT chatter: {chatter[:3]}"
        ran.append(command)
    assert len(ran) == sum(c is not None for c in README_COMMANDS.values())
    assert (run_dir / "model_int8.tflite").is_file() and (tmp_path / "out.json").is_file()


ABSOLUTE_PATH = re.compile(r"(?<![\w.~])/(home|work|tmp|root|Users|usr|var|opt|mnt|srv|data)/")


def _shipped_files():
    assets = os.path.join(REPO, "android_demo", "app", "src", "main", "assets")
    return sorted(glob.glob(os.path.join(REPO, "models", "**", "*"), recursive=True)
                  + glob.glob(os.path.join(assets, "**", "*"), recursive=True))


def test_zoo_and_app_assets_carry_no_machine_paths():
    from tflite_lite.convert import flatbuffer

    checked = 0
    for path in _shipped_files():
        if path.endswith(".tflite"):
            with open(path, "rb") as f:
                data = f.read()
            texts = [flatbuffer.read_metadata(data, name) or b""
                     for name in (flatbuffer.CONTRACT_METADATA, flatbuffer.LABELS_METADATA)]
            text = b"\n".join(texts).decode()
        elif path.endswith((".json", ".md", ".txt")):
            text = open(path).read()
        else:
            continue
        checked += 1
        assert not ABSOLUTE_PATH.search(text), f"{os.path.relpath(path, REPO)}: a machine path"
        if path.endswith(".json"):
            strings = re.findall(r'"([^"]*)"', text)
            assert not [s for s in strings if s.startswith("/")], os.path.relpath(path, REPO)
    assert checked >= 12


_INT8_OUTPUT_CLAIMS = re.compile(r"int8 I/O|int8 input and output|int8 in and out|int8 output")


def test_every_output_dtype_claim_is_what_the_file_has():
    """A zoo card claims an int8 output only where its contract says the file gives one; the
    README and the docs never claim it for the default export, whose output is float32."""
    for card in glob.glob(os.path.join(REPO, "models", "*", "README.md")):
        contract = json.load(open(os.path.join(os.path.dirname(card), "model_int8.json")))
        if contract["output"]["dtype"] != "int8":
            claims = _INT8_OUTPUT_CLAIMS.findall(open(card).read())
            assert not claims, f"{os.path.relpath(card, REPO)} says {claims[0]!r}"
    for path in DOCUMENTS:
        claims = [m for m in _INT8_OUTPUT_CLAIMS.findall(open(path).read()) if m != "int8 output"]
        assert not claims, f"{os.path.relpath(path, REPO)} says {claims[0]!r}"
