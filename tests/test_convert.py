"""Converter: modes, the int8 check, the contract, evaluation, inspection and bad input."""

import json
import os

import numpy as np
import pytest

from conftest import REPO, assert_one_line_error, run_main
from tflite_lite import cli
from tflite_lite.architectures import create_model, profile
from tflite_lite.convert import (ExportConfig, convert_model, describe, describe_file,
                                 export_model, float_ops)
from tflite_lite.convert import flatbuffer
from tflite_lite.convert.api import export
from tflite_lite.convert.evaluate import allocated_interpreter, dequantize, quantize
from tflite_lite.errors import UserError

DYNAMIC_BATCH_OPS = {"SHAPE", "PACK"}
ZOO_INT8 = os.path.join(REPO, "models", "squeezenet_1_1_fashion", "model_int8.tflite")


@pytest.fixture(scope="module")
def trained_int8(trained_run, tmp_path_factory):
    """The trained run exported to int8 with a 500-image evaluation: (tflite path, contract)."""
    output = tmp_path_factory.mktemp("trained_int8") / "model_int8.tflite"
    contract = export_model(ExportConfig(model_path=str(trained_run / "model.keras"),
                                         output=str(output), mode="int8", evaluate=True,
                                         representative_examples=64, max_eval_examples=500,
                                         ptq="none"))  # the plain file; auto: the script test
    return output, contract


def test_int8_export_is_integer_faithful_and_complete(trained_int8):
    path, contract = trained_int8
    folder = path.parent
    assert json.loads((folder / "model_int8.json").read_text()) == contract
    assert (folder / "labels.txt").read_text().splitlines()[:2] == ["t-shirt/top", "trouser"]
    description = describe_file(str(path))
    assert description["size_bytes"] == contract["size_bytes"] == os.path.getsize(path)
    assert float_ops(description) == [] and contract["float_ops"] == []
    assert not DYNAMIC_BATCH_OPS & set(description["op_counts"])
    assert contract["input"]["dtype"] == "int8" and contract["output"]["dtype"] == "float32"
    assert contract["output"]["float_head"] and flatbuffer.has_float_head(description)
    assert contract["input"]["shape"] == [1, 32, 32, 1]
    assert contract["input"]["scale"] > 0 and -128 <= contract["input"]["zero_point"] <= 127
    assert contract["preprocessing"]["mean"] == [127.5]
    assert contract["macs"] == profile(create_model("mobilenet_v2_035", input_shape=(32, 32, 1),
                                                    num_classes=10))["macs"]
    evaluation = contract["evaluation"]
    assert evaluation["num_examples"] == 500
    assert evaluation["agreement"] >= 0.95, evaluation
    assert abs(evaluation["keras_accuracy"] - evaluation["tflite_accuracy"]) <= 0.03
    data = path.read_bytes()
    embedded = json.loads(flatbuffer.read_metadata(data, flatbuffer.CONTRACT_METADATA))
    assert embedded["input"] == contract["input"]
    assert flatbuffer.read_metadata(data, flatbuffer.LABELS_METADATA).decode().split()[0] == \
        "t-shirt/top"


@pytest.mark.parametrize("mode,input_dtype,weight_dtype", [
    ("float32", "float32", "float32"),
    ("dynamic", "float32", "int8"),
    ("float16", "float32", "float16"),
    pytest.param("int16x8", "int16", "int8", marks=pytest.mark.slow),  # 4 s; bench_ptq's too
])
def test_other_modes(trained_run, tmp_path, mode, input_dtype, weight_dtype):
    output = tmp_path / f"model_{mode}.tflite"
    contract = export_model(ExportConfig(model_path=str(trained_run / "model.keras"),
                                         output=str(output), mode=mode,
                                         representative_examples=8))
    description = describe(output.read_bytes())
    assert contract["input"]["dtype"] == input_dtype
    weights = {description["tensors"][op["inputs"][1]]["dtype"] for op in description["ops"]
               if op["op"] == "CONV_2D"}
    if mode == "float16":  # float16 weights feed the convs through DEQUANTIZE
        assert "DEQUANTIZE" in description["op_counts"]
        assert any(t["dtype"] == "float16" and t["constant"] for t in description["tensors"])
    else:
        assert weight_dtype in weights, weights
    if mode == "int16x8":
        assert float_ops(description) == []
    if mode == "float32":  # the int8 check sees every op of a float model as float
        assert len(float_ops(description)) > 10
    assert contract["size_bytes"] == os.path.getsize(output)


@pytest.mark.parametrize("name", [
    pytest.param("shufflenet_v1_g3_050", marks=pytest.mark.slow),
    pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow), "squeezenet_1_1"])
def test_fixed_batch_graph_and_macs(name):
    from tflite_lite.architectures import deploy_form

    model = deploy_form(create_model(name, input_shape=(32, 32, 1), num_classes=10), name)
    images = np.random.default_rng(0).standard_normal((4, 32, 32, 1)).astype(np.float32)
    description = describe(convert_model(model, "int8", images))
    assert not DYNAMIC_BATCH_OPS & set(description["op_counts"]), description["op_counts"]
    assert description["inputs"][0]["shape"] == [1, 32, 32, 1]
    assert float_ops(description) == []
    # the int8 graph computes average pools as depthwise convolutions (`avg_pool`): their
    # k² MACs per output are the file's too
    from tflite_lite.convert import avg_pool

    assert description["macs"] == profile(avg_pool.as_depthwise(model))["macs"]
    assert "STRIDED_SLICE" not in description["op_counts"] or name == "shufflenet_v2_x0_5"


@pytest.mark.slow  # a 600-layer model built twice: 5 s
def test_shufflenet_v1_deploy_form_is_exact_and_native():
    from tflite_lite.architectures import deploy_form

    model = create_model("shufflenet_v1_g3_050", input_shape=(32, 32, 1), num_classes=10)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # trained-looking batch-norm statistics, different per branch
        if layer.name.endswith("_bn"):
            gamma, beta, mean, var = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, gamma.shape), rng.normal(0, 0.1, beta.shape),
                               rng.normal(0, 0.1, mean.shape), rng.uniform(0.5, 1.5, var.shape)])
    native = deploy_form(model, "shufflenet_v1_g3_050")
    assert not any("_split" in layer.name for layer in native.layers)
    assert any(layer.get_config().get("groups", 1) == 3 for layer in native.layers)
    images = rng.standard_normal((4, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(native(images).numpy(), model(images).numpy(), atol=1e-5)
    assert profile(native)["macs"] == profile(model)["macs"]
    assert deploy_form(native, "shufflenet_v1_g3_050") is native


def test_keep_worst_layers_in_float(trained_run, tmp_path):
    output = tmp_path / "mixed.tflite"
    contract = export_model(ExportConfig(model_path=str(trained_run / "model.keras"),
                                         output=str(output), mode="int8", keep_float_layers=2,
                                         representative_examples=16, evaluate=True,
                                         max_eval_examples=200))
    assert len(contract["float_layers"]) == 2
    assert contract["float_layers"][0]["rmse_over_scale"] >= contract["float_layers"][1][
        "rmse_over_scale"]
    assert contract["float_ops"], "the kept layers must show up as float ops"
    assert contract["input"]["dtype"] == "int8"
    assert contract["evaluation"]["agreement"] >= 0.9


def test_contract_quantization_formula():
    scale, zero_point = 0.05, -3
    steps = np.arange(-125, 131)
    values = steps * scale + np.where(steps % 2, 0.4, -0.4) * scale  # clear of the half-way points
    assert quantize(values, scale, zero_point, np.int8).tolist() == \
        np.clip(steps + zero_point, -128, 127).tolist()
    assert quantize([1e9, -1e9], scale, zero_point, np.int8).tolist() == [127, -128]
    assert quantize([0.5 * scale], scale, 0, np.int8).tolist() == [1]  # halves round up
    q = quantize(values, scale, zero_point, np.int8)
    inside = (steps + zero_point >= -128) & (steps + zero_point <= 127)
    assert np.all(np.abs(dequantize(q, scale, zero_point) - values)[inside] <= scale / 2)


def test_export_script_end_to_end(trained_run, tmp_path):
    import warnings

    output = tmp_path / "out" / "m.tflite"
    with warnings.catch_warnings(record=True) as caught:  # in process: pytest takes them
        warnings.simplefilter("always")
        result = run_main("export", "--model", str(trained_run / "model.keras"), "--mode",
                          "int8", "--dataset", "fashion_mnist", "--output", str(output),
                          "--evaluate", "--representative_examples", "32",
                          "--max_eval_examples", "200")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "top-1 agreement" in result.stdout
    assert output.exists() and (tmp_path / "out" / "labels.txt").exists()
    contract = json.loads((tmp_path / "out" / "m.json").read_text())
    assert contract["evaluation"]["num_examples"] == 200
    # a float model's int8 export chooses its PTQ steps by default (32 calibration images: too
    # few for AdaRound, which is left out), and says so
    assert "ptq auto chose" in result.stdout and contract["export_config"]["ptq"] == "auto"
    tried = [row["candidate"] for row in contract["ptq_auto"]["candidates"]]
    assert tried[0] == "plain" and not any("adaround" in name for name in tried)
    if not contract["ptq_auto"]["within_budget"]:  # a warning that names the next step
        assert any("no PTQ candidate" in str(w.message) and "next step, QAT: python "
                   "scripts/train.py" in str(w.message) for w in caught)
    # a script prints a warning as one line, without Python's file and source line
    assert cli._one_line_warning(UserWarning("m"), UserWarning, "f.py", 3, "x = 1") == (  # noqa: SLF001
        "warning: m\n")
    result = run_main("inspect_tflite", "--model", str(output), "--tensors")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "int8[1, 32, 32, 1]" in result.stdout and "float ops: 0" in result.stdout
    assert "float head: the last FULLY_CONNECTED runs in float" in result.stdout


def _bad_files(folder, good):
    data = good.read_bytes()
    files = {
        "empty": b"",
        "text": b"hello, not a model\n",
        "truncated": data[: len(data) // 3],
        "header_only": data[:64],
        "random_tfl3": data[:4] + b"TFL3" + os.urandom(4096),
    }
    paths = {}
    for name, content in files.items():
        paths[name] = folder / f"{name}.tflite"
        paths[name].write_bytes(content)
    return paths


def test_inspect_rejects_bad_flatbuffers_in_one_line(exported_int8, tmp_path):
    for name, path in _bad_files(tmp_path, exported_int8[0]).items():
        result = run_main("inspect_tflite", "--model", str(path))
        assert_one_line_error(result, str(path))
    assert_one_line_error(run_main("inspect_tflite", "--model", str(tmp_path / "none.tflite")),
                          "no such file")


def test_mutated_flatbuffers_parse_or_raise_user_error(exported_int8):
    data = bytearray(exported_int8[0].read_bytes())
    rng = np.random.default_rng(1)
    outcomes = set()
    for _ in range(40):
        mutated = bytearray(data)
        for position in rng.integers(8, 2048, size=8):
            mutated[position] = int(rng.integers(0, 256))
        try:
            describe(bytes(mutated))
            outcomes.add("parsed")
        except UserError:
            outcomes.add("rejected")
    assert outcomes <= {"parsed", "rejected"}


@pytest.mark.parametrize("case", ["missing", "empty", "not_keras", "class_mismatch",
                                  "bad_output", "unknown_mode"])
def test_export_bad_input_is_one_line_and_writes_nothing(trained_run, tmp_path, case):
    output = tmp_path / "out.tflite"
    model = str(trained_run / "model.keras")
    extra, fragment = [], None
    if case == "missing":
        model, fragment = str(tmp_path / "nope.keras"), "no such model file"
    elif case == "empty":
        (tmp_path / "empty.keras").write_bytes(b"")
        model, fragment = str(tmp_path / "empty.keras"), "empty file"
    elif case == "not_keras":
        model, fragment = ZOO_INT8, "not a Keras model"
    elif case == "class_mismatch":
        path = tmp_path / "five" / "model.keras"
        path.parent.mkdir()
        create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=5).save(str(path))
        model, fragment = str(path), "predicts 5 classes"
        extra = ["--dataset", "fashion_mnist"]
    elif case == "bad_output":
        output, fragment = tmp_path / "out.bin", "must end with .tflite"
    elif case == "unknown_mode":
        extra, fragment = ["--mode", "int4"], "--mode"
    result = run_main("export", "--model", model, "--output", str(output), *extra)
    assert_one_line_error(result, fragment)
    assert not output.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def _hard_swish_model():
    from tflite_lite._keras import keras
    from tflite_lite.architectures._layers import HardSwish
    inputs = keras.Input((8, 8, 4), batch_size=1)
    x = HardSwish()(keras.layers.Conv2D(8, 1)(inputs))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 1)(x))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x))


def test_int8_hard_swish_runs_inside_xnnpack_and_float_keeps_its_kernel():
    """In int8 the hard swish is an ADD and a MUL (XNNPACK has no int8 HARD_SWISH: it would
    split the delegated graph); in float it stays TFLite's HARD_SWISH kernel. Same values."""
    model = _hard_swish_model()
    images = np.random.default_rng(0).uniform(-6, 6, (16, 8, 8, 4)).astype(np.float32)
    float_ops = describe(convert_model(model, "float32"))["op_counts"]
    assert float_ops.get("HARD_SWISH") == 1
    int8 = convert_model(model, "int8", images)
    assert "HARD_SWISH" not in describe(int8)["op_counts"]
    fused = convert_model(model, "int8", images, hard_swish="fused")
    assert describe(fused)["op_counts"].get("HARD_SWISH") == 1
    from tflite_lite.convert import xnnpack

    # (the int8 SOFTMAX at the end stays outside: XNNPACK has no int8 softmax)
    assert [xnnpack.delegation(data) for data in (int8, fused)] == [
        (1, ["SOFTMAX"]), (2, ["HARD_SWISH", "SOFTMAX"])]
    split_float = convert_model(model, "float32", hard_swish="split")
    assert "HARD_SWISH" not in describe(split_float)["op_counts"]
    outputs = []
    for data in (convert_model(model, "float32"), split_float):
        interpreter = allocated_interpreter(model_content=data)
        interpreter.set_tensor(interpreter.get_input_details()[0]["index"], images[:1])
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    np.testing.assert_allclose(outputs[0], outputs[1], atol=1e-6)
    with pytest.raises(UserError, match="unknown hard swish form 'fast'"):
        convert_model(model, "float32", hard_swish="fast")


def test_tiny_hard_swish_inputs_keep_the_int8_graph_in_one_xnnpack_partition():
    """A hard swish whose input range is tiny (here a near-zero kernel; untrained MobileNet V3
    at 224 had 20 such) gives an ADD that XNNPACK refuses (input scale under 1/1024 of the
    output's): the export widens that input's scale, one partition, the same classes."""
    import warnings

    from tflite_lite._keras import keras
    from tflite_lite.architectures._layers import HardSwish
    from tflite_lite.convert import api, xnnpack

    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 3), batch_size=1)
    x = keras.layers.Conv2D(8, 1, kernel_initializer=keras.initializers.Constant(1e-5))(inputs)
    x = keras.layers.Conv2D(8, 1)(HardSwish()(x))
    x = keras.layers.GlobalAveragePooling2D()(HardSwish()(x))
    model = keras.Model(inputs, keras.layers.Dense(3)(x))
    images = np.random.default_rng(0).uniform(-1, 1, (16, 8, 8, 3)).astype(np.float32)
    plain = convert_model(model, "int8", images)
    before = xnnpack.delegation(plain)
    assert before[0] >= 2 and "ADD" in before[1], before
    fitted, widened = xnnpack.fit_scales(plain)
    assert widened >= 1 and xnnpack.delegation(fitted) == (1, [])
    assert xnnpack.fit_scales(fitted) == (fitted, 0)
    outputs = []
    for data in (plain, fitted):
        interpreter = allocated_interpreter(model_content=data)
        detail = interpreter.get_input_details()[0]
        interpreter.set_tensor(detail["index"], quantize(images[:1], *detail["quantization"],
                                                          np.int8))
        interpreter.invoke()
        outputs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    assert np.argmax(outputs[0]) == np.argmax(outputs[1])
    record = export(model, mode="int8", calibration=images).contract["xnnpack"]
    assert record == {"partitions": 1, "ops_outside": [], "widened_scales": widened}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api._xnnpack_partitions(plain, 0, "tiny.tflite")  # noqa: SLF001
    assert any("tiny.tflite runs as" in str(w.message) and "ADD outside" in str(w.message)
               for w in caught)


def test_average_pooling_runs_inside_xnnpack_as_a_depthwise_convolution():
    """XNNPACK has no int8 AVERAGE_POOL_2D: the int8 export traces each pool as a depthwise
    convolution times a border map (`avg_pool`), the same float function, and a small model
    with "same"-padded 3 x 3 stride-2 pools on odd and even sizes is one partition."""
    from tflite_lite._keras import keras
    from tflite_lite.convert import avg_pool

    keras.utils.set_random_seed(0)
    inputs = keras.Input((9, 8, 3))
    x = keras.layers.Conv2D(6, 1, activation="relu")(inputs)
    x = keras.layers.AveragePooling2D(3, strides=2, padding="same")(x)
    x = keras.layers.AveragePooling2D(2)(keras.layers.Conv2D(6, 1)(x))
    model = keras.Model(inputs, keras.layers.Dense(4)(keras.layers.Flatten()(x)))
    images = np.random.default_rng(0).uniform(-1, 1, (16, 9, 8, 3)).astype(np.float32)
    traced = avg_pool.as_depthwise(model)
    assert not any(isinstance(layer, keras.layers.AveragePooling2D) for layer in traced.layers)
    np.testing.assert_allclose(traced.predict(images, verbose=0),
                               model.predict(images, verbose=0), atol=1e-5)
    result = export(model, mode="int8", calibration=images, scores="logits")
    assert "AVERAGE_POOL_2D" not in result.contract["ops"]
    assert result.contract["xnnpack"]["partitions"] == 1 and result.contract["float_ops"] == []
    assert "AVERAGE_POOL_2D" in describe(export(model, mode="float32").tflite)["op_counts"]


@pytest.mark.slow  # three exports and a latency run: about 20 s
def test_xnnpack_benchmark_runs_on_a_tiny_input(tmp_path):
    output = tmp_path / "xnnpack.json"
    result = run_main("benchmarks/xnnpack", "--models", "mobilenet_v3_small_075",
                      "--input_size", "32", "--num_classes", "10", "--num_runs", "5",
                      "--json", str(output))
    assert result.returncode == 0, result.stderr
    row = json.loads(output.read_text())["rows"][0]
    assert row["partitions"] == 1 and row["ops_outside"] == "-"
    assert row["float_head_pct"] < 1.0 and row["speedup"] > 0


def _small_classifier():
    from tflite_lite._keras import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(16, 3, activation="relu")(inputs)
    x = keras.layers.DepthwiseConv2D(3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(32, 1)(x))
    return keras.Model(inputs, keras.layers.Dense(5, activation="softmax")(x))


def test_litert_quantizer_gives_int8_int4_and_int16_files():
    """LiteRT Quantizer as the second engine: its int8 file is all int8 (float head as
    usual) in one XNNPACK partition; w4a8 stores int4 convolution and dense weights; the
    dynamic int4 file keeps float activations."""
    model = _small_classifier()
    images = np.random.default_rng(0).uniform(-1, 1, (16, 16, 16, 3)).astype(np.float32)
    int8 = export(model, calibration=images, quantizer="litert")
    assert int8.contract["quantizer"] == "litert" and int8.contract["float_ops"] == []
    assert int8.contract["input"]["dtype"] == "int8" and int8.contract["output"]["float_head"]
    assert int8.contract["xnnpack"]["partitions"] == 1
    snr = int8.contract["litert_snr"]  # LiteRT Quantizer's own per-tensor validation
    assert snr["images"] == 16 and snr["output_snr_db"] > 10
    worst = [row["snr_db"] for row in snr["worst"]]
    assert worst == sorted(worst) and {row["kind"] for row in snr["worst"]} <= {
        "activation", "output", "weight"}
    w4a8 = export(model, calibration=images, mode="w4a8", quantizer="litert")
    dtypes = {t["dtype"] for t in describe(w4a8.tflite)["tensors"]}
    assert "int4" in dtypes and w4a8.contract["float_ops"] == []
    assert len(w4a8.tflite) < len(int8.tflite)
    dynamic = export(model, mode="dynamic_int4", quantizer="litert")
    assert dynamic.contract["input"]["dtype"] == "float32"
    assert dynamic.contract["litert_snr"] is None  # no images to compare on
    assert "int4" in {t["dtype"] for t in describe(dynamic.tflite)["tensors"]}
    a16w8 = export(model, calibration=images, mode="int16x8", quantizer="litert")
    assert a16w8.contract["input"]["dtype"] == "int16" and a16w8.contract["float_ops"] == []


@pytest.mark.parametrize("options,fragment", [
    (dict(quantizer="tvm"), "unknown quantizer 'tvm'; choose one of converter, litert"),
    (dict(mode="w4a8"), "mode w4a8 needs quantizer='litert'"),
    (dict(mode="float16", quantizer="litert"), "quantizer='litert' takes mode int8, int16x8"),
    (dict(quantizer="litert", per_tensor=True), "quantizer='litert' does not take per_tensor"),
])
def test_bad_quantizer_choices_are_one_line_errors(options, fragment):
    from tflite_lite.convert import ExportOptions

    with pytest.raises(UserError, match=fragment.replace("(", r"\(")):
        ExportOptions(**options).validate()


def test_litert_quantizer_missing_names_the_extra(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "ai_edge_quantizer", None)  # as if not installed
    with pytest.raises(UserError, match=r"pip install -e \"\.\[quantizer\]\""):
        export(_small_classifier(), calibration=np.zeros((4, 16, 16, 3), np.float32),
               quantizer="litert")
