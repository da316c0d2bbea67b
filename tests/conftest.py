"""Shared test set-up: quiet TensorFlow with Keras 2, script runners, shared fixtures.

Scripts run two ways. `run_main(name, *args)` runs `scripts/<name>.py`'s `main()` (or
`benchmarks/<name>.py`'s, `tools/<name>.py`'s for a name with that folder) in this process, through the same flag parsing and error handling as the command line (fast: no
TensorFlow start-up); `run_script(name, *args)` starts the real program in a subprocess, for
the few tests that prove the command-line wiring itself. Both return a `CompletedProcess`.

Session fixtures build, train and export once what several test files need.
"""

import contextlib
import fcntl
import importlib.util
import io
import json
import logging
import os
import subprocess
import sys
import tempfile

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    # pytest-xdist workers share the cores: one TensorFlow thread each runs the suite about
    # 10% faster on 2 cores than each worker's default thread pools competing.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("TF_NUM_INTEROP_THREADS", "1")


def pytest_configure(config):
    """TensorFlow with Keras 2 before any test module imports it; not in a pytest-xdist
    controller, which runs no test (and would delay starting its workers by TensorFlow's
    start-up)."""
    if config.getoption("dist", "no") != "no" and not hasattr(config, "workerinput"):
        return
    from tflite_lite import _keras  # noqa: F401


# What each test file takes (seconds summed over its tests, from `--durations=0` on this
# 2-core machine): (fast suite, slow step). pytest-xdist hands whole files to its workers in
# collection order (scripts/test.sh passes --no-loadscope-reorder); sorted longest first, the
# short files fill in around the long ones and both workers finish together. Unlisted: last.
FILE_SECONDS = {
    "test_convert.py": (70, 40),
    "test_architectures.py": (48, 135),
    "test_pruning.py": (29, 360),
    "test_bad_inputs.py": (23, 160),
    "test_ptq.py": (26, 200),
    "test_weights.py": (20, 17),
    "test_quantization.py": (18, 351),
    "test_distillation.py": (18, 52),
    "test_micro.py": (16, 0),
    "test_api.py": (14, 65),
    "test_keras3.py": (21, 330),
    "test_training.py": (11, 10),
    "test_benchmark.py": (6, 0),
    "test_scores.py": (6, 0),
    "test_fuzz.py": (6, 0),
    "test_search.py": (4, 60),
    "test_data.py": (4, 0),
    "test_pipeline.py": (1, 102),
    "test_docs.py": (1, 90),
    "test_golden.py": (1, 41),
    "test_training_slow.py": (0, 330),
    "test_fault_tolerance.py": (0, 225),
    "test_safety.py": (0, 31),
    "test_contract.py": (0, 0),
}


def pytest_collection_modifyitems(config, items):
    """Test files longest first (see FILE_SECONDS) in the tests selected: the fast suite's
    seconds, the slow step's (`-m slow`) or both (`-m "slow or not slow"`, CI's one run); a
    file's own order is kept."""
    markexpr = config.getoption("markexpr")
    columns = {"slow": (1,), "slow or not slow": (0, 1)}.get(markexpr, (0,))
    items.sort(key=lambda item: -sum(FILE_SECONDS.get(item.path.name, (0, 0))[c]
                                     for c in columns))


REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = os.path.join(REPO, "scripts")
if REPO not in sys.path:  # `benchmarks` and `tools` import as the repository root's packages
    sys.path.insert(0, REPO)


def product_sources():
    """(path relative to the repository, text) of every Python file in tflite_lite/ and
    scripts/."""
    for folder in ("tflite_lite", "scripts"):
        for dirpath, _, files in os.walk(os.path.join(REPO, folder)):
            for name in sorted(files):
                if name.endswith(".py"):
                    path = os.path.join(dirpath, name)
                    yield os.path.relpath(path, REPO), open(path).read()


def import_program(module):
    """Imports a program module (`benchmarks.camera`) for its functions, its absl flags
    defined and dropped again, so that they do not clash with another program's flags of
    the same name later in this process."""
    import importlib

    from absl.testing import flagsaver

    with flagsaver.flagsaver():
        return importlib.import_module(module)


def run_script(name, *args, timeout=600):
    """Runs `python scripts/<name>.py ARGS` and returns the CompletedProcess."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    return subprocess.run([sys.executable, os.path.join(SCRIPTS, f"{name}.py"), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=REPO, env=env)


def run_main(name, *args):
    """Runs `scripts/<name>.py ARGS` (or `benchmarks/...`, `tools/...`) in this process: a fresh copy of the script module (so
    its flags start from their defaults), `cli.parse_flags`, then `cli.guarded(main)`, with
    stdout and stderr captured at the Python and the file-descriptor level. Flags are restored
    afterwards. Returns a CompletedProcess whose returncode is the exit status."""
    from absl.testing import flagsaver

    from tflite_lite import cli

    if "/" in name:  # benchmarks/NAME or tools/NAME: the module's own name, so that a test
        # that imported it first sees its flags redefined as by a reload, not a duplicate
        path, module_name = os.path.join(REPO, f"{name}.py"), name.replace("/", ".")
    else:
        path, module_name = os.path.join(SCRIPTS, f"{name}.py"), f"_script_{name}"
    argv = [path, *args]
    returncode = 0
    with flagsaver.flagsaver(), _captured_output() as output, _inside(REPO):
        spec = importlib.util.spec_from_file_location(module_name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        try:
            result = cli.guarded(module.main)(cli.parse_flags(argv))
            returncode = result or 0
        except SystemExit as exit_:
            returncode = exit_.code if isinstance(exit_.code, int) else 1
    return subprocess.CompletedProcess(argv, returncode, output["stdout"], output["stderr"])


@contextlib.contextmanager
def _inside(folder):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


@contextlib.contextmanager
def _captured_output():
    """Captures what a program would print: `sys.stdout` / `sys.stderr`, logging handlers that
    write to them, and native writes to file descriptors 1 and 2. Yields a dict that holds
    "stdout" and "stderr" after the block."""
    texts = {"stdout": io.StringIO(), "stderr": io.StringIO()}
    streams = {id(sys.stdout): texts["stdout"], id(sys.stderr): texts["stderr"],
               id(sys.__stdout__): texts["stdout"], id(sys.__stderr__): texts["stderr"]}
    handlers = [h for logger in [logging.getLogger(), *logging.Logger.manager.loggerDict.values()]
                for h in getattr(logger, "handlers", ())
                if isinstance(h, logging.StreamHandler) and id(h.stream) in streams]
    result = {}
    sys.stdout.flush()
    sys.stderr.flush()
    with tempfile.TemporaryFile() as native_out, tempfile.TemporaryFile() as native_err:
        saved = {fd: os.dup(fd) for fd in (1, 2)}
        os.dup2(native_out.fileno(), 1)
        os.dup2(native_err.fileno(), 2)
        old_streams = [h.setStream(streams[id(h.stream)]) for h in handlers]
        try:
            with contextlib.redirect_stdout(texts["stdout"]), \
                    contextlib.redirect_stderr(texts["stderr"]):
                yield result
        finally:
            for handler, stream in zip(handlers, old_streams):
                handler.setStream(stream)
            for fd, copy in saved.items():
                os.dup2(copy, fd)
                os.close(copy)
            for key, native in (("stdout", native_out), ("stderr", native_err)):
                native.seek(0)
                result[key] = texts[key].getvalue() + native.read().decode(errors="replace")


def assert_one_line_error(result, *fragments):
    """A bad-input run: exit status 2, no traceback, and stderr exactly one `error:` line
    naming the problem."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def family_representatives():
    """One registered model per family, generated from the registry (each family registers
    its smallest entry point first), so a new family is tested by being registered."""
    from tflite_lite.architectures import list_families

    return [names[0] for names in list_families().values()]


def mark_slow(names, is_slow):
    """Test parameters: each of `names`, marked slow where `is_slow(name)`."""
    return [pytest.param(name, marks=pytest.mark.slow) if is_slow(name) else name
            for name in names]


@pytest.fixture(scope="session")
def build():
    """`build(name, input_shape=(32, 32, 1), num_classes=10, **kwargs)`: a registered model,
    built once per session for each set of arguments. Shared between tests: use it as it is
    (predict, profile, convert, wrap); never train it or change its weights."""
    from tflite_lite.architectures import create_model

    cache = {}

    def built(name, input_shape=(32, 32, 1), num_classes=10, **kwargs):
        key = (name, tuple(input_shape), num_classes, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = create_model(name, input_shape=input_shape, num_classes=num_classes,
                                      **kwargs)
        return cache[key]

    return built


@pytest.fixture(scope="session")
def fashion_mnist():
    from tflite_lite.data import load_dataset

    return load_dataset("fashion_mnist", input_shape=(32, 32, 1), batch_size=64)


def _made_once(tmp_path_factory, name, make):
    """`make(folder)` once per test session, shared by the pytest-xdist workers: the first
    worker that needs the folder makes it, the others wait for it and read it."""
    shared = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        shared = shared.parent  # this session's folder, common to its workers
    folder = shared / name
    with open(shared / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / f"{name}.done").exists():
            make(folder)
            (shared / f"{name}.done").touch()
    return folder


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """A briefly trained MobileNet V2 0.35 run folder (model.keras and its run record), 32x32x1,
    the one training of the session: for tests that measure int8-vs-Keras agreement, which
    needs a model that has learned, and for those that need any real run folder. One epoch at a
    high rate from the first step: 96 steps, about 20 s alone; 0.75 accuracy and int8 agreement
    0.978 on 500 test images."""
    from tflite_lite.training import TrainConfig, train

    return _made_once(tmp_path_factory, "trained_run", lambda folder: train(TrainConfig(
        model="mobilenet_v2_035", epochs=1, batch_size=32, learning_rate=5e-3,
        warmup_epochs=0, augment=(), max_train_examples=3072, max_eval_examples=256,
        keep_checkpoints=1, output_dir=str(folder), verbose=0)))


@pytest.fixture(scope="session")
def exported_int8(trained_run, tmp_path_factory):
    """The trained run exported to int8 with its contract and labels: (tflite path, contract).
    For tests that need a real int8 flatbuffer, not an evaluated one."""
    from tflite_lite.convert import ExportConfig, export_model

    folder = _made_once(tmp_path_factory, "exported_int8", lambda folder: export_model(
        ExportConfig(model_path=str(trained_run / "model.keras"),
                     output=str(folder / "model_int8.tflite"), mode="int8",
                     representative_examples=16, ptq="none")))  # auto: tests of its own
    return folder / "model_int8.tflite", json.loads((folder / "model_int8.json").read_text())
