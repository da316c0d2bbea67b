"""Pruning and structure: tfmot magnitude / 2:4 pruning, channel pruning that rebuilds a smaller
model, clustering, low-rank factorization, their training runs and exports (real TF, tfmot,
converter and LiteRT)."""

import json

import numpy as np
import pytest

from conftest import assert_one_line_error, run_main
from tflite_lite._keras import keras
from tflite_lite.architectures import create_model, profile
from tflite_lite.convert import ExportConfig, export_model
from tflite_lite.convert.converter import convert_model
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.errors import UserError
from tflite_lite.compression import (
    ChannelPruningConfig,
    ClusteringConfig,
    LowRankConfig,
    PruningConfig,
    cluster_model,
    distinct_weights,
    factorize,
    free_channel_groups,
    m_by_n_fraction,
    plan_factorization,
    prune_channels,
    prune_model,
    pruning_callbacks,
    strip_clustering,
    strip_pruning,
    weight_sparsity,
)
from tflite_lite.compression import channel_pruning as channel_module
from tflite_lite.compression import shuffle_units
from tflite_lite.run_record import RunRecord

SHAPE = (32, 32, 1)


def _images(count=16, seed=0):
    return np.random.default_rng(seed).uniform(-1, 1, (count, *SHAPE)).astype(np.float32)


def _fit(model, steps=3, callbacks=()):
    labels = np.arange(16 * steps) % 10
    # Eager: a few steps run faster than tracing the training graph would take.
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  run_eagerly=True)
    model.fit(_images(16 * steps), labels, batch_size=16, epochs=1, verbose=0,
              callbacks=list(callbacks))


def _logits_model(name):
    """A fresh model with logits out and non-trivial batch-norm statistics."""
    model = create_model(name, input_shape=SHAPE, num_classes=10, classifier_activation=None)
    rng = np.random.default_rng(1)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights([rng.uniform(0.5, 1.5, w.shape).astype(np.float32)
                               for w in layer.get_weights()])
    return model


# --- magnitude and m:n pruning ---------------------------------------------------------------

@pytest.mark.parametrize("kwargs,fragment", [
    ({"final_sparsity": 1.0}, "final_sparsity must be in [0, 1)"),
    ({"final_sparsity": -0.1}, "final_sparsity must be in [0, 1)"),
    ({"initial_sparsity": 0.6, "final_sparsity": 0.5}, "is above final_sparsity"),
    ({"begin_step": 100, "end_step": 50}, "must come after begin_step"),
    ({"frequency": 0}, "frequency must be a positive integer"),
    ({"schedule": "linear"}, "schedule must be one of"),
    ({"m_by_n": "4:2"}, "need 0 < m < n"),
    ({"m_by_n": "two of four"}, "must look like 2:4"),
])
def test_pruning_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UserError, match=fragment.replace("[", r"\[").replace(")", r"\)")):
        PruningConfig(**kwargs)


def test_pruning_config_round_trips():
    config = PruningConfig(final_sparsity=0.8, schedule="constant", begin_step=10, end_step=90)
    assert PruningConfig.from_config(config.get_config()) == config
    assert config.with_steps(300).end_step == 90
    assert PruningConfig().with_steps(300).end_step == 200
    with pytest.raises(UserError, match="unknown pruning option"):
        PruningConfig.from_config({"sparsity": 0.5})


def test_magnitude_pruning_reaches_the_target_sparsity_per_layer():
    model = create_model("mobilenet_v1_025", input_shape=SHAPE, num_classes=10)
    pruned = prune_model(model, PruningConfig(final_sparsity=0.5, schedule="constant",
                                              frequency=1))
    _fit(pruned, callbacks=pruning_callbacks())
    stripped = strip_pruning(pruned)
    assert not any(isinstance(layer, keras.layers.Wrapper) for layer in stripped.layers)
    sparsity = weight_sparsity(stripped)
    assert 0.45 <= sparsity["overall"] <= 0.5, sparsity["overall"]  # depthwise stays dense
    pruned_layers = [layer.name for layer in stripped.layers
                     if type(layer) in (keras.layers.Conv2D, keras.layers.Dense)]
    assert all(0.49 <= sparsity["layers"][name] <= 0.51 for name in pruned_layers)
    assert sparsity["layers"]["block1_dw"] == 0.0
    assert weight_sparsity(model)["overall"] < 0.01  # the original is untouched


def test_two_of_four_sparsity_holds_in_every_block():
    model = create_model("squeezenet_1_1", input_shape=SHAPE, num_classes=10)
    assert m_by_n_fraction(model) < 0.1
    pruned = prune_model(model, PruningConfig(m_by_n="2:4"))
    _fit(pruned, steps=2, callbacks=pruning_callbacks())
    assert m_by_n_fraction(strip_pruning(pruned), "2:4") == 1.0


def test_pruning_a_model_without_prunable_layers_is_an_error():
    inputs = keras.Input(SHAPE)
    model = keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(inputs))
    with pytest.raises(UserError, match="no prunable layer"):
        prune_model(model, PruningConfig())


# --- channel pruning -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["mobilenet_v1_050", "mobilenet_v2_035", "squeezenet_1_0",
                                  pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow),
                                  # 600 layers, 7 s; the deployment test below prunes it fast
                                  pytest.param("shufflenet_v1_g3_050", marks=pytest.mark.slow)])
def test_channel_pruning_rebuilds_a_smaller_model_with_the_same_function(name):
    model = _logits_model(name)
    config = ChannelPruningConfig(fraction=0.5, criterion="activation")
    groups, units = free_channel_groups(model), shuffle_units.find(model)
    scores = channel_module._scores(model, groups + units, "activation", _images())
    plan, _ = channel_module.channel_plan(model, groups, scores[:len(groups)], units,
                                          scores[len(groups):], 0.5, config)
    small = prune_channels(model, config, _images())
    assert [layer.name for layer in small.layers] == [layer.name for layer in model.layers]
    assert profile(small)["macs"] < 0.7 * profile(model)["macs"]
    # Cut the removed channels out of the original by zeroing what reads them: the outputs
    # must then match the small model's exactly.
    for layer in model.layers:
        in_keep = plan.get(layer.name, (None, None))[0]
        if in_keep is not None and type(layer) in (keras.layers.Conv2D, keras.layers.Dense):
            weights = layer.get_weights()
            dropped = np.setdiff1d(np.arange(weights[0].shape[-2]), in_keep)
            weights[0][..., dropped, :] = 0
            layer.set_weights(weights)
    images = _images(8, seed=3)
    expected = model(images).numpy()
    scale = np.abs(expected).max()
    assert scale > 1e-6 and np.ptp(expected) > 0
    np.testing.assert_allclose(small(images).numpy(), expected, rtol=1e-4, atol=1e-4 * scale)


@pytest.mark.slow  # ShuffleNet V1: 600 layers, 10 s
def test_channel_pruned_shufflenet_v1_deploys_with_native_grouped_convs():
    from tflite_lite.architectures import deploy_form

    small = prune_channels(_logits_model("shufflenet_v1_g3_050"),
                           ChannelPruningConfig(fraction=0.5))
    native = deploy_form(small)
    assert not any("_split" in layer.name for layer in native.layers)
    grouped = native.get_layer("stage3_unit2_gconv1")
    assert grouped.groups == 3 and grouped.filters < 60
    images = _images(4)
    np.testing.assert_allclose(native(images).numpy(), small(images).numpy(), rtol=1e-4,
                               atol=1e-5)


def test_channel_pruning_to_a_mac_target_converts_to_int8():
    model = _logits_model("mobilenet_v1_025")
    small = prune_channels(model, ChannelPruningConfig(target_macs_ratio=0.5))
    assert profile(small)["macs"] <= 0.5 * profile(model)["macs"]
    assert profile(small)["macs"] > 0.3 * profile(model)["macs"]
    classifier = TFLiteClassifier(convert_model(small, "int8", _images(32)))
    assert classifier.raw_output(_images(1)[0]).shape == (10,)


def test_channel_pruning_refuses_what_it_cannot_do():
    inputs = keras.Input(SHAPE)
    residual = keras.layers.Add()([inputs, keras.layers.Conv2D(1, 1)(inputs)])
    with pytest.raises(UserError, match="no channels that can be removed"):
        prune_channels(keras.Model(inputs, residual), ChannelPruningConfig())
    squeezenet = create_model("squeezenet_1_1", input_shape=SHAPE, num_classes=10)
    with pytest.raises(UserError, match="has no batch norm"):
        prune_channels(squeezenet, ChannelPruningConfig(criterion="bn_gamma"))
    with pytest.raises(UserError, match="needs calibration images"):
        prune_channels(squeezenet, ChannelPruningConfig(criterion="activation"))
    with pytest.raises(UserError, match="fraction must be in"):
        ChannelPruningConfig(fraction=1.0)
    with pytest.raises(UserError, match="target_macs_ratio must be in"):
        ChannelPruningConfig(target_macs_ratio=0)


# --- clustering ------------------------------------------------------------------------------

def test_clustering_leaves_k_distinct_values_per_kernel():
    model = create_model("mobilenet_v1_025", input_shape=SHAPE, num_classes=10)
    clustered = cluster_model(model, ClusteringConfig(8, per_layer={"logits": 0, "stem_conv": 4}))
    _fit(clustered, steps=2)
    counts = distinct_weights(strip_clustering(clustered))
    assert counts["stem_conv"] <= 4
    assert counts["logits"] > 8
    assert max(v for k, v in counts.items() if k not in ("logits", "stem_conv")) <= 8


@pytest.mark.parametrize("kwargs,fragment", [
    ({"number_of_clusters": 1}, "must be an integer >= 2"),
    ({"per_layer": {"stem_conv": 1}}, "must be an integer >= 2"),
    ({"init": "random"}, "init must be one of"),
])
def test_clustering_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        ClusteringConfig(**kwargs)


def test_clustering_names_an_unknown_layer():
    model = create_model("squeezenet_1_1", input_shape=SHAPE, num_classes=10)
    with pytest.raises(UserError, match="'nope', which is not a clusterable layer"):
        cluster_model(model, ClusteringConfig(per_layer={"nope": 4}))


# --- low-rank factorization ------------------------------------------------------------------

def test_svd_of_a_low_rank_kernel_is_exact_and_smaller():
    model = _logits_model("mobilenet_v2_035")
    head = model.get_layer("head_conv")
    kernel = head.get_weights()[0]
    rng = np.random.default_rng(0)
    low_rank = rng.normal(size=(kernel.shape[2], 6)) @ rng.normal(size=(6, kernel.shape[3]))
    head.set_weights([low_rank.reshape(kernel.shape).astype(np.float32) / 10])
    config = LowRankConfig(energy=0.99999, layers=("head_conv",))
    assert plan_factorization(model, config) == {"head_conv": (6, *kernel.shape[2:])}
    thin = factorize(model, config)
    assert thin.get_layer("head_conv_low_rank").kernel.shape[-1] == 6
    assert profile(thin)["params"] < profile(model)["params"]
    images = _images(4)
    np.testing.assert_allclose(thin(images).numpy(), model(images).numpy(), rtol=1e-3,
                               atol=1e-4)
    assert TFLiteClassifier(convert_model(thin, "int8", _images(32))).raw_output(
        images[0]).shape == (10,)


@pytest.mark.parametrize("kwargs,fragment", [
    ({"energy": 0}, "energy must be in"),
    ({"energy": 1.5}, "energy must be in"),
    ({"rank": 0}, "rank must be a positive integer"),
])
def test_low_rank_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        LowRankConfig(**kwargs)


def test_low_rank_refuses_layers_it_cannot_split():
    model = create_model("mobilenet_v2_035", input_shape=SHAPE, num_classes=10)
    with pytest.raises(UserError, match="is not a Dense or 1x1 Conv2D"):
        factorize(model, LowRankConfig(layers=("stem_conv",)))
    with pytest.raises(UserError, match="has no layer 'nope'"):
        factorize(model, LowRankConfig(layers=("nope",)))
    with pytest.raises(UserError, match="gets smaller at rank 10000"):
        factorize(model, LowRankConfig(rank=10000))


# --- training runs and exports ---------------------------------------------------------------

def test_train_config_checks_and_round_trips_compression(trained_run):
    from tflite_lite.training import TrainConfig

    source = str(trained_run / "model.keras")
    with pytest.raises(UserError, match="cannot run in one training run"):
        TrainConfig(init_from=source, model=None, qat=True, pruning=PruningConfig())
    with pytest.raises(UserError, match="starts from trained weights"):
        TrainConfig(clustering=ClusteringConfig())
    with pytest.raises(UserError, match="apply with qat only"):
        TrainConfig(qat_preserve="sparsity")
    with pytest.raises(UserError, match="holds the init_from model"):
        TrainConfig(init_from=source, model=None, output_dir=str(trained_run))
    config = TrainConfig(init_from=source, model=None, pruning=PruningConfig(0.75),
                         low_rank={"energy": 0.8})
    restored = TrainConfig.from_config(json.loads(json.dumps(config.get_config())))
    assert restored == config and isinstance(restored.low_rank, LowRankConfig)


@pytest.mark.slow
def test_prune_then_sparsity_preserving_qat_keeps_zeros_in_the_int8_flatbuffer(trained_run,
                                                                                tmp_path):
    from tflite_lite.training import TrainConfig, finetune_config, train

    common = dict(epochs=1, max_train_examples=1024, max_eval_examples=500, keep_checkpoints=1,
                  verbose=0)
    record = train(finetune_config(str(trained_run), str(tmp_path / "pruned"), **common,
                                   pruning=PruningConfig(0.75, schedule="constant",
                                                         frequency=4)))
    assert record["compression"]["sparsity"] >= 0.7
    assert record["compression"]["pruning"]["final_sparsity"] == 0.75
    qat = train(TrainConfig(init_from=str(tmp_path / "pruned" / "model.keras"), model=None,
                            qat=True, qat_preserve="sparsity", batch_size=64,
                            output_dir=str(tmp_path / "pqat"), **common))
    assert qat["compression"]["sparsity"] >= 0.7
    # A model of 1 epoch on 1,024 images: its classes nearly tie, and the int8 softmax's
    # ties, broken to the first class, agreed with Keras more than its float logits do
    # (0.755 in one CI run); this test is about the zeros, so it keeps that output.
    contract = export_model(ExportConfig(model_path=str(tmp_path / "pqat" / "model.keras"),
                                         output=str(tmp_path / "pqat" / "m.tflite"),
                                         representative_examples=32, evaluate=True,
                                         max_eval_examples=200, scores="probabilities"))
    assert contract["float_ops"] == []
    assert contract["weights"]["sparsity"] >= 0.65, contract["weights"]
    assert contract["evaluation"]["agreement"] >= 0.9
    # TFLite's sparse format: smaller flatbuffer; XNNPACK refuses it, LiteRT's kernels run it.
    sparse = export_model(ExportConfig(model_path=str(tmp_path / "pqat" / "model.keras"),
                                       output=str(tmp_path / "pqat" / "sparse.tflite"),
                                       representative_examples=32, sparse=True,
                                       evaluate=True, max_eval_examples=50,
                                       scores="probabilities"))
    assert sparse["weights"]["sparse_tensors"] > 0
    assert sparse["size_bytes"] < contract["size_bytes"]
    assert sparse["evaluation"]["agreement"] >= 0.9


@pytest.mark.slow
def test_channel_pruned_and_clustered_runs_export(trained_run, tmp_path):
    from tflite_lite.training import TrainConfig, finetune_config, train

    # Structure, not accuracy, is under test: four short runs.
    common = dict(epochs=1, max_train_examples=256, max_eval_examples=128, keep_checkpoints=1,
                  verbose=0)
    channel = train(finetune_config(str(trained_run), str(tmp_path / "channel"), **common,
                                    channel_pruning=ChannelPruningConfig(target_macs_ratio=0.5)))
    assert channel["macs"] <= 0.5 * RunRecord.load(trained_run)["macs"]
    assert channel["compression"]["restructured"]
    # A restructured run fine-tunes again from its own structure (not the builder's).
    again = train(TrainConfig(init_from=str(tmp_path / "channel" / "model.keras"), model=None,
                              qat=True, output_dir=str(tmp_path / "channel_qat"), **common))
    assert again["macs"] == channel["macs"] and again["compression"]["restructured"]
    contract = export_model(ExportConfig(model_path=str(tmp_path / "channel_qat" / "model.keras"),
                                         output=str(tmp_path / "channel_qat" / "m.tflite"),
                                         representative_examples=32))
    assert contract["float_ops"] == [] and contract["macs"] < 0.6 * 15_316_224

    train(finetune_config(str(trained_run), str(tmp_path / "clustered"), **common,
                          clustering=ClusteringConfig(16)))
    cqat = train(TrainConfig(init_from=str(tmp_path / "clustered" / "model.keras"), model=None,
                             qat=True, qat_preserve="clusters",
                             output_dir=str(tmp_path / "cqat"), **common))
    assert cqat["compression"]["max_distinct_weights"] <= 16 * 3  # per-layer, after QAT
    contract = export_model(ExportConfig(model_path=str(tmp_path / "cqat" / "model.keras"),
                                         output=str(tmp_path / "cqat" / "m.tflite"),
                                         representative_examples=32))
    assert contract["float_ops"] == []


@pytest.mark.parametrize("args,fragment", [
    (["--prune_final_sparsity", "1.0"], "final_sparsity must be in [0, 1)"),
    (["--prune_begin_step", "50", "--prune_end_step", "10", "--prune_final_sparsity", "0.5"],
     "must come after begin_step"),
    (["--prune_m_by_n", "4:2"], "need 0 < m < n"),
    (["--clusters", "1"], "must be an integer >= 2"),
    (["--clusters", "16"], "starts from trained weights"),
    (["--low_rank_rank", "0"], "rank must be a positive integer"),
    (["--channel_prune_fraction", "1.5"], "fraction must be in [0, 1)"),
    (["--qat_preserve", "sparsity"], "apply with qat only"),
    (["--qat", "--prune_final_sparsity", "0.5"], "cannot run in one training run"),
])
def test_train_script_rejects_bad_compression_flags(args, fragment, tmp_path):
    result = run_main("train", "--output_dir", str(tmp_path / "run"), *args)
    assert_one_line_error(result, fragment)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_bench_compression_prints_table_and_writes_json(trained_run, tmp_path):
    output = tmp_path / "bench.json"
    result = run_main("benchmarks/compression", "--float_run", str(trained_run),
                        "--variants", "sparse 50%,channel", "--epochs", "1",
                        "--max_train_examples", "256", "--max_eval_examples", "100",
                        "--num_runs", "5", "--output_dir", str(tmp_path / "runs"),
                        "--json", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    rows = json.loads(output.read_text())["rows"]
    assert [row["variant"] for row in rows] == ["dense", "sparse 50%", "channel"]
    assert rows[1]["sparsity"] > 0.4 and rows[2]["macs"] < rows[0]["macs"]
    assert "gzip ÷ dense" in result.stdout


@pytest.mark.slow
def test_train_script_prunes_two_of_four_and_export_reports_it(trained_run, tmp_path):
    output = tmp_path / "two_four"
    result = run_main("train", "--init_from", str(trained_run / "model.keras"),
                        "--prune_m_by_n", "2:4", "--epochs", "1", "--max_train_examples", "256",
                        "--max_eval_examples", "256", "--batch_size", "64", "--learning_rate",
                        "2e-4", "--verbose", "0", "--output_dir", str(output))
    assert result.returncode == 0, result.stderr[-2000:]
    record = RunRecord.load(output)
    assert record["compression"]["pruning"]["m_by_n"] == "2:4"
    from tflite_lite.compression import load_model

    assert m_by_n_fraction(load_model(str(output / "model.keras"))) == 1.0
    result = run_main("export", "--model", str(output / "model.keras"),
                        "--representative_examples", "32")
    assert result.returncode == 0, result.stderr[-2000:]
    assert "zero, gzip" in result.stdout
