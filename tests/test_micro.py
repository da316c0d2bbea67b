"""The micro target: TensorFlow Lite Micro's op check, arena, parity with LiteRT, C source."""

import json
import os
import shutil
import subprocess

import pytest

from conftest import assert_one_line_error, run_main
from tflite_lite.convert import flatbuffer, micro
from tflite_lite.errors import UserError

pytest.importorskip("tflite_micro", reason="the micro extra (Linux x86_64)")


@pytest.fixture(scope="module")
def micro_export(trained_run, tmp_path_factory):
    """The trained run exported for TFLM (`--target micro`): (tflite path, contract)."""
    from tflite_lite.convert import ExportConfig, export_model

    output = tmp_path_factory.mktemp("micro") / "net.tflite"
    contract = export_model(ExportConfig(model_path=str(trained_run / "model.keras"),
                                         output=str(output), representative_examples=16,
                                         target="micro", ptq="none"))  # auto: test_ptq
    return output, contract


@pytest.fixture(scope="module")
def model_tflm_lacks(tmp_path_factory):
    """A float model with two ops TFLM has no kernel for (REDUCE_PROD, TOPK_V2)."""
    import tensorflow as tf

    from tflite_lite._keras import keras

    inputs = keras.Input((8,))
    product = keras.layers.Lambda(lambda x: tf.reduce_prod(x, axis=-1, keepdims=True))(inputs)
    top = keras.layers.Lambda(lambda x: tf.math.top_k(x, k=2).values)(inputs)
    model = keras.Model(inputs, keras.layers.Concatenate()([product, top]))
    data = tf.lite.TFLiteConverter.from_keras_model(model).convert()
    path = tmp_path_factory.mktemp("lacks") / "lacks.tflite"
    path.write_bytes(data)
    return path


def test_op_list_names_real_builtins():
    from ai_edge_litert import schema_py_generated as schema

    builtins = {name for name in vars(schema.BuiltinOperator) if not name.startswith("_")}
    assert micro.TFLM_OPS <= builtins, sorted(micro.TFLM_OPS - builtins)


def test_unsupported_ops_are_named_and_tflm_agrees(model_tflm_lacks):
    data = model_tflm_lacks.read_bytes()
    assert micro.unsupported_ops(data) == ["REDUCE_PROD", "TOPK_V2"]
    with pytest.raises(UserError, match="no kernel for REDUCE_PROD, TOPK_V2"):
        micro.MicroInterpreter(data)
    # TFLM itself refuses the model: the list is not more generous than the runtime
    with pytest.raises(RuntimeError):
        with micro.captured_fd2():
            micro.runtime().Interpreter(data, [], 1 << 20)


def test_micro_export_is_int8_with_the_smallest_arena(micro_export):
    path, contract = micro_export
    data = path.read_bytes()
    description = flatbuffer.describe(data)
    assert [t["dtype"] for t in description["inputs"] + description["outputs"]] == ["int8"] * 2
    assert contract["output"]["scores"] == "logits" and not contract["float_ops"]
    arena = contract["micro"]["arena_bytes"]
    assert contract["micro"]["flash_bytes"] == len(data) == os.path.getsize(path)
    interpreter = micro.MicroInterpreter(data)
    assert interpreter.arena_bytes == arena
    assert interpreter._fits(arena) and not interpreter._fits(arena - 2 * micro.ARENA_ALIGNMENT)


def test_c_source_compiles_to_the_flatbuffer(micro_export, tmp_path):
    """The generated array, compiled by a C++ compiler, holds the `.tflite` byte for byte,
    16-byte aligned, with the arena constant from the contract."""
    path, contract = micro_export
    header, source = (path.parent / f"net_model_data.{ext}" for ext in ("h", "cc"))
    assert f"kNetArenaSize = {contract['micro']['arena_bytes']};" in header.read_text()
    compiler = shutil.which("g++")
    if compiler is None:
        pytest.skip("no g++")
    main = tmp_path / "dump.cc"
    main.write_text(
        '#include <cstdio>\n#include <cstdint>\n#include "net_model_data.h"\n'
        "int main() {\n"
        "  if (reinterpret_cast<uintptr_t>(g_net_model_data) % 16) return 3;\n"
        "  fwrite(g_net_model_data, 1, g_net_model_data_len, stdout);\n"
        "  return kNetArenaSize > 0 ? 0 : 4;\n}\n")
    binary = tmp_path / "dump"
    subprocess.run([compiler, "-std=c++17", "-O0", f"-I{path.parent}", str(main), str(source),
                    "-o", str(binary)], check=True, capture_output=True)
    dumped = subprocess.run([str(binary)], capture_output=True, check=True).stdout
    assert dumped == path.read_bytes()


def test_tflm_matches_litert_reference_kernels(micro_export):
    """On the test split TFLM's int8 outputs equal LiteRT's reference kernels' bit for bit;
    against XNNPACK only the argmax is expected to agree (it rounds differently)."""
    from tflite_lite.benchmark.micro import benchmark_micro_model

    path, _ = micro_export
    row = benchmark_micro_model(str(path), dataset="fashion_mnist", max_examples=64,
                                num_runs=3)
    assert row["unsupported_ops"] == "none" and row["num_examples"] == 64
    assert row["reference_bit_exact"] == 1.0
    # XNNPACK's rounding moves close int8 logits of this briefly trained model: 59 of 64
    # agreed in one suite run (0.92), all 64 in another
    assert row["argmax_agreement"] >= 0.9
    assert abs(row["accuracy"] - row["litert_accuracy"]) <= 0.05
    assert row["p50_ms"] > 0 and row["arena_bytes"] > 0


def test_benchmark_script_micro_target(micro_export, model_tflm_lacks, tmp_path):
    path, _ = micro_export
    out = tmp_path / "micro.json"
    result = run_main("benchmark", "--target", "micro", "--models",
                      f"{path},{model_tflm_lacks}", "--dataset", "fashion_mnist",
                      "--max_examples", "16", "--num_runs", "2", "--json", str(out))
    assert result.returncode == 0, result.stderr
    report = json.loads(out.read_text())
    assert report["mode"] == "micro" and "tflite_micro" in report["host"]
    rows = {row["name"]: row for row in report["rows"]}
    assert rows["lacks.tflite"]["unsupported_ops"] == "REDUCE_PROD,TOPK_V2"
    assert rows["net.tflite"]["num_examples"] == 16
    assert "REDUCE_PROD,TOPK_V2" in result.stdout


def test_export_script_writes_c_source_for_a_tflite(micro_export, tmp_path):
    path, _ = micro_export
    result = run_main("export", "--model", str(path), "--target", "micro",
                      "--output", str(tmp_path / "kws.tflite"))
    assert result.returncode == 0, result.stderr
    assert sorted(os.listdir(tmp_path)) == ["kws_model_data.cc", "kws_model_data.h"]
    assert "kKwsArenaSize" in (tmp_path / "kws_model_data.h").read_text()


@pytest.mark.parametrize("make_args, fragment", [
    (lambda run, lacks, float_model: ["--model", str(run / "model.keras"), "--target", "micro",
                                      "--mode", "float32"], "int8 only, got mode 'float32'"),
    (lambda run, lacks, float_model: ["--model", str(run / "model.keras"), "--target", "micro",
                                      "--scores", "float_logits"], "all int8"),
    (lambda run, lacks, float_model: ["--model", str(float_model), "--target", "micro"],
     "not a full int8 model"),
    (lambda run, lacks, float_model: ["--model", str(lacks), "--target", "micro"],
     "no kernel for REDUCE_PROD, TOPK_V2"),
])
def test_micro_export_bad_input(trained_run, model_tflm_lacks, exported_int8, tmp_path,
                                make_args, fragment):
    # exported_int8 has a float last layer (float logits): a float model for a microcontroller
    args = make_args(trained_run, model_tflm_lacks, exported_int8[0])
    result = run_main("export", *args, "--output", str(tmp_path / "out.tflite"))
    assert_one_line_error(result, fragment)
    assert os.listdir(tmp_path) == []


def test_c_identifier():
    assert micro.c_identifier("model-int8.v2") == "model_int8_v2"
    assert micro.c_identifier("2bit") == "model_2bit"


def test_without_tflite_micro_the_error_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "tflite_micro.python.tflite_micro", None)
    with pytest.raises(UserError, match=r"pip install 'tflite_lite\[micro\]'"):
        micro.runtime()
