"""Quantization stage: QAT for every family, low-bit weights, saving, deployment, mixed precision."""

import numpy as np
import pytest
import tensorflow as tf

from conftest import assert_one_line_error, family_representatives, mark_slow, run_main
from tflite_lite import _io
from tflite_lite._keras import keras
from tflite_lite.architectures import create_model
from tflite_lite.convert import convert_model, describe, export_model, ExportConfig, float_ops
from tflite_lite.convert.flatbuffer import measure_weight_bits
from tflite_lite.convert.mixed_precision import select_mixed_precision
from tflite_lite.errors import UserError
from tflite_lite.compression import (LowBitWeightQuantizer, QATConfig, check_quantizable,
                                      deploy_qat_model, load_model, quantize_model)

SHAPE = (32, 32, 1)
# One model per registered family. QAT → deploy → int8 of SqueezeNet 1.1 runs in the fast suite
# (about 3 s); the other families take 10-45 s each and run with the slow tests.
FAMILIES = mark_slow(family_representatives(), lambda name: name != "squeezenet_1_1")


def _images(count=16, seed=0):
    return np.random.default_rng(seed).standard_normal((count, *SHAPE)).astype(np.float32)


def _fit_briefly(model, epochs=2):
    """Epochs of two training steps, so that fake-quant ranges and batch-norm statistics move
    (eager: faster than tracing the training graph for so few steps)."""
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  run_eagerly=True)
    images = _images(32)
    model.fit(images, np.arange(32) % 10, batch_size=16, epochs=epochs, verbose=0)
    return model


@pytest.mark.parametrize("name", FAMILIES)
def test_qat_model_of_every_family_converts_to_all_int8(name):
    float_model = create_model(name, input_shape=SHAPE, num_classes=10)
    qat = quantize_model(float_model)
    # every kernel is fake-quantized: QAT simulates the int8 file's weights (a SqueezeNet
    # convolution with its ReLU as a layer of its own had its kernel left in float by tfmot)
    float_kernels = [layer.name for layer in qat.layers if hasattr(layer, "_weight_vars")
                     and type(layer.layer).__name__ in ("Conv2D", "DepthwiseConv2D", "Dense")
                     and not layer._weight_vars]  # noqa: SLF001
    assert float_kernels == []
    qat = _fit_briefly(qat)
    deployed = deploy_qat_model(qat, name)
    images = _images(8, seed=1)
    np.testing.assert_allclose(deployed(images, training=False).numpy(),
                               qat(images, training=False).numpy(), atol=1e-5)
    description = describe(convert_model(deployed, "int8", _images(16)))
    assert float_ops(description) == []
    ops = description["op_counts"]
    assert ops.get("SOFTMAX") == 1 and "DEQUANTIZE" not in ops
    if name.startswith("shufflenet_v1"):  # native grouped convs: no branch slices
        assert "STRIDED_SLICE" not in ops and ops["CONCATENATION"] == 3


@pytest.mark.parametrize("name", ["squeezenet_1_1",
                                  pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow),
                                  pytest.param("mobilenet_v3_small_075", marks=pytest.mark.slow)])
def test_qat_model_saves_and_loads_exactly(name, tmp_path):
    qat = _fit_briefly(quantize_model(create_model(name, input_shape=SHAPE, num_classes=10),
                                      QATConfig("uniform", 4)))
    path = str(tmp_path / "qat.keras")
    _io.save_keras_model(qat, path)
    loaded = load_model(path)
    images = _images(4)
    np.testing.assert_array_equal(loaded(images, training=False).numpy(),
                                  qat(images, training=False).numpy())
    assert len(loaded.trainable_weights) == len(qat.trainable_weights)


def test_qat_hard_swish_and_squeeze_excite_need_no_calibration():
    """Every tensor of a QAT hard swish and of a squeeze-excite gate (hard sigmoid) gets its
    int8 range from QAT: two different calibration sets give the same flatbuffer (the split
    form's product x * relu6(x + 3) and the hard sigmoid's relu6(x + 3) took their ranges from
    them), and the graph has no HARD_SWISH kernel, which XNNPACK lacks in int8."""
    from tflite_lite.architectures._layers import HardSigmoid, HardSwish

    inputs = keras.Input((8, 8, 3))
    x = HardSwish(name="swish")(keras.layers.Conv2D(8, 3, padding="same", name="conv")(inputs))
    gate = keras.layers.GlobalAveragePooling2D(keepdims=True, name="se_pool")(x)
    gate = keras.layers.Conv2D(4, 1, activation="relu", name="se_reduce")(gate)
    gate = HardSigmoid(name="se_gate")(keras.layers.Conv2D(8, 1, name="se_expand")(gate))
    x = keras.layers.Multiply(name="se_scale")([x, gate])
    x = keras.layers.Conv2D(8, 1, name="project")(x)
    outputs = keras.layers.Dense(4)(keras.layers.GlobalAveragePooling2D()(x))
    qat = quantize_model(keras.Model(inputs, outputs))
    rng = np.random.default_rng(0)
    for scale in (1.0, 3.0):  # fake-quant ranges from two batches, as a short fine-tune would
        qat(rng.normal(0, scale, (32, 8, 8, 3)).astype(np.float32), training=True)
    first, second = (convert_model(qat, "int8", rng.normal(0, scale, (16, 8, 8, 3))
                                   .astype(np.float32)) for scale in (0.5, 4.0))
    assert first == second
    ops = describe(first)["op_counts"]
    assert "HARD_SWISH" not in ops and float_ops(describe(first)) == []
    assert ops["MUL"] == 4  # hard swish: by 1/6 and by x; hard sigmoid: by 1/6; the SE scale


@pytest.mark.parametrize("method,bits,levels", [("uniform", 4, 15), ("uniform", 2, 3),
                                                ("ternary", 8, 3), ("binary", 8, 2)])
def test_low_bit_quantizer_formulas(method, bits, levels):
    kernel = tf.constant(np.random.default_rng(0).standard_normal((3, 3, 8, 4)), tf.float32)
    layer = keras.layers.Conv2D(4, 3)
    quantizer = LowBitWeightQuantizer(method, bits)
    quantizer.build(kernel.shape, "kernel", layer)
    projected = quantizer(kernel, training=True, weights={}).numpy()
    w = kernel.numpy()
    for channel in range(4):
        values = np.unique(np.round(projected[..., channel], 6))
        assert len(values) <= levels
        magnitude = np.abs(w[..., channel])
        if method == "ternary":
            delta = 0.7 * magnitude.mean()
            alpha = magnitude[magnitude > delta].mean()
            np.testing.assert_allclose(projected[..., channel],
                                       alpha * np.sign(w[..., channel]) * (magnitude > delta),
                                       rtol=1e-5, atol=1e-6)
        if method == "binary":
            signs = np.where(w[..., channel] - w.mean() >= 0, 1.0, -1.0)
            np.testing.assert_allclose(projected[..., channel], magnitude.mean() * signs,
                                       rtol=1e-5)


def test_low_bit_weights_get_gradients_straight_through():
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(8, 3, name="low_bit_conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.ReLU()(x))
    model = keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(x))
    qat = quantize_model(model, QATConfig("ternary", keep_first_and_last=False))
    images, labels = _images(16), np.arange(16) % 10
    qat(images, training=True)
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(
            labels, qat(images, training=True)))
    kernel = next(w for w in qat.trainable_weights if "low_bit_conv/kernel" in w.name)
    gradient = tape.gradient(loss, kernel)
    assert gradient is not None and float(tf.norm(gradient)) > 0


# SqueezeNet 1.1 ternary takes about 8 s, MobileNet V2 about 30 s a case: the slow step's.
# The fast suite keeps the low-bit quantizer's own checks (gradients, configs).
@pytest.mark.parametrize("name,method,bits,most", [
    pytest.param("squeezenet_1_1", "ternary", 8, 3, marks=pytest.mark.slow),
    *[pytest.param("mobilenet_v2_035", *case, marks=pytest.mark.slow)
      for case in [("ternary", 8, 3), ("binary", 8, 2), ("uniform", 4, 15)]]])
def test_low_bit_weights_are_stored_as_their_codes_in_int8(name, method, bits, most):
    model = create_model(name, input_shape=SHAPE, num_classes=10)
    qat = _fit_briefly(quantize_model(model, QATConfig(method, bits)), epochs=1)
    tflite = convert_model(qat, "int8", _images(16))
    assert float_ops(describe(tflite)) == []
    report = measure_weight_bits(tflite)
    # The first conv and the classifier stay 8-bit: for MobileNet V2 0.35, at most
    # (144 + 12,800) * (8 - 1) / ~395k = 0.23 bits on top of the low-bit layers' own (SqueezeNet
    # 1.1: (576 + 5,120) * 7 / ~723k = 0.06).
    assert report["effective_bits"] <= np.log2(most) + 0.25, report
    eight_bit = measure_weight_bits(convert_model(_fit_briefly(quantize_model(model), epochs=1),
                                                  "int8", _images(16)))
    assert report["gzip_bytes"] < 0.75 * eight_bit["gzip_bytes"]


@pytest.mark.parametrize("kwargs,fragment", [
    ({"weight_quantizer": "uniform", "weight_bits": 9}, "from 1 to 8"),
    ({"weight_quantizer": "uniform", "weight_bits": 0}, "from 1 to 8"),
    ({"weight_quantizer": "uniform", "weight_bits": 1}, "at least 2 bits"),
    ({"weight_quantizer": "quaternary"}, "unknown weight quantizer"),
])
def test_qat_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        QATConfig(**kwargs)


def test_qat_config_round_trips():
    config = QATConfig("uniform", 3, keep_first_and_last=False)
    assert QATConfig.from_config(config.get_config()) == config
    assert round(config.effective_bits, 3) == round(np.log2(7), 3)
    with pytest.raises(UserError, match="unknown QAT option"):
        QATConfig.from_config({"weight_bit": 4})


def test_layer_qat_cannot_handle_is_named():
    inputs = keras.Input(SHAPE)
    x = keras.layers.Conv2D(4, 3)(inputs)
    x = keras.layers.Lambda(lambda t: t * 2.0, name="doubler")(x)
    outputs = keras.layers.Dense(10)(keras.layers.GlobalAveragePooling2D()(x))
    model = keras.Model(inputs, outputs)
    with pytest.raises(UserError, match="'doubler' \\(Lambda\\).*float_layers=\\['doubler'\\]"):
        check_quantizable(model)
    with pytest.raises(UserError, match="already quantization-aware"):
        quantize_model(quantize_model(create_model("squeezenet_1_1", input_shape=SHAPE,
                                                   num_classes=10)))
    kept = quantize_model(model, QATConfig(float_layers=["doubler"]))
    assert type(kept.get_layer("doubler")).__name__ == "Lambda"  # not wrapped: stays float
    with pytest.raises(UserError, match="float_layers names no layer of the model: nope"):
        quantize_model(model, QATConfig(float_layers=["nope"]))


# QAT fine-tuning and export of MobileNet V2 take about 45 s: slow. The fast suite's small
# pipeline fine-tunes SqueezeNet 1.1 with QAT and exports it to int8.
@pytest.mark.slow
def test_qat_fine_tune_from_a_float_run_exports_int8(trained_run, tmp_path):
    from tflite_lite.training import TrainConfig, train

    output = tmp_path / "qat"
    record = train(TrainConfig(init_from=str(trained_run / "model.keras"), model=None, qat=True,
                               epochs=1, batch_size=64, learning_rate=2e-4, warmup_epochs=0,
                               augment=(),  # as the float run was trained
                               max_train_examples=2048, max_eval_examples=256,
                               output_dir=str(output), verbose=0))
    assert record["model"] == "mobilenet_v2_035"
    assert record["quantization"] == QATConfig().get_config()
    assert record["init_from"].endswith("model.keras")
    contract = export_model(ExportConfig(model_path=str(output / "model.keras"),
                                         output=str(output / "model_int8.tflite"), mode="int8",
                                         evaluate=True, representative_examples=64,
                                         max_eval_examples=300))
    assert contract["float_ops"] == [] and contract["quantization"]["weight_quantizer"] == "int8"
    assert contract["evaluation"]["agreement"] >= 0.97, contract["evaluation"]
    assert contract["weights"]["weights"] > 0


@pytest.mark.parametrize("args,fragment", [
    (["--qat", "--weight_quantizer", "uniform", "--weight_bits", "9"], "from 1 to 8"),
    (["--qat", "--weight_quantizer", "uniform", "--weight_bits", "1"], "at least 2 bits"),
    (["--weight_quantizer", "ternary"], "apply with qat only"),
    (["--init_from", "/nonexistent/model.keras", "--qat"], "no such model file"),
])
def test_train_script_rejects_bad_quantization_flags(args, fragment, tmp_path):
    result = run_main("train", "--output_dir", str(tmp_path / "run"), *args)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run" / "model.keras").exists()


def test_mixed_precision_plan_and_bad_budget():
    model = _fit_briefly(create_model("squeezenet_1_1", input_shape=SHAPE, num_classes=10))
    images = _images(32, seed=2)
    labels = np.argmax(model.predict(images, verbose=0), axis=-1)
    tflite, plan = select_mixed_precision(model, _images(16), images, labels, budget_pp=100.0)
    assert plan["chosen"] == "int8" and len(plan["candidates"]) == 1
    assert plan["float_accuracy"] == 1.0 and float_ops(describe(tflite)) == []
    with pytest.raises(UserError, match="budget must be >= 0"):
        select_mixed_precision(model, _images(16), images, labels, budget_pp=-1)


def test_budget_no_candidate_meets_is_an_error():
    # Class scores that differ by far less than one int8 or int16 step: every quantized
    # candidate ties all classes, while the float model tells them apart.
    inputs = keras.Input(SHAPE)
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3)(inputs))
    dense = keras.layers.Dense(10)
    outputs = keras.layers.Softmax()(dense(x))
    model = keras.Model(inputs, outputs)
    kernel, bias = dense.get_weights()
    dense.set_weights([kernel * 3e-5, bias])
    images = _images(32, seed=3)
    labels = np.argmax(model.predict(images, verbose=0), axis=-1)
    assert len(set(labels)) > 1
    with pytest.raises(UserError, match="no quantization meets the accuracy budget of 0.5 pp"):
        select_mixed_precision(model, _images(16), images, labels, budget_pp=0.5,
                               max_float_layers=0)


def test_export_script_rejects_bad_budget(trained_run, tmp_path):
    result = run_main("export", "--model", str(trained_run / "model.keras"), "--output",
                        str(tmp_path / "m.tflite"), "--accuracy_budget_pp", "-0.5")
    assert_one_line_error(result, "accuracy_budget_pp must be >= 0")
    result = run_main("export", "--model", str(trained_run / "model.keras"), "--output",
                        str(tmp_path / "m.tflite"), "--mode", "float16",
                        "--accuracy_budget_pp", "0.5")
    assert_one_line_error(result, "applies to int8 exports")
    assert not (tmp_path / "m.tflite").exists()
