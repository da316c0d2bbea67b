"""The README as a user reads it: its tables render, its command lines run as written after
the Quickstart, and the zoo it points to carries no machine's paths."""

import glob
import os
import re
import shlex
import subprocess
import sys

import pytest

from conftest import REPO

README = os.path.join(REPO, "README.md")

# Every command line of the README, and how the slow test runs it: the line with its
# placeholders filled in ({run}: a tiny training run, {tmp}: a scratch folder; extra flags keep
# the data small), or None and why not.
README_COMMANDS = {
    "python scripts/train.py --model list": "{line}",
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
    "python scripts/train.py --init_from DIR/model.keras --qat --epochs 1 --learning_rate 2e-4 "
    "--output_dir DIR_QAT": None,
    "python scripts/export.py --model DIR/model.keras --accuracy_budget_pp 0.3 --evaluate": None,
    "python scripts/train.py --init_from DIR/model.keras --prune_final_sparsity 0.75 --epochs 2 "
    "--learning_rate 5e-4 --output_dir DIR_P": None,
    "python scripts/export.py --model DIR_P/model.keras --sparse": None,
    "python scripts/inspect_tflite.py --model FILE.tflite [--tensors]":
        "python scripts/inspect_tflite.py --model {run}/model_int8.tflite --tensors",
    "python scripts/benchmark.py --models a.tflite,b.tflite --threads 1,2 --num_runs 200 "
    "--json out.json":
        "python scripts/benchmark.py --models {run}/model_int8.tflite,"
        "models/squeezenet_1_1_fashion/model_int8.tflite "
        "--threads 1,2 --num_runs 200 --json {tmp}/out.json",
    "python scripts/summarize_run.py --run_dir DIR": "python scripts/summarize_run.py --run_dir {run}",
    "python scripts/bundle_android_model.py --model DIR/model_int8.tflite --name NAME": None,
    "python scripts/make_golden_vectors.py --model DIR/model_int8.tflite --output "
    "android_demo/core/golden/NAME.json":
        "python scripts/make_golden_vectors.py --model {run}/model_int8.tflite "
        "--output {tmp}/golden.json",
    "python scripts/train.py --model squeezenet_1_1 --teacher DIR/model.keras --temperature 4 "
    "--alpha 0.5": None,
    "python scripts/pipeline.py --recipe models/NAME/recipe.json --preset short":
        "python scripts/pipeline.py --recipe models/shufflenet_v2_x0_5_fashion/recipe.json "
        "--preset short --check",
    "python scripts/pipeline.py --recipe FILE [--preset NAME]": None,
    "python scripts/pipeline.py --recipe models/NAME/recipe.json --preset full":
        "python scripts/pipeline.py --recipe models/squeezenet_1_1_fashion/recipe.json "
        "--preset full --check",
    "python scripts/inspect_tflite.py --model models/squeezenet_1_1_fashion/model_int8.tflite":
        "{line}",
    "python scripts/benchmark.py --target micro --models a.tflite --json micro.json":
        "python scripts/benchmark.py --target micro --models "
        "models/squeezenet_1_1_fashion/model_int8.tflite --dataset fashion_mnist "
        "--max_examples 20 --num_runs 5 --json {tmp}/micro.json",
    "python scripts/fuzz_tflite.py --count 1000":
        "python scripts/fuzz_tflite.py --count 20 --json {tmp}/fuzz.json "
        "--failures_dir {tmp}/fuzz_failures",
}
# Why the others are not run here.
_IN_PROCESS = ("the same program and flags run in-process in {} (left out here to keep CI's slow "
               "step near 15 min)")
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
    "python scripts/train.py --model mobilenet_v3_small_100 --weights imagenet --dataset "
    "folder:PHOTOS --input_size 96 --output_dir DIR":
        "needs Keras' ImageNet file (a download) and a photo folder; tests/test_weights.py "
        "trains from a keras.applications weights file in-process",
    "bash scripts/run.sh": "the main job (minutes); measured on a clean clone for each release",
    "bash scripts/test.sh": "the test suite itself",
    "python3 scripts/peak_memory.py bash scripts/run.sh": "measures the main job (minutes)",
    "python scripts/bench_train.py --epochs 15": "a benchmark of hours; tests run it on 64 images",
    "python scripts/bench_train.py --models mobilenet_v2_035 --epochs 15": "a benchmark",
    "python scripts/bench_train.py --epochs 5": "a benchmark",
    "python scripts/bench_quantization.py --float_runs DIR1,DIR2 --low_bit_run DIR1": "a benchmark",
    "python scripts/bench_quantization.py --step_model mobilenet_v2_100": "a benchmark",
    "python scripts/bench_compression.py --float_run DIR --epochs 2 --channel_epochs 4":
        "a benchmark",
    "python scripts/bench_export.py": "a benchmark of every builder at 224 px",
    "python scripts/export.py --model released.tflite --scores float_logits":
        "tests/test_scores.py runs it on a copy of a zoo model",
    "python scripts/bench_scores.py --runs DIR1,DIR2 --released models/*/model_int8.tflite":
        "a benchmark",
    "python scripts/bench_scores.py --released models/squeezenet_1_1_fashion/model_int8.tflite":
        "a benchmark",
    "python scripts/bench_ptq.py --runs runs/bench_train/M --variants plain,cle,bias_correction,"
    "cle+bias_correction,per_tensor,per_tensor+cle,dynamic,qat": "a benchmark (minutes per run)",
    "python scripts/export.py --model DIR/model.keras --ptq cle,adaround,bias_correction "
    "--per_tensor --evaluate": _IN_PROCESS.format("tests/test_ptq.py (every step, and "
                                                  "per-tensor weights)"),
    "python scripts/bench_ptq.py --runs DIR1,DIR2":
        "a benchmark; tests/test_ptq.py runs it on the session's trained run",
    "python scripts/study_activation_ranges.py --run DIR":
        "a study; tests/test_ptq.py runs it on the session's trained run",
    "python scripts/bench_camera.py --count 100":
        "a benchmark of minutes; tests/test_golden.py runs its study on a few frames",
    "python scripts/bench_compression.py --float_run runs/bench_train/mobilenet_v2_035 "
    "--epochs 2 --channel_epochs 4": "a benchmark",
    "python scripts/pipeline.py --recipe models/mobilenet_v1_050_fashion_camera/recipe.json "
    "--preset short": "the main job, `bash scripts/run.sh`",
    "python scripts/pipeline.py --recipe models/NAME/recipe.json --preset full "
    "--release models/NAME": "the full recipe (over an hour); writes into the zoo",
    "python scripts/benchmark.py --target micro --models $(ls models/*/model_int8.tflite | "
    "paste -sd,) --max_examples 2000": "a benchmark (minutes); the README's micro command runs "
                                       "it on one zoo model",
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


def readme_command_lines():
    """Every command line the README gives: lines of its bash blocks (continuations joined,
    comments and environment assignments dropped) and `python scripts/...` code spans."""
    text = open(README).read()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.DOTALL):
        for line in block.replace("\\\n", " ").splitlines():
            line = re.sub(r"\s+#.*", "", line).strip()
            line = re.sub(r"^(\w+='[^']*'\s+)+", "", line)
            if line and not line.startswith(("#", "source ")):
                lines.append(" ".join(line.split()))
    spans = (" ".join(span.split()) for span in re.findall(r"`(python3? scripts/[^`]+)`", text))
    lines += [span for span in spans if "..." not in span]  # "..." marks an elided line
    return list(dict.fromkeys(lines))


def readme_python_blocks(section="## Using the library"):
    """The ```python blocks of one README section, in order."""
    text = open(README).read()
    start = text.index(section)
    end = text.find("\n## ", start + len(section))
    return re.findall(r"```python\n(.*?)```", text[start:end if end > 0 else None], re.DOTALL)


def test_readme_library_example_runs_as_written(tmp_path, monkeypatch, capsys):
    """The "Using the library" blocks, one after another in one namespace, as in a notebook."""
    blocks = readme_python_blocks()
    assert len(blocks) >= 2 and "tflite_lite.export(" in blocks[0]
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for block in blocks:
        exec(compile(block, README, "exec"), namespace)  # noqa: S102  (our own README)
    printed = capsys.readouterr().out
    assert "ExportResult(int8" in printed and "0 float ops" in printed
    assert (tmp_path / "runs" / "notebook" / "model_int8.json").is_file()
    assert namespace["result"].evaluation["num_examples"] == 500


def test_readme_tables_have_no_stray_rows():
    """A blank line inside a Markdown table ends it: the rows after it render as raw text."""
    lines = open(README).read().splitlines()
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
            f"README.md line {number}: a table row outside a table"


def test_every_readme_command_line_is_run_or_says_why_not():
    lines = readme_command_lines()
    assert "python scripts/train.py --model list" in lines
    unknown = [line for line in lines if line not in README_COMMANDS and line not in NOT_RUN]
    assert not unknown, f"README command lines the README test does not know: {unknown}"
    gone = [line for line in {**README_COMMANDS, **NOT_RUN} if line not in lines]
    assert not gone, f"no longer in the README: {gone}"
    for line, command in README_COMMANDS.items():
        assert command is not None or line in NOT_RUN, line
        if command is not None:  # the same program, the README's flags kept
            written, run = shlex.split(line), shlex.split(command.format(line=line, run="R",
                                                                         tmp="T"))
            assert run[:2] == written[:2], line
            flags = {w.split("=")[0] for w in written if w.startswith("--")}
            assert flags <= {w.split("=")[0] for w in run if w.startswith("--")}, line


@pytest.mark.slow
def test_readme_command_lines_run_as_written(tmp_path):
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
