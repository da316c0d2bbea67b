"""Every registered builder: builds, names its layers stably, profiles like its paper."""

import re

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit.default_8bit_quantize_registry import (  # noqa: E501
    Default8BitQuantizeRegistry)

from conftest import family_representatives, mark_slow
from tflite_lite.architectures import (create_model, get_model_config, list_families,
                                       list_models, profile)
from tflite_lite.errors import UserError

ALL_MODELS = list_models()
REQUIRED = ["mobilenet_v1_100", "mobilenet_v2_100", "shufflenet_v1_g3_100",
            "shufflenet_v2_x1_0", "squeezenet_1_0", "squeezenet_1_1"]

FAMILY_REPRESENTATIVES = family_representatives()
# ShuffleNet V1 1.0x: 470-1,320 layers, 3-9 s per 32-px build and 2-6 s more at 224 px; their
# per-model cases run with the slow tests (g3 is built at 224 px for its paper figures).
HEAVY = {"shufflenet_v1_g2_100", "shufflenet_v1_g3_100", "shufflenet_v1_g4_100",
         "shufflenet_v1_g8_100"}

# (model, paper MACs, paper params) at 224x224x3 and 1000 classes; None = not stated.
PAPER_FIGURES = [
    ("mobilenet_v1_100", 569e6, 4.24e6),
    ("mobilenet_v2_100", 300e6, 3.47e6),
    ("shufflenet_v2_x1_0", 146e6, 2.28e6),
    ("shufflenet_v1_g3_100", 140e6, 1.87e6),
    ("squeezenet_1_0", None, 1.25e6),
    ("squeezenet_1_1", None, 1.24e6),
    # Howard et al. 2019, Table 3 (MAdds, params).
    ("mobilenet_v3_large_100", 219e6, 5.4e6),
    ("mobilenet_v3_large_075", 155e6, 4.0e6),
    ("mobilenet_v3_small_100", 56e6, 2.5e6),
    ("mobilenet_v3_small_075", 44e6, 2.0e6),
    # tensorflow/tpu's efficientnet-lite README: 4.7M params. Its 407M MAdds counts more than
    # convolution and dense MACs; counted as here (and by independent reimplementations),
    # Lite0 has 385M.
    ("efficientnet_lite0", 385e6, 4.7e6),
]
# Widths whose per-model checks run with the slow tests: the heavy ones, two MobileNet V3s, and
# every width that is neither its family's representative nor one whose paper figures are
# checked (each 32-px and 224-px build costs about a second).
FAST_WIDTHS = {name for name, _, _ in PAPER_FIGURES} | set(FAMILY_REPRESENTATIVES)
SLOW_WIDTHS = (HEAVY | {"mobilenet_v3_small_100", "mobilenet_v3_large_075"}
               | (set(ALL_MODELS) - FAST_WIDTHS))

# Architectures that keras.applications also builds: the same parameters at 224x224x3.
KERAS_APPLICATIONS = {"mobilenet_v3_large_100": ("MobileNetV3Large", 1.0),
                      "mobilenet_v3_large_075": ("MobileNetV3Large", 0.75),
                      "mobilenet_v3_small_100": ("MobileNetV3Small", 1.0),
                      "mobilenet_v3_small_075": ("MobileNetV3Small", 0.75)}


def test_required_models_are_registered():
    assert set(REQUIRED) <= set(ALL_MODELS)
    assert {"mobilenet_v2_035", "shufflenet_v2_x0_5"} <= set(ALL_MODELS)


def test_families_list_every_model_once():
    families = list_families()
    assert sorted(name for names in families.values() for name in names) == ALL_MODELS
    assert set(families) == {get_model_config(name).family for name in ALL_MODELS}


@pytest.mark.parametrize("family", mark_slow(
    list_families(), lambda family: bool(SLOW_WIDTHS & set(list_families()[family]))))
def test_each_family_registers_its_smallest_model_first(family, build):
    names = list_families()[family]
    params = [build(name).count_params() for name in names]
    assert params[0] == min(params), dict(zip(names, params))


@pytest.mark.parametrize("name", mark_slow(ALL_MODELS, SLOW_WIDTHS.__contains__))
def test_builds_small_grayscale_and_predicts(name, build):
    model = build(name)
    assert model.name == name
    assert model.output_shape == (None, 10)
    probs = model(np.random.default_rng(0).uniform(-1, 1, (2, 32, 32, 1)).astype("float32"))
    np.testing.assert_allclose(np.sum(probs, axis=-1), 1.0, rtol=1e-4)


# The fast suite builds at 224 px only the models whose paper figures it checks (built for that
# test anyway) and each family's representative but ShuffleNet V1's (600 layers, 2-3 s per
# 224-px build); every other width runs with the slow tests.
def _slow_at_224(name):
    return name in HEAVY or name not in FAST_WIDTHS or name == "shufflenet_v1_g3_050"


@pytest.mark.parametrize("name", mark_slow(ALL_MODELS, _slow_at_224))
def test_builds_imagenet_shape(name, build):
    model = build(name, input_shape=(224, 224, 3), num_classes=1000)
    assert model.input_shape == (None, 224, 224, 3)
    assert model.output_shape == (None, 1000)


@pytest.mark.parametrize("name", mark_slow(ALL_MODELS, lambda name: name in SLOW_WIDTHS
                                          or _slow_at_224(name)))
def test_layer_names_are_stable_snake_case(name, build):
    """Two builds of the same variant name their layers alike: the small-input build at 32x32x1
    and the same variant at 224x224x3 with 1,000 classes."""
    first = [layer.name for layer in build(name).layers]
    second = [layer.name for layer in build(name, input_shape=(224, 224, 3), num_classes=1000,
                                            small_input=True).layers]
    assert first == second
    assert len(set(first)) == len(first)
    assert all(re.fullmatch(r"[a-z0-9_]+", n) for n in first), first


@pytest.mark.parametrize("name", mark_slow(ALL_MODELS, SLOW_WIDTHS.__contains__))
def test_every_layer_is_supported_by_tfmot_8bit_qat(name, build):
    """Each layer is in tfmot's 8-bit registry, is a batch norm that QAT folds into its conv, or
    is one that the QAT stage gives an output quantizer (hard swish, squeeze-excite gating)."""
    from tflite_lite._keras import keras
    from tflite_lite.compression.qat import OUTPUT_QUANTIZED_LAYERS

    registry = Default8BitQuantizeRegistry()
    model = build(name)
    unsupported = []
    for layer in model.layers[1:]:
        if isinstance(layer, keras.layers.BatchNormalization):
            producer = layer._inbound_nodes[0].inbound_layers
            if isinstance(producer, (keras.layers.Conv2D, keras.layers.DepthwiseConv2D)):
                continue
        if not registry.supports(layer) and not isinstance(layer, OUTPUT_QUANTIZED_LAYERS):
            unsupported.append(layer.name)
    assert not unsupported


# Raw tfmot on one family in the fast suite (4-20 s each for the others; the product's QAT of
# every family is tested in test_quantization.py).
@pytest.mark.parametrize("name", mark_slow(FAMILY_REPRESENTATIVES,
                                          lambda name: name != "squeezenet_1_1"))
def test_tfmot_quantize_apply_accepts_each_family(name, build):
    """tfmot's own `quantize_apply` on the model as the QAT stage annotates it."""
    from tflite_lite.compression.qat import annotate_model, quantize_scope

    with quantize_scope():
        qat = tfmot.quantization.keras.quantize_apply(annotate_model(build(name)))
    assert any(type(layer).__name__ == "QuantizeWrapperV2" for layer in qat.layers)


@pytest.mark.parametrize("name,paper_macs,paper_params", PAPER_FIGURES)
def test_profile_matches_paper(name, paper_macs, paper_params, build):
    result = profile(build(name, input_shape=(224, 224, 3), num_classes=1000))
    assert result["params"] == pytest.approx(paper_params, rel=0.02)
    if paper_macs:
        assert result["macs"] == pytest.approx(paper_macs, rel=0.02)


@pytest.mark.parametrize("name", mark_slow(sorted(KERAS_APPLICATIONS),
                                          lambda name: name != "mobilenet_v3_small_075"))
def test_params_match_keras_applications(name, build):
    from tflite_lite._keras import keras

    builder, alpha = KERAS_APPLICATIONS[name]
    reference = getattr(keras.applications, builder)(
        input_shape=(224, 224, 3), alpha=alpha, weights=None, include_preprocessing=False)
    ours = build(name, input_shape=(224, 224, 3), num_classes=1000)
    assert ours.count_params() == pytest.approx(reference.count_params(), rel=0.01)


def test_squeezenet_1_1_needs_about_2_4x_fewer_macs(build):
    imagenet = dict(input_shape=(224, 224, 3), num_classes=1000)
    ratio = profile(build("squeezenet_1_0", **imagenet))["macs"] / profile(
        build("squeezenet_1_1", **imagenet))["macs"]
    assert 2.2 <= ratio <= 2.6


def test_profile_counts_a_hand_computed_model():
    from tflite_lite._keras import keras

    inputs = keras.Input((10, 10, 8))
    x = keras.layers.Conv2D(16, 3, padding="same", use_bias=False, name="conv")(inputs)
    x = keras.layers.BatchNormalization(name="bn")(x)
    x = keras.layers.DepthwiseConv2D(3, strides=2, padding="same", name="dw")(x)
    x = keras.layers.Conv2D(8, 1, groups=4, name="gconv")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    x = keras.layers.Dense(5, name="fc")(x)
    result = profile(keras.Model(inputs, x))
    by_name = {row["name"]: row for row in result["layers"]}
    assert by_name["conv"]["macs"] == 10 * 10 * 16 * 3 * 3 * 8
    assert by_name["conv"]["params"] == 3 * 3 * 8 * 16
    assert by_name["bn"]["params"] == 16
    assert by_name["dw"]["macs"] == 5 * 5 * 16 * 3 * 3
    assert by_name["dw"]["params"] == 3 * 3 * 16 + 16
    assert by_name["gconv"]["macs"] == 5 * 5 * 8 * (16 // 4)
    assert by_name["gconv"]["params"] == 16 // 4 * 8 + 8
    assert by_name["fc"]["macs"] == 8 * 5
    assert result["macs"] == sum(row["macs"] for row in result["layers"])
    assert result["keras_params"] == 3 * 3 * 8 * 16 + 4 * 16 + 3 * 3 * 16 + 16 + 4 * 8 + 8 + 45


# ShuffleNet V1's cases (3.5-4.5 s per build: 600 layers at 0.5x) with the slow tests; its
# 32-px build is checked with every registered model above.
@pytest.mark.parametrize("name", ["mobilenet_v1_050", "mobilenet_v2_035",
                                  pytest.param("shufflenet_v1_g3_050", marks=pytest.mark.slow),
                                  pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow),
                                  "squeezenet_1_1"])
def test_small_input_keeps_a_larger_final_map_at_32px(name, build):
    small = build(name, include_top=False)
    large = build(name, include_top=False, small_input=False)
    assert min(small.output_shape[1:3]) >= 3  # 4x4 (3x3 for SqueezeNet 1.1's valid stem)
    assert max(large.output_shape[1:3]) <= 2


@pytest.mark.parametrize("name", mark_slow(FAMILY_REPRESENTATIVES + ["squeezenet_1_0"],
                                          lambda name: name.startswith("shufflenet")))
@pytest.mark.parametrize("small_input", [True, False])
def test_smallest_input_builds_in_both_variants(name, small_input, build):
    model = build(name, input_shape=(28, 28, 1), small_input=small_input)
    assert model.output_shape == (None, 10)


def test_channel_shuffle_and_split_move_the_right_channels():
    from tflite_lite._keras import keras
    from tflite_lite.architectures import _blocks

    inputs = keras.Input((2, 2, 6))
    shuffled = _blocks.channel_shuffle(inputs, 2, "shuffle")
    first, second = _blocks.channel_split(inputs, "split")
    model = keras.Model(inputs, [shuffled, first, second])
    x = np.arange(24, dtype="float32").reshape(1, 2, 2, 6)
    out_shuffled, out_first, out_second = [t.numpy() for t in model(x)]
    np.testing.assert_array_equal(out_shuffled, x[..., [0, 3, 1, 4, 2, 5]])
    np.testing.assert_array_equal(out_first, x[..., :3])
    np.testing.assert_array_equal(out_second, x[..., 3:])


def test_grouped_pointwise_equals_a_grouped_conv():
    from tflite_lite._keras import keras
    from tflite_lite.architectures import _blocks

    groups, channels_in, channels_out = 3, 12, 6
    inputs = keras.Input((4, 4, channels_in))
    ours = keras.Model(inputs, _blocks.grouped_pointwise_bn(inputs, channels_out, groups, "g",
                                                            activation=None))
    reference = keras.layers.Conv2D(channels_out, 1, groups=groups, use_bias=False)
    x = np.random.default_rng(0).normal(size=(2, 4, 4, channels_in)).astype("float32")
    reference(x)
    kernel = reference.kernel.numpy()  # (1, 1, in/groups, out), output blocks by group
    per_group = channels_out // groups
    for i in range(groups):
        ours.get_layer(f"g_g{i}").kernel.assign(kernel[..., i * per_group:(i + 1) * per_group])
    expected = reference(x).numpy() / np.sqrt(1 + 1e-3)  # a fresh batch norm at inference
    np.testing.assert_allclose(ours(x, training=False).numpy(), expected, rtol=1e-5, atol=1e-5)


def test_model_config_round_trips():
    config = get_model_config("mobilenet_v2_035")
    assert type(config).from_config(config.get_config()) == config
    assert config.family == "mobilenet_v2"


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(name="resnet_50"), "models are registered (`--model list`"),
    (dict(name="mobilenet_v2_35"), "did you mean mobilenet_v2_035"),
    (dict(name="mobilenet_v2_100", input_shape=(16, 16, 1)), "too small"),
    (dict(name="mobilenet_v2_100", input_shape=(32, 32)), "input_shape must be"),
    (dict(name="mobilenet_v2_100", num_classes=0), "num_classes must be a positive integer"),
    (dict(name="mobilenet_v2_100", classifier_activation="tanh"), "classifier_activation"),
])
def test_bad_arguments_raise_user_error(kwargs, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        create_model(**kwargs)


@pytest.mark.parametrize("builder,kwargs,fragment", [
    ("MobileNetV2", dict(alpha=0), "alpha must be positive"),
    ("MobileNetV1", dict(alpha=-1.0), "alpha must be positive"),
    ("ShuffleNetV1", dict(groups=5), "groups must be one of"),
    ("ShuffleNetV1", dict(width=0), "width must be positive"),
    ("ShuffleNetV2", dict(width=0.75), "width must be one of"),
    ("SqueezeNet", dict(version="2.0"), "version must be one of"),
])
def test_builders_validate_their_own_arguments(builder, kwargs, fragment):
    from tflite_lite import architectures

    with pytest.raises(UserError, match=re.escape(fragment)):
        getattr(architectures, builder)(input_shape=(32, 32, 1), **kwargs)


@pytest.mark.slow  # tfmot QAT and int8 conversion of a ShuffleNet: 12-30 s
@pytest.mark.parametrize("name", ["shufflenet_v2_x0_5", "shufflenet_v1_g3_050"])
def test_shufflenet_survives_qat_and_full_int8_conversion(name, build):
    """Channel split, shuffle and grouped 1x1 convs go through tfmot QAT and the int8
    converter (tfmot #1062)."""
    from ai_edge_litert.interpreter import Interpreter

    from tflite_lite._keras import keras

    from tflite_lite.convert import convert_model

    qat = tfmot.quantization.keras.quantize_model(build(name))
    images = np.random.default_rng(0).uniform(-1, 1, (8, 32, 32, 1)).astype("float32")
    inputs = keras.Input((32, 32, 1), batch_size=1)
    # Post-training int8 with int8 I/O and integer-only ops, from 8 representative images.
    interpreter = Interpreter(model_content=convert_model(keras.Model(inputs, qat(inputs)),
                                                          "int8", images))
    interpreter.allocate_tensors()
    assert interpreter.get_input_details()[0]["dtype"] == np.int8
    assert interpreter.get_output_details()[0]["dtype"] == np.int8
    float_tensors = [t["name"] for t in interpreter.get_tensor_details()
                     if t["dtype"] == np.float32]
    assert not float_tensors


def test_profile_script_prints_paper_figures(tmp_path):
    import json

    from conftest import run_main

    result = run_main("profile_model", "--model", "mobilenet_v2_100", "--top", "5",
                        "--json", str(tmp_path / "profile.json"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "mobilenet_v2_100: 3.488M params, 300.8M MACs" in result.stdout
    assert json.loads((tmp_path / "profile.json").read_text())["macs"] == 300_774_272
