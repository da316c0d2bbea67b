"""Post-training quantization steps: batch-norm folding, cross-layer equalization, bias
correction, per-tensor weights, and their place in the int8 export."""

import json
import types

import numpy as np
import pytest

from conftest import assert_one_line_error, import_program, run_main
from tflite_lite._keras import keras
from tflite_lite.architectures import create_model
from tflite_lite.compression import ptq
from tflite_lite.convert import ExportConfig, export, export_model
from tflite_lite.convert.evaluate import allocated_interpreter
from tflite_lite.errors import UserError


def _images(count=32, shape=(32, 32, 1), seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, *shape)).astype(np.float32)


def _with_random_batch_norms(model, seed=0):
    """`model` with batch-norm statistics and affine terms far from identity, as training
    leaves them."""
    rng = np.random.default_rng(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            gamma, beta, mean, variance = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 2, gamma.shape), rng.normal(0, 0.2, beta.shape),
                               rng.normal(0, 0.3, mean.shape), rng.uniform(0.2, 3, variance.shape)])
    return model


@pytest.fixture(scope="module")
def mobilenet_v2():
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this process
    return _with_random_batch_norms(create_model("mobilenet_v2_035", input_shape=(32, 32, 1),
                                                 num_classes=10))


def _relu_pair_model():
    """conv → ReLU → depthwise → ReLU → pointwise, the depthwise channels' ranges 1,000x apart."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(6, 3, padding="same", name="conv")(inputs)
    x = keras.layers.ReLU(name="relu_a")(x)
    x = keras.layers.DepthwiseConv2D(3, padding="same", name="depthwise")(x)
    x = keras.layers.ReLU(name="relu_b")(x)
    x = keras.layers.Conv2D(4, 1, name="pointwise")(x)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(x))
    kernel, bias = model.get_layer("depthwise").get_weights()
    gains = np.array([1e-2, 1.0, 10.0, 0.1, 3.0, 1e-1], np.float32)
    model.get_layer("depthwise").set_weights([kernel * gains.reshape(1, 1, -1, 1), bias * gains])
    return model


def test_folding_batch_norms_keeps_the_function(mobilenet_v2):
    folded = ptq.fold_batch_norms(mobilenet_v2)
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in folded.layers)
    images = _images()
    np.testing.assert_allclose(folded(images).numpy(), mobilenet_v2(images).numpy(), atol=1e-5)
    assert folded.get_layer("block1_expand").use_bias


def test_equalization_keeps_a_relu_network_and_evens_its_channel_ranges():
    model = _relu_pair_model()
    equalized, report = ptq.equalize(model)
    assert report["pairs"] == [["conv", "depthwise"], ["depthwise", "pointwise"]]
    assert report["relu6_to_relu"] == []
    images = _images(8, (8, 8, 3))
    np.testing.assert_allclose(equalized(images).numpy(), model(images).numpy(), rtol=1e-4,
                               atol=1e-5)

    def spread(name, source):
        kernel = source.get_layer(name).get_weights()[0]
        ranges = np.abs(kernel).max(axis=(0, 1)).reshape(-1)
        return ranges.max() / ranges.min()

    # Three kernels share each channel's range: 1,000x apart before, about its cube root after.
    assert spread("depthwise", model) > 100 and spread("depthwise", equalized) < 30


def test_equalization_leaves_pairs_joined_by_other_activations():
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="swish", name="swish_conv")(inputs)
    x = keras.layers.Conv2D(4, 1, name="after_swish")(x)
    x = keras.layers.Activation("sigmoid", name="sigmoid")(x)
    x = keras.layers.Conv2D(4, 1, name="after_sigmoid")(x)
    assert ptq.find_pairs(keras.Model(inputs, x)) == []


def test_equalization_turns_relu6_between_pairs_into_relu_and_says_so(mobilenet_v2):
    equalized, report = ptq.equalize(mobilenet_v2)
    assert ["block1_dw", "block1_project"] in report["pairs"]
    assert "block1_dw_relu" in report["relu6_to_relu"]
    assert equalized.get_layer("block1_dw_relu").get_config()["max_value"] is None
    assert report["rounds"] >= 1


def test_bias_correction_removes_the_mean_shift_of_int8_weights():
    model = ptq.fold_batch_norms(_relu_pair_model())
    images = _images(64, (8, 8, 3))
    float_weights = {layer.name: layer.get_weights() for layer in model.layers if layer.weights}
    probe = keras.Model(model.inputs, [model.get_layer(name).input
                                       for name in ("depthwise", "pointwise")])
    inputs = dict(zip(("depthwise", "pointwise"), (x.numpy() for x in probe(images))))

    def int8_mean_error(name):
        """|mean output with int8-rounded weights and today's bias - float mean output|."""
        layer = model.get_layer(name)
        kernel, bias = float_weights[name]
        rounded = ptq.quantized_kernel(layer, kernel, per_tensor=True)
        shift = (_apply(layer, inputs[name], rounded) + layer.get_weights()[1]
                 - _apply(layer, inputs[name], kernel) - bias)
        return float(np.abs(shift.mean(axis=(0, 1, 2))).max())

    before = {name: int8_mean_error(name) for name in inputs}
    changes = ptq.correct_bias(model, images, per_tensor=True)
    assert set(changes) == {"conv", "depthwise", "pointwise"}
    for name in inputs:
        assert int8_mean_error(name) < 0.25 * before[name], (name, before)


def _apply(layer, x, kernel):
    import tensorflow as tf

    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return tf.nn.depthwise_conv2d(x, kernel, (1, 1, 1, 1), "SAME").numpy()
    return tf.nn.conv2d(x, kernel, 1, "SAME").numpy()


@pytest.mark.parametrize("steps,expected", [
    ("cle,bias_correction", ("cle", "bias_correction")),
    (" bias_correction , cle", ("cle", "bias_correction")),
    (["bias_correction"], ("bias_correction",)), ("none", ()), (None, ()), ("", ())])
def test_step_names_parse_in_their_fixed_order(steps, expected):
    assert ptq.parse_steps(steps) == expected


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(ptq="cle,adaround2"), "unknown PTQ step 'adaround2'"),
    (dict(ptq="cle,cle"), "PTQ step repeated"),
    (dict(ptq="cle", mode="float16"), "PTQ steps apply to int8 exports, not float16"),
    (dict(per_tensor=True, mode="dynamic"), "per_tensor applies to plain int8 exports"),
    (dict(ptq="auto", mode="float16"), "PTQ steps apply to int8 exports, not float16"),
    (dict(ptq="auto", keep_float_layers=2), "ptq='auto' chooses the steps of a plain int8"),
])
def test_bad_ptq_choices_are_one_line_errors(kwargs, fragment, tmp_path):
    config = dict(model_path=str(tmp_path / "m.keras"), output=str(tmp_path / "m.tflite"))
    with pytest.raises(UserError, match=fragment) as raised:
        ExportConfig(**config, **kwargs).validate()
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize("args,fragment", [
    (["--ptq", "cle,bogus"], "unknown PTQ step 'bogus'"),
    (["--ptq", "adaround", "--representative_examples", "16"],
     "AdaRound needs at least 64 calibration images, got 16"),
    (["--per_tensor", "--mode", "float16"], "per_tensor applies to plain int8 exports")])
def test_export_script_refuses_bad_ptq_flags_in_one_line(args, fragment, trained_run, tmp_path):
    output = tmp_path / "out" / "model_int8.tflite"
    result = run_main("export", "--model", str(trained_run / "model.keras"), "--output",
                      str(output), *args)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "out").exists()


def test_ptq_steps_refuse_a_keras3_model_in_one_line():
    from tflite_lite._keras import keras3

    k3 = keras3()
    inputs = k3.Input((8, 8, 3))
    x = k3.layers.GlobalAveragePooling2D()(k3.layers.Conv2D(4, 3)(inputs))
    model = k3.Model(inputs, k3.layers.Dense(3)(x))
    with pytest.raises(UserError, match="each PTQ step needs a tf_keras"):
        export(model, calibration=_images(8, (8, 8, 3)), ptq="cle")


def test_ptq_steps_refuse_a_qat_model():
    from tflite_lite.compression import quantize_model

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(inputs))
    qat = quantize_model(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(x)))
    with pytest.raises(UserError, match="already QAT-trained"):
        export(qat, calibration=_images(8, (8, 8, 3)), ptq="cle")


@pytest.mark.slow  # an evaluated export with two steps: about 11 s of the fast suite
def test_export_with_steps_and_per_tensor_weights(trained_run, tmp_path):
    output = tmp_path / "model_int8.tflite"
    contract = export_model(ExportConfig(
        model_path=str(trained_run / "model.keras"), output=str(output), evaluate=True,
        representative_examples=32, max_eval_examples=200, ptq="bias_correction,cle",
        per_tensor=True))
    assert contract["ptq"]["steps"] == ["cle", "bias_correction"]
    assert set(contract["ptq"]["seconds"]) == {"fold_batch_norms", "cle", "bias_correction"}
    assert contract["per_tensor"] and contract["float_ops"] == []
    assert contract["evaluation"]["agreement"] >= 0.9, contract["evaluation"]
    interpreter = allocated_interpreter(model_path=str(output))
    scales = [len(t["quantization_parameters"]["scales"])
              for t in interpreter.get_tensor_details() if t["dtype"] == np.int8]
    assert max(scales) == 1  # per output channel, each kernel would have one per channel


def test_adaround_puts_kernels_on_the_int8_grid():
    model = ptq.fold_batch_norms(_relu_pair_model())
    images = _images(ptq.MIN_IMAGES, (8, 8, 3))
    before = {layer.name: layer.get_weights()[0] for layer in model.layers if layer.weights}
    report = ptq.adaround(model, images, per_tensor=False, seconds_per_layer=2,
                          max_iterations=300)
    assert list(report["layers"]) == ["conv", "depthwise", "pointwise"] and not report["skipped"]
    for name, row in report["layers"].items():
        layer = model.get_layer(name)
        kernel = layer.get_weights()[0]
        np.testing.assert_allclose(ptq.quantized_kernel(layer, kernel), kernel, atol=1e-7)
        axes = (0, 1) if name == "depthwise" else (0, 1, 2)
        # The largest weight of each channel stays: the same scale as TFLite's.
        np.testing.assert_allclose(np.abs(kernel).max(axis=axes), np.abs(before[name]).max(
            axis=axes), rtol=1e-6)
        assert row["kept"] == ("adaround" if row["output_mse_adaround"] <
                               row["output_mse_nearest"] else "nearest"), (name, row)
        assert 50 <= row["iterations"] <= 300


def test_adaround_finds_the_rounding_that_keeps_a_layers_output():
    """A Dense layer whose weights all sit 0.2-0.5 of a step above the grid, on inputs near 1:
    nearest rounding takes every one down and shifts each output; rounding about a third of
    them up instead keeps the output."""
    inputs = keras.Input((16,))
    model = keras.Model(inputs, keras.layers.Dense(4, name="dense")(inputs))
    rng = np.random.default_rng(0)
    step = np.array([0.01, 0.02, 0.005, 0.03], np.float32)
    kernel = (rng.integers(-60, 60, (16, 4)) + rng.uniform(0.2, 0.5, (16, 4))) * step
    kernel[0] = 127 * step  # each column's largest weight sets its step, as TFLite's does
    model.get_layer("dense").set_weights([kernel.astype(np.float32), np.zeros(4, np.float32)])
    x = (1 + 0.3 * rng.standard_normal((128, 16))).astype(np.float32)
    row = ptq.adaround(model, x, seconds_per_layer=3, max_iterations=1000)["layers"]["dense"]
    assert row["kept"] == "adaround" and row["flipped"] > 0.2
    assert row["output_mse_adaround"] < 0.1 * row["output_mse_nearest"], row


def test_adaround_refuses_too_few_images_and_skips_grouped_convolutions():
    inputs = keras.Input((8, 8, 4))
    x = keras.layers.Conv2D(8, 3, groups=2, name="grouped")(inputs)
    x = keras.layers.Conv2D(4, 1, name="pointwise")(x)
    model = keras.Model(inputs, x)
    with pytest.raises(UserError, match=f"at least {ptq.MIN_IMAGES} calibration images, got 8"):
        ptq.prepare(model, "adaround", _images(8, (8, 8, 4)))
    report = ptq.adaround(model, _images(ptq.MIN_IMAGES, (8, 8, 4)), seconds_per_layer=0.5,
                          max_iterations=60)
    assert report["skipped"] == {"grouped": "grouped convolution"}
    assert list(report["layers"]) == ["pointwise"]


def test_prepare_reports_each_steps_per_layer_error(mobilenet_v2):
    images = _images(64)
    model, report = ptq.prepare(mobilenet_v2, "bias_correction,cle", images, per_tensor=True)
    errors = report["layer_errors"]
    assert list(errors) == ["folded", "cle", "bias_correction"]
    assert set(errors["folded"]) == set(errors["cle"]) and "block1_dw" in errors["cle"]
    # Per tensor, equalized kernels round with less error; bias correction removes the mean
    # of what is left.
    assert sum(errors["cle"].values()) < sum(errors["folded"].values())
    assert sum(errors["bias_correction"].values()) < 0.5 * sum(errors["cle"].values())
    assert 0 < report["float_top1_agreement"] <= 1


@pytest.mark.slow
def test_export_script_runs_every_step_and_plots_the_report(trained_run, tmp_path):
    output = tmp_path / "model_int8.tflite"
    result = run_main("export", "--model", str(trained_run / "model.keras"), "--output",
                      str(output), "--ptq", "cle,adaround,bias_correction", "--evaluate",
                      "--max_eval_examples", "300", "--representative_examples", "64",
                      "--adaround_seconds_per_layer", "1")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "PTQ steps: cle" in result.stdout and (tmp_path / "model_int8_ptq.png").stat().st_size
    contract = json.loads((tmp_path / "model_int8.json").read_text())
    assert contract["ptq"]["steps"] == ["cle", "adaround", "bias_correction"]
    assert list(contract["ptq"]["layer_errors"]) == ["folded", "cle", "adaround",
                                                     "bias_correction"]
    rounded = contract["ptq"]["adaround"]["layers"]
    assert len(rounded) > 30 and any(row["kept"] == "adaround" for row in rounded.values())
    assert contract["evaluation"]["agreement"] >= 0.9 and contract["float_ops"] == []


@pytest.mark.slow
def test_bench_ptq_prints_its_table_and_writes_json(trained_run, tmp_path):
    result = run_main("benchmarks/ptq", "--runs", str(trained_run), "--variants",
                      "plain,per_tensor+cle,int16x8,litert_w4a8,qat", "--max_eval_examples",
                      "200",
                      "--output_dir", str(tmp_path / "out"), "--json", str(tmp_path / "ptq.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads((tmp_path / "ptq.json").read_text())["rows"]
    assert [row["variant"] for row in rows] == ["plain", "per_tensor+cle", "int16x8",
                                                "litert_w4a8", "qat"]
    assert rows[0]["ptq"] is None and rows[0]["auto_plan"] is None  # plain: no auto default
    assert rows[2]["file"].endswith("model_int16x8.tflite")
    assert rows[3]["size_bytes"] < rows[0]["size_bytes"]  # int4 convolution weights
    assert all(row["p50_ms"] > 0 for row in rows)
    qat = rows[4]  # fine-tuned, then measured against the original float model
    assert qat["file"].endswith("qat/model_int8.tflite") and qat["int8_accuracy"] > 0.5
    assert qat["keras_accuracy"] == rows[0]["keras_accuracy"]
    assert all(0 < row["agreement"] <= 1 and row["seconds"] > 0 for row in rows)
    assert "per_tensor+cle" in result.stdout
    assert (tmp_path / "out" / "trained_run" / "layer_errors.png").exists()
    bad = run_main("benchmarks/ptq", "--runs", str(trained_run), "--variants", "plain,fastest")
    assert_one_line_error(bad, "unknown variant(s) fastest")


@pytest.mark.slow
def test_activation_range_study_compares_min_max_with_mse_ranges(trained_run, tmp_path):
    result = run_main("benchmarks/activation_ranges", "--run", str(trained_run),
                      "--representative_examples", "32", "--max_eval_examples", "200",
                      "--json", str(tmp_path / "ranges.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    record = json.loads((tmp_path / "ranges.json").read_text())
    assert [row["ranges"] for row in record["rows"]] == ["min/max", "mse"]
    assert all(0 < row["agreement"] <= 1 for row in record["rows"])
    # MSE ranges never lie outside min/max, and never quantize a tensor's values worse.
    assert record["tensors"] and all(row["error_ratio"] >= 1 for row in record["tensors"])
    assert all(row["min"] <= row["mse_min"] and row["mse_max"] <= row["max"]
               for row in record["tensors"])
    assert any(row["error_ratio"] > 1.2 for row in record["tensors"]), record["tensors"][:3]


def test_mse_range_clips_a_laplace_tail_where_theory_puts_it():
    ranges = import_program("benchmarks.activation_ranges")
    BINS, mse_range = ranges.BINS, ranges.mse_range

    values = np.random.default_rng(0).laplace(0, 1, 1_000_000)  # min/max about +-14
    for sample in (values, np.maximum(values, 0)):
        counts = np.histogram(sample, BINS, (sample.min(), sample.max()))[0]
        low, high, plain, error = mse_range(counts, sample.min(), sample.max())
        # 8-bit MSE clipping of a unit Laplace is near 9.9 (Banner et al. 2019); ReLU keeps 0.
        assert 8.5 < high < 11.5 and error < 0.7 * plain
        assert low == 0 if sample.min() == 0 else -11.5 < low < -8.5


def test_auto_ptq_stops_at_the_first_candidate_within_budget():
    """ptq="auto" on a model whose plain int8 file already agrees: one candidate measured,
    kept, and the plan in the contract. Without validation labels it says what to pass."""
    keras.utils.set_random_seed(0)  # the same weights whatever ran before in this worker
    model = _with_random_batch_norms(create_model("squeezenet_1_1", input_shape=(32, 32, 1),
                                                  num_classes=10))
    images = _images(64)
    labels = np.argmax(model.predict(images, verbose=0), axis=-1)  # float agrees with itself
    result = export(model, calibration=images, validation=(images, labels), ptq="auto")
    plan = result.contract["ptq_auto"]
    assert [row["candidate"] for row in plan["candidates"]] == ["plain"]
    assert plan["chosen"] == "plain" and plan["within_budget"] and plan["float_accuracy"] == 1.0
    assert plan["candidates"][0]["agreement"] >= 0.99 and result.contract["float_ops"] == []
    assert result.contract["ptq"] is None and result.contract["quantizer"] == "converter"
    with pytest.raises(UserError, match="ptq='auto' needs validation=\\(images, labels\\)"):
        export(model, calibration=images, ptq="auto")


def test_file_exports_of_float_models_choose_their_ptq_steps_by_default():
    """`export_model` (scripts/export.py, the pipeline) takes ptq="auto" for a float model's
    plain int8 export from a dataset; what the user states, QAT models, other modes and
    exports without data stay as they are. (`export()` in memory stays plain: the test
    above.)"""
    from tflite_lite.compression import quantize_model
    from tflite_lite.convert.export_files import default_ptq

    model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3)])
    data = object()  # any dataset: only its presence matters here
    config = ExportConfig(model_path="m.keras", output="m.tflite", mode="int8")
    assert default_ptq(config, model, data).ptq == "auto"
    assert default_ptq(config, model, None).ptq is None
    assert default_ptq(config, quantize_model(model), data).ptq is None
    # a clustered run's shared values stay shared: CLE and AdaRound would split them
    clustered = types.SimpleNamespace(compression={"clustering": {"clusters": 16}})
    assert default_ptq(config, model, data, clustered).ptq is None
    dense = types.SimpleNamespace(compression={"clustering": None, "max_distinct_weights": 9000})
    assert default_ptq(config, model, data, dense).ptq == "auto"
    for stated in (dict(ptq="none"), dict(ptq="cle"), dict(keep_float_layers=2),
                   dict(accuracy_budget_pp=0.5), dict(mode="int16x8")):
        kept = ExportConfig(model_path="m.keras", output="m.tflite",
                            **dict(dict(mode="int8"), **stated))
        assert default_ptq(kept, model, data) == kept, stated


@pytest.mark.slow  # every candidate, AdaRound at 0.2 s a layer: about 40 s
def test_auto_ptq_on_a_trained_run_stays_within_its_time(trained_run, tmp_path):
    result = run_main("export", "--model", str(trained_run / "model.keras"), "--output",
                      str(tmp_path / "m.tflite"), "--ptq", "auto", "--evaluate",
                      "--max_eval_examples", "2000", "--adaround_seconds_per_layer", "0.2")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "ptq auto chose" in result.stdout and (tmp_path / "m_ptq_auto.png").exists()
    contract = json.loads((tmp_path / "m.json").read_text())
    plan = contract["ptq_auto"]
    # none reaches 0.99 on 2,000 validation images of this briefly trained model: every
    # candidate measured, the best kept
    from tflite_lite.convert.auto_ptq import CANDIDATES

    assert [row["candidate"] for row in plan["candidates"]] == [c or "plain" for c in CANDIDATES]
    # AdaRound's per-layer budget bounds it (0.2 s x about 60 layers, plus conversions)
    assert sum(row["seconds"] for row in plan["candidates"]) <= 120
    best = max(row["agreement"] for row in plan["candidates"])
    chosen = next(row for row in plan["candidates"] if row["chosen"])
    assert chosen["agreement"] == best
    assert contract["evaluation"]["agreement"] >= 0.95
