"""Pretrained weights: keras.applications files (tf_keras and Keras 3, every format) load into
the registry's builders and give the same outputs; files that do not fit are refused."""

import json
import zipfile

import numpy as np
import pytest

from tflite_lite._keras import keras, keras3
from tflite_lite.architectures import create_model
from tflite_lite.errors import UserError

SHAPE = (64, 64, 3)
# our name → (keras.applications builder, alpha, extra arguments)
REFERENCES = {"mobilenet_v1_050": ("MobileNet", 0.5, {}),
              "mobilenet_v2_035": ("MobileNetV2", 0.35, {}),
              "mobilenet_v3_small_075": ("MobileNetV3Small", 0.75,
                                         {"include_preprocessing": False}),
              "mobilenet_v3_large_100": ("MobileNetV3Large", 1.0,
                                         {"include_preprocessing": False})}
FORMATS = [("tf_keras", ".h5"), ("tf_keras", ".weights.h5"), ("tf_keras", ".keras"),
           ("keras3", ".weights.h5"), ("keras3", ".keras")]


def _reference(name, library="tf_keras", classes=1000, seed=0):
    """The keras.applications twin of `name`, every variable random (batch-norm statistics
    too, so a swapped mean and variance would show)."""
    builder, alpha, extra = REFERENCES[name]
    applications = (keras if library == "tf_keras" else keras3()).applications
    model = getattr(applications, builder)(input_shape=SHAPE, alpha=alpha, weights=None,
                                           classes=classes, classifier_activation=None,
                                           **extra)
    rng = np.random.default_rng(seed)
    for variable in model.weights:
        low = 0.5 if "variance" in variable.name else -0.3
        variable.assign(rng.uniform(low, low + 0.6 if low < 0 else 1.0,
                                    variable.shape).astype(np.float32))
    return model


def _save(model, path):
    if path.endswith(".keras"):
        model.save(path)
    else:
        model.save_weights(path)
    return path


def _ours(name, **kwargs):
    kwargs = {"input_shape": SHAPE, "num_classes": 1000, **kwargs}
    return create_model(name, small_input=False, dropout=0.0, classifier_activation=None,
                        **kwargs)


def _images(channels=3, seed=1):
    return np.random.default_rng(seed).uniform(-1, 1, (2, *SHAPE[:2], channels)).astype(
        np.float32)


# Every format on MobileNet V3 Small (the family with Keras 3's renamed layers), one or two on
# the others; three cases run in the fast suite.
FAST = {("mobilenet_v2_035", "tf_keras", ".h5"), ("mobilenet_v3_small_075", "keras3", ".keras"),
        ("mobilenet_v1_050", "keras3", ".weights.h5")}
COMBINATIONS = ([("mobilenet_v3_small_075", library, suffix) for library, suffix in FORMATS]
                + [("mobilenet_v1_050", "keras3", ".weights.h5"),
                   ("mobilenet_v1_050", "tf_keras", ".keras"),
                   ("mobilenet_v2_035", "tf_keras", ".h5"),
                   ("mobilenet_v2_035", "keras3", ".keras"),
                   ("mobilenet_v3_large_100", "tf_keras", ".weights.h5")])
CASES = [pytest.param(*case, marks=() if case in FAST else pytest.mark.slow)
         for case in COMBINATIONS]


@pytest.mark.parametrize("name,library,suffix", CASES)
def test_keras_applications_weights_give_the_same_logits(name, library, suffix, tmp_path):
    reference = _reference(name, library)
    path = _save(reference, str(tmp_path / f"weights{suffix}"))
    ours = _ours(name, weights=path)
    images = _images()
    expected = np.asarray(reference(images, training=False))
    difference = np.abs(ours(images, training=False).numpy() - expected).max()
    assert difference <= 1e-4 * max(1.0, np.abs(expected).max()), difference
    assert difference > 0 or np.abs(expected).max() > 0


def test_gray_model_sums_the_stem_and_another_class_count_gets_a_new_head(tmp_path):
    reference = _reference("mobilenet_v2_035")
    path = _save(reference, str(tmp_path / "weights.h5"))
    gray = _ours("mobilenet_v2_035", input_shape=(*SHAPE[:2], 1), num_classes=7, weights=path)
    features = keras.Model(gray.inputs, gray.get_layer("pool").output)
    reference_features = keras.Model(reference.inputs, reference.layers[-2].output)  # pooling
    images = _images(channels=1)
    np.testing.assert_allclose(features(images, training=False).numpy(),
                               reference_features(np.repeat(images, 3, axis=-1),
                                                  training=False).numpy(), atol=1e-4)
    assert gray.output_shape == (None, 7)

    from tflite_lite.architectures.weights import load_weights

    info = load_weights(_ours("mobilenet_v2_035", input_shape=(*SHAPE[:2], 1), num_classes=7),
                        "mobilenet_v2_035", "mobilenet_v2", path)
    assert info.stem_summed_over_rgb and info.new_classifier
    assert info.layers_loaded == 104  # every weighted layer but the classifier


@pytest.mark.parametrize("library,suffix", [("tf_keras", ".h5"),
                                            pytest.param("keras3", ".weights.h5",
                                                         marks=pytest.mark.slow)])
def test_a_file_without_its_top_leaves_the_classifier_fresh(library, suffix, tmp_path):
    builder, alpha, extra = REFERENCES["mobilenet_v3_small_075"]
    applications = (keras if library == "tf_keras" else keras3()).applications
    no_top = getattr(applications, builder)(input_shape=SHAPE, alpha=alpha, weights=None,
                                            include_top=False, **extra)
    path = _save(no_top, str(tmp_path / f"no_top{suffix}"))
    from tflite_lite.architectures.weights import load_weights

    model = _ours("mobilenet_v3_small_075", num_classes=5)
    info = load_weights(model, "mobilenet_v3_small_075", "mobilenet_v3", path)
    assert info.new_classifier and info.layers_loaded == len(
        [layer for layer in model.layers if layer.weights]) - 2  # head_fc and logits fresh
    np.testing.assert_array_equal(model.get_layer("head_conv").get_weights()[0],
                                  np.asarray(no_top.get_layer(
                                      "Conv_1" if library == "tf_keras" else "conv_1").kernel))


@pytest.fixture(scope="module")
def v2_file(tmp_path_factory):
    return _save(_reference("mobilenet_v2_035"), str(tmp_path_factory.mktemp("w") / "v2.h5"))


def _corrupt(tmp_path, v2_file):
    path = tmp_path / "cut.h5"
    path.write_bytes(open(v2_file, "rb").read()[:5000])
    return str(path)


def _text_model(tmp_path):
    inputs = keras3().Input((12,))
    model = keras3().Model(inputs, keras3().layers.Dense(3)(inputs))
    return _save(model, str(tmp_path / "text.keras"))


@pytest.mark.parametrize("make,kwargs,fragment", [
    (lambda tmp, f: f, {"name": "mobilenet_v2_050"},
     r"layer 'block_1_project' has weights \[\(1, 1, 48, 8\)\] where 'block1_project' needs "
     r"\[\(1, 1, 48, 16\)\] \(weights for another architecture or width\?\)"),
    (lambda tmp, f: f, {"name": "mobilenet_v1_050"}, r"has no layer 'conv1' for 'stem_conv'"),
    (_corrupt, {}, "not a readable Keras weights file"),
    (lambda tmp, f: str(tmp / "missing.h5"), {}, "no such weights file"),
    (lambda tmp, f: _text_model(tmp), {}, "not an image model"),
    (lambda tmp, f: f, {"name": "squeezenet_1_1"}, "no keras.applications weights map for the "
                                                   "squeezenet family"),
])
def test_weights_that_do_not_fit_are_one_line_errors(make, kwargs, fragment, tmp_path, v2_file):
    name = kwargs.get("name", "mobilenet_v2_035")
    with pytest.raises(UserError, match=fragment) as caught:
        create_model(name, input_shape=SHAPE, num_classes=10, weights=make(tmp_path, v2_file))
    assert "\n" not in str(caught.value)


def test_imagenet_weights_offline_name_the_file_to_put_in_the_cache(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))  # an empty Keras cache
    with pytest.raises(UserError, match=r"cannot download https://storage.googleapis.com/"
                                        r".*mobilenet_v3_small_224_0.75_float.h5.*put that file in"):
        create_model("mobilenet_v3_small_075", input_shape=SHAPE, weights="imagenet")
    with pytest.raises(UserError, match="Keras publishes no ImageNet weights for efficientnet"):
        create_model("efficientnet_lite0", input_shape=SHAPE, weights="imagenet")


def test_keras_archive_without_weights_is_refused(tmp_path):
    path = tmp_path / "empty.keras"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("config.json", json.dumps({"config": {"layers": []}}))
    with pytest.raises(UserError, match="not a Keras model archive"):
        create_model("mobilenet_v2_035", input_shape=SHAPE, weights=str(path))


@pytest.mark.slow  # two training runs (17 s); loading and mapping are tested above
def test_training_starts_from_pretrained_weights_frozen_then_fine_tuned(tmp_path):
    from tflite_lite.architectures.weights import load_weights
    from tflite_lite.compression import load_model
    from tflite_lite.training import TrainConfig, train

    # Keras' initialization with positive batch-norm shifts: live ReLUs, so gradients flow.
    pretrained = keras.applications.MobileNetV2(input_shape=SHAPE, alpha=0.35, weights=None)
    for variable in pretrained.weights:
        if "beta" in variable.name:
            variable.assign(np.full(variable.shape, 0.1, np.float32))
    v2_file = _save(pretrained, str(tmp_path / "v2.h5"))

    record = train(TrainConfig(model="mobilenet_v2_035", weights=v2_file, epochs=2,
                               freeze_epochs=1, max_train_examples=64, max_eval_examples=32,
                               verbose=0, output_dir=str(tmp_path / "run")))
    assert record["pretrained"] == {"source": v2_file, "layers_loaded": 104,
                                    "stem_summed_over_rgb": True, "new_classifier": True}
    start = create_model("mobilenet_v2_035", input_shape=(32, 32, 1), num_classes=10)
    load_weights(start, "mobilenet_v2_035", "mobilenet_v2", v2_file)
    frozen = load_model(str(tmp_path / "run" / "checkpoints" / "epoch_001.keras"))
    final = load_model(str(tmp_path / "run" / "model.keras"))

    def changed(model, name):
        return any(not np.array_equal(a, b) for a, b in zip(
            model.get_layer(name).get_weights(), start.get_layer(name).get_weights()))

    # Epoch 1: only the classifier moved; batch-norm statistics never do.
    assert changed(frozen, "logits") and not changed(frozen, "block3_expand")
    assert not changed(frozen, "block3_expand_bn") and not changed(final, "block3_expand_bn")
    assert changed(final, "block3_expand")  # epoch 2 fine-tunes the backbone
    assert all(layer.trainable for layer in final.layers)
