"""Int8 exports give logits (apps apply the softmax), so close classes do not tie."""

import numpy as np
import pytest

from tflite_lite import keras
from tflite_lite.convert import TFLiteClassifier, export, flatbuffer
from tflite_lite.convert.evaluate import dequantize
from tflite_lite.convert.scores import choose
from tflite_lite.errors import UserError

_RNG = np.random.default_rng(0)
_IMAGES = _RNG.standard_normal((16, 8, 8, 1)).astype(np.float32)


def _tf_keras_model(head):
    inputs = keras.Input((8, 8, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    x = keras.layers.GlobalAveragePooling2D()(x)
    if head == "activation":
        x = keras.layers.Activation("softmax")(keras.layers.Dense(5)(x))
    else:
        x = keras.layers.Dense(5, activation=head)(x)
    return keras.Model(inputs, x)


def _keras3_models():
    import keras as keras3

    inputs = keras3.Input((8, 8, 1))
    pooled = keras3.layers.GlobalAveragePooling2D()(keras3.layers.Conv2D(4, 3)(inputs))
    dense = keras3.Model(inputs, keras3.layers.Dense(5, activation="softmax")(pooled))
    sequential = keras3.Sequential([keras3.Input((8, 8, 1)), keras3.layers.Flatten(),
                                    keras3.layers.Dense(5), keras3.layers.Softmax()])
    return dense, sequential


def _logits(model):
    """The Keras model's logits, computed from its probabilities (log up to a constant)."""
    p = np.asarray(model(_IMAGES))
    return np.log(p) - np.log(p).mean(-1, keepdims=True)


@pytest.mark.parametrize("head", ["activation", "softmax"])
def test_int8_export_outputs_logits_by_default_and_probabilities_on_request(head):
    model = _tf_keras_model(head)
    result = export(model, mode="int8", calibration=_IMAGES)
    assert result.contract["output"]["scores"] == "logits"
    assert "SOFTMAX" not in result.contract["ops"]
    classifier = TFLiteClassifier(result.tflite)
    assert classifier.output_scores == "logits"  # read back from the embedded contract
    scale = result.contract["output"]["scale"]
    raw = classifier.raw_outputs(_IMAGES)
    logits = dequantize(raw, scale, result.contract["output"]["zero_point"])
    centred = logits - logits.mean(-1, keepdims=True)
    assert np.abs(centred - _logits(model)).max() < 4 * scale
    probabilities = np.stack([classifier.scores(image) for image in _IMAGES])
    np.testing.assert_allclose(probabilities, model(_IMAGES).numpy(), atol=8 * scale)
    plain = export(model, mode="int8", calibration=_IMAGES, scores="probabilities")
    assert plain.contract["output"]["scores"] == "probabilities"
    assert plain.contract["output"]["scale"] == 1 / 256 and plain.contract["ops"]["SOFTMAX"] == 1
    assert export(model, mode="float32").contract["output"]["scores"] == "probabilities"


def test_keras3_models_lose_their_softmax_too():
    for model in _keras3_models():
        result = export(model, mode="int8", calibration=_IMAGES)
        assert result.contract["output"]["scores"] == "logits", model.name
        assert "SOFTMAX" not in result.contract["ops"]


def test_models_without_a_softmax_give_logits_and_bad_choices_are_refused():
    linear = _tf_keras_model("linear")
    assert choose(linear, "float32")[1] == "logits"
    sigmoid = _tf_keras_model("sigmoid")
    assert choose(sigmoid, "int8") == (sigmoid, "probabilities")
    with pytest.raises(UserError, match="scores='logits' needs a model that ends in a softmax"):
        choose(sigmoid, "int8", "logits")
    with pytest.raises(UserError, match="unknown scores 'odds'; choose one of logits, probab"):
        choose(linear, "int8", "odds")


def test_a_released_softmax_model_becomes_a_logits_model_in_place():
    model = _tf_keras_model("softmax")
    plain = export(model, mode="int8", calibration=_IMAGES, scores="probabilities").tflite
    stripped = flatbuffer.without_final_softmax(plain)
    ops = flatbuffer.describe(stripped)["op_counts"]
    assert "SOFTMAX" not in ops and sum(ops.values()) == sum(
        flatbuffer.describe(plain)["op_counts"].values()) - 1
    before, after = TFLiteClassifier(plain), TFLiteClassifier(stripped)
    assert after.output_scores == "logits" and after.output["dtype"] == np.int8
    expected = model(_IMAGES).numpy()
    assert np.abs(np.stack([after.scores(i) for i in _IMAGES]) - expected).max() <= np.abs(
        np.stack([before.scores(i) for i in _IMAGES]) - expected).max() + 0.02
    with pytest.raises(UserError, match="its output does not come from a SOFTMAX op"):
        flatbuffer.without_final_softmax(stripped)
