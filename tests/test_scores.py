"""Int8 exports give float logits by default (int8 compute, a float last layer), so close
classes do not tie in the output; apps apply the softmax."""

import numpy as np
import pytest

from tflite_lite import keras
from tflite_lite.convert import TFLiteClassifier, flatbuffer
from tflite_lite.convert.api import export
from tflite_lite.convert.evaluate import dequantize
from tflite_lite.convert.scores import choose
from tflite_lite.errors import UserError

_RNG = np.random.default_rng(0)
_IMAGES = _RNG.standard_normal((16, 8, 8, 1)).astype(np.float32)


def _tf_keras_model(head):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    if head == "pooled_conv":  # SqueezeNet's kind of head: the logits come from a MEAN
        x = keras.layers.Conv2D(5, 1)(x)
        x = keras.layers.Activation("softmax")(keras.layers.GlobalAveragePooling2D()(x))
        return keras.Model(inputs, x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if head == "activation":
        x = keras.layers.Activation("softmax")(keras.layers.Dense(5)(x))
    else:
        x = keras.layers.Dense(5, activation=head)(x)
    return keras.Model(inputs, x)


def _centred_logits(model):
    """The Keras model's logits up to a constant, from its probabilities."""
    log_p = np.log(np.asarray(model(_IMAGES), np.float64))
    return log_p - log_p.mean(-1, keepdims=True)


def _centred(values):
    return values - values.mean(-1, keepdims=True)


@pytest.mark.parametrize("head", ["activation", "softmax"])
def test_int8_export_gives_float_logits_from_int8_compute(head):
    model = _tf_keras_model(head)
    result = export(model, mode="int8", calibration=_IMAGES)
    output = result.contract["output"]
    assert (output["dtype"], output["scores"], output["float_head"]) == ("float32", "logits", True)
    assert result.contract["input"]["dtype"] == "int8" and result.contract["float_ops"] == []
    assert "SOFTMAX" not in result.contract["ops"] and result.contract["ops"]["DEQUANTIZE"] == 2
    classifier = TFLiteClassifier(result.tflite)
    assert classifier.output_scores == "logits"  # read back from the embedded contract
    float_logits = classifier.raw_outputs(_IMAGES)
    int8 = export(model, mode="int8", calibration=_IMAGES, scores="logits")
    assert int8.contract["output"]["dtype"] == "int8" and "SOFTMAX" not in int8.contract["ops"]
    scale = int8.contract["output"]["scale"]
    codes = TFLiteClassifier(int8.tflite).raw_outputs(_IMAGES)
    int8_logits = dequantize(codes, scale, int8.contract["output"]["zero_point"])
    # the same int8 computation, before the int8 output's rounding (and clipping)
    inside = (codes > -128) & (codes < 127)
    assert np.abs(float_logits - int8_logits)[inside].max() <= scale / 2 + 1e-6
    assert np.abs(_centred(float_logits) - _centred_logits(model)).max() < 4 * scale
    probabilities = np.stack([classifier.scores(image) for image in _IMAGES])
    np.testing.assert_allclose(probabilities.sum(-1), 1, atol=1e-9)
    np.testing.assert_allclose(probabilities, model(_IMAGES).numpy(), atol=8 * scale)
    plain = export(model, mode="int8", calibration=_IMAGES, scores="probabilities")
    assert plain.contract["output"]["scores"] == "probabilities"
    assert plain.contract["output"]["scale"] == 1 / 256 and plain.contract["ops"]["SOFTMAX"] == 1
    assert export(model, mode="float32").contract["output"]["scores"] == "probabilities"


def test_keras3_models_lose_their_softmax_too():
    import keras as keras3

    inputs = keras3.Input((8, 8, 1))
    pooled = keras3.layers.GlobalAveragePooling2D()(keras3.layers.Conv2D(4, 3)(inputs))
    dense = keras3.Model(inputs, keras3.layers.Dense(5, activation="softmax")(pooled))
    sequential = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
                                    keras3.layers.Dense(5), keras3.layers.Softmax()])
    for model in (dense, sequential):
        contract = export(model, mode="int8", calibration=_IMAGES).contract
        assert (contract["output"]["scores"], contract["output"]["dtype"]) == (
            "logits", "float32"), model.name
        assert "SOFTMAX" not in contract["ops"]


def test_logits_from_a_mean_of_a_conv_come_from_a_float_conv_and_mean():
    pooled = _tf_keras_model("pooled_conv")  # SqueezeNet's head
    result = export(pooled, mode="int8", calibration=_IMAGES)
    output = result.contract["output"]
    assert (output["dtype"], output["scores"], output["float_head"]) == ("float32", "logits", True)
    assert result.contract["float_ops"] == [] and result.contract["ops"]["DEQUANTIZE"] == 2
    assert output["head_weights"] == "int8"
    int8 = export(pooled, mode="int8", calibration=_IMAGES, scores="logits")
    assert int8.contract["output"]["dtype"] == "int8"
    scale, zero_point = int8.contract["output"]["scale"], int8.contract["output"]["zero_point"]
    codes = TFLiteClassifier(int8.tflite).raw_outputs(_IMAGES)
    float_logits = TFLiteClassifier(result.tflite).raw_outputs(_IMAGES)
    inside = (codes > -128) & (codes < 127)  # the same int8 compute, before the int8 rounding
    assert np.abs(float_logits - dequantize(codes, scale, zero_point))[inside].max() <= scale
    assert len({tuple(row) for row in np.round(float_logits, 6)}) == len(_IMAGES)
    with pytest.raises(UserError, match="not come from an int8 FULLY_CONNECTED op or a MEAN"):
        flatbuffer.with_float_head(result.tflite)


def test_a_wide_float_head_keeps_its_int8_weights():
    """A 1,000-class head: its float classifier reads the int8 weights through a DEQUANTIZE,
    so the file stays within 1% of the all-int8 one (float32 weights would add 3x the head)."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(256, 3)(inputs))
    model = keras.Model(inputs, keras.layers.Dense(1000, activation="softmax")(x))
    floats = export(model, mode="int8", calibration=_IMAGES)
    int8 = export(model, mode="int8", calibration=_IMAGES, scores="logits")
    assert floats.contract["output"]["head_weights"] == "int8"
    assert int8.contract["output"]["head_weights"] is None
    assert len(floats.tflite) <= 1.01 * len(int8.tflite), (len(floats.tflite), len(int8.tflite))


def test_bad_score_choices_are_refused():
    linear = _tf_keras_model("linear")
    assert choose(linear, "float32")[1] == "logits"
    sigmoid = _tf_keras_model("sigmoid")
    assert choose(sigmoid, "int8") == (sigmoid, "probabilities")
    with pytest.raises(UserError, match="scores='logits' needs a model that ends in a softmax"):
        choose(sigmoid, "int8", "logits")
    with pytest.raises(UserError, match="unknown scores 'odds'; choose one of float_logits, "):
        choose(linear, "int8", "odds")
    with pytest.raises(UserError, match="'float_logits' is for int8 exports .* not float16"):
        choose(linear, "float16", "float_logits")


def test_a_released_softmax_model_gets_its_logits_twins_in_place():
    model = _tf_keras_model("softmax")
    plain = export(model, mode="int8", calibration=_IMAGES, scores="probabilities").tflite
    logits = flatbuffer.without_final_softmax(plain)
    floats = flatbuffer.with_float_head(logits)
    ops = {name: flatbuffer.describe(data)["op_counts"] for name, data in (
        ("plain", plain), ("logits", logits), ("floats", floats))}
    assert ops["logits"] == {k: v for k, v in ops["plain"].items() if k != "SOFTMAX"}
    assert ops["floats"] == dict(ops["logits"], DEQUANTIZE=2)  # its input and its int8 weights
    assert len(floats) <= 1.01 * len(logits) + 2048  # the weights stay int8
    before, middle, after = (TFLiteClassifier(d) for d in (plain, logits, floats))
    assert (middle.output_scores, after.output_scores) == ("logits", "logits")
    assert (middle.output["dtype"], after.output["dtype"]) == (np.int8, np.float32)
    scale, zero_point = middle.output["quantization"]
    codes = middle.raw_outputs(_IMAGES)
    inside = (codes > -128) & (codes < 127)  # the float head is not clipped to int8's range
    assert np.abs(dequantize(codes, scale, zero_point) - after.raw_outputs(_IMAGES))[
        inside].max() <= scale / 2 + 1e-6
    assert np.argmax(before.raw_outputs(_IMAGES), -1).tolist() == np.argmax(
        np.stack([before.scores(i) for i in _IMAGES]), -1).tolist()
    with pytest.raises(UserError, match="its output does not come from a SOFTMAX op"):
        flatbuffer.without_final_softmax(logits)
    with pytest.raises(UserError, match="does not come from an int8 FULLY_CONNECTED op"):
        flatbuffer.with_float_head(floats)


def test_export_script_makes_a_released_models_float_logits_twin(tmp_path):
    import json
    import shutil

    from conftest import REPO, assert_one_line_error, run_main

    for name in ("model_int8.tflite", "model_int8.json", "labels.txt"):
        shutil.copy(f"{REPO}/models/mobilenet_v2_035_fashion_qat/{name}", tmp_path / name)
    released = tmp_path / "model_int8.tflite"
    result = run_main("export", "--model", str(released), "--scores", "float_logits",
                      "--output", str(tmp_path / "twin" / "model_int8.tflite"),
                      "--max_eval_examples", "3000")
    assert result.returncode == 0, result.stderr[-2000:]
    contract = json.loads((tmp_path / "twin" / "model_int8.json").read_text())
    old = json.loads((tmp_path / "model_int8.json").read_text())
    assert contract["output"]["dtype"] == "float32" and contract["float_ops"] == []
    assert contract["logits_twin_of"]["output"] == old["output"]
    evaluation = contract["evaluation"]
    assert evaluation["num_examples"] == 3000 and old["evaluation"]["num_examples"] == 10000
    assert evaluation["tflite_top1_ties"] == 0 < old["evaluation"]["tflite_top1_ties"]
    assert 0 < evaluation["changed_top1"] < 30
    assert abs(evaluation["tflite_accuracy"] - old["evaluation"]["tflite_accuracy"]) < 0.01
    assert "0 tied" in result.stdout
    twin = tmp_path / "twin" / "model_int8.tflite"
    again = run_main("export", "--model", str(twin), "--scores", "float_logits",
                     "--output", str(tmp_path / "again" / "m.tflite"))
    assert_one_line_error(again, "does not come from a SOFTMAX op")
    assert not (tmp_path / "again").exists()
