"""Keras 3 models through the same calls as tf_keras ones: the builders with `keras=3`, and
QAT without tfmot (`compression.keras3`) to an all-int8 flatbuffer whose ranges all come from
training."""

import numpy as np
import pytest

import tflite_lite
from tflite_lite.errors import UserError

keras = pytest.importorskip("keras")


def _small_model():
    """Conv-BN-ReLU6, a depthwise block with a residual add, pooling and a softmax Dense."""
    inputs = keras.Input((32, 32, 1), name="images")
    x = keras.layers.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="stem")(inputs)
    x = keras.layers.BatchNormalization(momentum=0.9, name="stem_bn")(x)
    x = keras.layers.ReLU(6.0, name="stem_relu")(x)
    y = keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False, name="dw")(x)
    y = keras.layers.BatchNormalization(momentum=0.9, name="dw_bn")(y)
    y = keras.layers.ReLU(name="dw_relu")(y)
    y = keras.layers.Conv2D(16, 1, name="pw")(y)
    x = keras.layers.Add(name="add")([x, y])
    x = keras.layers.MaxPooling2D(name="pool")(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(10, activation="softmax", name="logits")(x)
    return keras.Model(inputs, outputs, name="small")


@pytest.fixture(scope="module")
def images():
    from tflite_lite.data import load_dataset

    data = load_dataset("fashion_mnist", max_train_examples=2048, max_eval_examples=512)
    return data


@pytest.fixture(scope="module")
def qat_pair(images):
    """A float Keras 3 model trained briefly, and its QAT model fine-tuned one epoch."""
    keras.utils.set_random_seed(0)
    model = _small_model()
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(images.train, epochs=3, verbose=0)
    qat = tflite_lite.quantize_model(model)
    qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy",
                metrics=["accuracy"])
    qat.fit(images.train, epochs=1, verbose=0)
    return model, qat


def test_qat_rebuilds_the_int8_graph(qat_pair):
    model, qat = qat_pair
    kinds = {layer.name: type(layer).__name__ for layer in qat.layers}
    # batch norms folded into their convolutions, ranges where the int8 graph has tensors
    assert "stem_bn" not in kinds and "dw_bn" not in kinds
    assert kinds["stem"] == kinds["dw"] == kinds["pw"] == kinds["logits"] == "QuantConv"
    ranged = {name[:-len("_quant")] for name, kind in kinds.items()
              if kind == "ActivationQuantizer"}
    # the convolutions' ReLUs are fused: one range after each; max pooling keeps its scale
    # the logits stay float, as the default float head computes them
    assert ranged == {"images", "stem_relu", "dw_relu", "pw", "add", "gap"}
    assert tflite_lite.compression.is_quantized(qat)
    assert not tflite_lite.compression.is_quantized(model)
    tracked = qat.get_layer("add_quant")
    assert float(tracked.tracked.numpy()) == 1.0
    assert float(tracked.range_min.numpy()) < float(tracked.range_max.numpy())


def test_qat_exports_all_int8_with_its_own_ranges(qat_pair, images):
    model, qat = qat_pair
    labels = {"class_names": images.class_names, "preprocessing": images.preprocessing}
    result = tflite_lite.export(qat, mode="int8", calibration=images, evaluate_on=images,
                                **labels)
    assert result.float_ops == []
    assert result.contract["input"]["dtype"] == "int8"
    assert result.contract["keras"] == "keras3"
    assert result.evaluation["agreement"] >= 0.97, result.evaluation
    # every int8 range comes from QAT: another calibration set gives the same ops and ranges
    other = np.asarray(next(iter(images.test.unbatch().batch(100)))[0])
    again = tflite_lite.export(qat, mode="int8", calibration=other, **labels)
    assert _computed_tensors(again.tflite) == _computed_tensors(result.tflite)


def _computed_tensors(tflite):
    """Every tensor an op reads or writes, with its dtype, scale and zero point."""
    from tflite_lite.convert import flatbuffer

    description = flatbuffer.describe(tflite)
    used = sorted({i for op in description["ops"] for i in op["inputs"] + op["outputs"]
                   if i >= 0})
    assert used
    return [(description["tensors"][i]["name"], description["tensors"][i]["dtype"],
             description["tensors"][i]["scale"], description["tensors"][i]["zero_point"])
            for i in used]


def test_qat_keras_file_round_trips(qat_pair, images, tmp_path):
    _, qat = qat_pair
    path = tmp_path / "qat.keras"
    qat.save(path)
    loaded = tflite_lite.compression.load_model(str(path), allow_keras3=True)
    batch = np.asarray(next(iter(images.test))[0])
    np.testing.assert_allclose(np.asarray(loaded(batch)), np.asarray(qat(batch)), atol=1e-6)
    assert tflite_lite.compression.is_quantized(loaded)
    exported = tflite_lite.export(str(path), mode="int8", calibration=images)
    assert exported.float_ops == []


def test_qat_starts_from_the_float_model(images):
    """Before any training step the QAT model computes the float model, rounded."""
    keras.utils.set_random_seed(1)
    model = _small_model()
    batch = np.asarray(next(iter(images.train))[0])
    model.predict(batch, verbose=0)
    qat = tflite_lite.quantize_model(model)
    qat(batch, training=True)  # ranges from one batch
    np.testing.assert_allclose(np.asarray(qat(batch)), np.asarray(model(batch)), atol=0.05)


def _with(layer_between):
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(4, 3, name="conv")(inputs)
    x = layer_between(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="head")(x))


class _Custom(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 2.0


class _Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.dense = keras.layers.Dense(10)

    def call(self, inputs):
        return self.dense(keras.ops.mean(inputs, axis=(1, 2)))


def test_qat_refuses_what_it_cannot_quantize_in_one_line():
    lambda_model = _with(keras.layers.Lambda(lambda t: t * 2.0, name="double"))
    cases = [
        (lambda_model, "layer 'double' \\(Lambda\\).*Python code.*float_layers=\\['double'\\]"),
        (_with(_Custom(name="custom")), "layer 'custom' \\(_Custom\\).*does not know"),
        (_Subclassed(), "is subclassed \\(or not built\\): QAT needs its graph"),
    ]
    for model, message in cases:
        with pytest.raises(UserError, match=message):
            tflite_lite.quantize_model(model)
    config = tflite_lite.compression.QATConfig
    with pytest.raises(UserError, match="float_layers names no layer of the model: nope"):
        tflite_lite.quantize_model(lambda_model, config(float_layers=["nope"]))
    with pytest.raises(UserError, match="Keras 3 QAT quantizes weights to int8"):
        tflite_lite.quantize_model(lambda_model, config(weight_quantizer="ternary"))
    kept = tflite_lite.quantize_model(lambda_model, config(float_layers=["double"]))
    assert type(kept.get_layer("double")).__name__ == "Lambda"
    with pytest.raises(UserError, match="already quantization-aware"):
        tflite_lite.quantize_model(kept)


@pytest.mark.parametrize("name", ["squeezenet_1_1",
                                  pytest.param("mobilenet_v3_small_075", marks=pytest.mark.slow),
                                  pytest.param("shufflenet_v2_x0_5", marks=pytest.mark.slow)])
def test_builders_make_keras3_twins(name):
    from tflite_lite.architectures import create_model, profile

    twin = create_model(name, input_shape=(32, 32, 1), num_classes=10, keras=3)
    keras.utils.set_random_seed(0)
    original = create_model(name, input_shape=(32, 32, 1), num_classes=10)
    assert type(twin).__module__.startswith("keras.")
    assert [layer.name for layer in twin.layers] == [layer.name for layer in original.layers]
    assert twin.count_params() == original.count_params()
    assert profile(twin)["macs"] == profile(original)["macs"]
    from tflite_lite.architectures.keras3 import to_keras3

    same = to_keras3(original)
    batch = np.random.RandomState(0).uniform(-1, 1, (2, 32, 32, 1)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(same(batch)), original(batch).numpy(), atol=1e-5)
    with pytest.raises(UserError, match="keras must be 2 .* or 3"):
        create_model(name, input_shape=(32, 32, 1), keras=4)


@pytest.mark.slow  # builds MobileNet V3 twice: 2.5 s
def test_builder_twin_quantizes_with_gated_hard_swish():
    from tflite_lite.architectures import create_model

    model = create_model("mobilenet_v3_small_075", input_shape=(32, 32, 1), num_classes=10,
                         keras=3)
    qat = tflite_lite.quantize_model(model)
    gates = [layer for layer in qat.layers if type(layer).__name__ in ("HardSwish",
                                                                        "HardSigmoid")]
    assert gates and all(layer.quantize_gate for layer in gates)
    assert all(layer.get_config()["quantize_gate"] for layer in gates)


@pytest.mark.slow  # trains two models briefly: about a minute
def test_benchmark_runs_on_a_tiny_input(tmp_path):
    import json

    from conftest import run_main

    output = tmp_path / "keras3_qat.json"
    result = run_main("benchmarks/keras3_qat", "--models",
                      "squeezenet_1_1,keras_mobilenet_v2_035", "--train_examples", "256",
                      "--float_epochs", "1", "--test_examples", "100", "--json", str(output),
                      "--prune_model", "squeezenet_1_1")
    assert result.returncode == 0, result.stderr
    rows = json.loads(output.read_text())["rows"]
    assert [row["model"] for row in rows] == ["squeezenet_1_1", "keras_mobilenet_v2_035"]
    assert all(row["qat_float_ops"] == 0 for row in rows)
    assert "tfmot_agreement" in rows[0] and "tfmot_agreement" not in rows[1]
    pruning = json.loads(output.read_text())["pruning"][0]
    assert pruning["keras_zeros"] == pytest.approx(0.75, abs=0.01)
    assert pruning["int8_zeros"] >= 0.70
    bad = run_main("benchmarks/keras3_qat", "--train_examples", "3")
    assert bad.returncode != 0


def test_export_of_a_bare_model_states_its_input(qat_pair, tmp_path):
    """A `.keras` file without a training run: its input scaling is stated, read from a
    Rescaling layer, or refused in one line, never guessed."""
    import json

    from conftest import assert_one_line_error, run_main

    model, _ = qat_pair
    path = tmp_path / "bare.keras"
    model.save(path)
    common = ("--model", str(path), "--mode", "float32")
    refused = run_main("export", *common, "--output", str(tmp_path / "no.tflite"))
    assert_one_line_error(refused, "nothing says how this model's inputs are scaled",
                          "--input_range=0,1")
    assert not (tmp_path / "no.tflite").exists()
    stated = run_main("export", *common, "--input_range=-1,1", "--output",
                      str(tmp_path / "m.tflite"))
    assert stated.returncode == 0, stated.stderr
    preprocessing = json.loads((tmp_path / "m.json").read_text())["preprocessing"]
    assert (preprocessing["mean"], preprocessing["std"]) == ([127.5], [127.5])
    for flags_given, message in [(("--input_range=1,0",), "LOW < HIGH"),
                                 (("--input_mean=0",), "input_mean and input_std go together"),
                                 (("--input_range=0,1", "--input_std=255"), "not both")]:
        assert_one_line_error(run_main("export", *common, *flags_given), message)
    rescaled = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Rescaling(1 / 255),
                                 keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(10)])
    rescaled.save(tmp_path / "rescaled.keras")
    result = run_main("export", "--model", str(tmp_path / "rescaled.keras"), "--mode",
                      "float32", "--output", str(tmp_path / "r.tflite"))
    assert result.returncode == 0, result.stderr
    preprocessing = json.loads((tmp_path / "r.json").read_text())["preprocessing"]
    assert (preprocessing["mean"], preprocessing["std"]) == ([0.0], [1.0])


def test_pruning_a_keras3_model_keeps_its_zeros_through_qat_and_int8(images, tmp_path):
    from tflite_lite.compression import (PruningConfig, is_pruned, prune_model, strip_pruning,
                                         weight_sparsity)
    from tflite_lite.convert.flatbuffer import describe

    keras.utils.set_random_seed(2)
    model = _small_model()
    config = PruningConfig(final_sparsity=0.75, schedule="polynomial", end_step=10,
                           frequency=5)
    pruned = prune_model(model, config)
    assert is_pruned(pruned) and not is_pruned(model)
    assert type(pruned.get_layer("pw")).__name__ == "PruneLowMagnitude"
    pruned.compile("adam", "sparse_categorical_crossentropy")
    pruned.fit(images.train, epochs=1, verbose=0)  # no callback: 16 steps
    sparsity = weight_sparsity(pruned)["layers"]
    assert sparsity["pw"] == pytest.approx(0.75, abs=0.01)
    assert sparsity["logits"] == pytest.approx(0.75, abs=0.01)
    assert weight_sparsity(model)["layers"]["pw"] == 0.0  # the original keeps its weights
    # pruning, then QAT: the zeros stay through training and into the int8 file
    qat = tflite_lite.quantize_model(pruned)
    qat.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy")
    qat.fit(images.train.take(4), epochs=1, verbose=0)
    assert weight_sparsity(qat)["layers"]["pw"] == pytest.approx(0.75, abs=0.01)
    result = tflite_lite.export(qat, mode="int8", calibration=images)
    assert result.float_ops == []
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=result.tflite)
    index = next(i for i, t in enumerate(describe(result.tflite)["tensors"])
                 if t["dtype"] == "int8" and t["shape"] == [16, 1, 1, 16])  # pw's kernel
    assert np.mean(interpreter.get_tensor(index) == 0) >= 0.70
    path = tmp_path / "pruned.keras"
    pruned.save(path)
    loaded = tflite_lite.compression.load_model(str(path), allow_keras3=True)
    assert is_pruned(loaded) and weight_sparsity(loaded)["layers"]["pw"] == sparsity["pw"]
    plain = strip_pruning(pruned)
    assert not is_pruned(plain)
    assert weight_sparsity(plain)["layers"]["pw"] == pytest.approx(0.75, abs=0.01)
    batch = np.asarray(next(iter(images.test))[0])
    np.testing.assert_allclose(np.asarray(plain(batch)), np.asarray(pruned(batch)), atol=1e-5)


@pytest.mark.slow  # 2 s; the magnitude schedule runs in the fast suite
def test_m_by_n_pruning_of_a_keras3_model(images):
    from tflite_lite.compression import PruningConfig, m_by_n_fraction, prune_model

    pruned = prune_model(_small_model(), PruningConfig(m_by_n="2:4"))
    pruned.compile("adam", "sparse_categorical_crossentropy")
    pruned.fit(images.train.take(2), epochs=1, verbose=0)
    from tflite_lite.compression import strip_pruning

    assert m_by_n_fraction(strip_pruning(pruned), "2:4") == 1.0


@pytest.mark.slow  # three short distillations: about 6 s
@pytest.mark.parametrize("kind", ["plain", "qat", "pruned"])
def test_distiller_takes_keras3_students_and_teachers(kind, qat_pair, images):
    from tflite_lite.compression import DistillationConfig, Distiller, prune_model
    from tflite_lite.compression import PruningConfig
    from tflite_lite.compression.keras3.distillation import DistillationSchedule

    teacher, qat_student = qat_pair
    students = {"plain": _small_model, "qat": lambda: qat_student,
                "pruned": lambda: prune_model(_small_model(), PruningConfig(schedule="constant"))}
    for student in (students[kind](),):
        distiller = Distiller(student, teacher, temperature=4.0, alpha=0.5)
        assert type(distiller).__module__.endswith("keras3.distillation")
        distiller.compile(keras.optimizers.Adam(1e-3))
        schedule = DistillationSchedule(DistillationConfig("teacher.keras", final_temperature=2.0), epochs=1)
        history = distiller.fit(images.train.take(3), epochs=1, verbose=0,
                                callbacks=[schedule])
        assert np.isfinite(history.history["loss"][0])
        assert float(distiller.temperature.numpy()) == 4.0  # epoch 0 of the schedule
        accuracy = distiller.evaluate(images.test.take(2), verbose=0, return_dict=True)
        assert 0.0 <= accuracy["accuracy"] <= 1.0


def test_train_init_from_names_what_the_file_is(qat_pair, tmp_path):
    """`--init_from` of a bare file that is no Keras model, or of a Keras 3 file with a stage
    only tf_keras models get: one line naming it, before any run folder exists."""
    from conftest import assert_one_line_error, run_main

    k3 = tmp_path / "k3.keras"
    qat_pair[0].save(k3)
    text = tmp_path / "notes.keras"
    text.write_text("not a model")
    out = tmp_path / "run"
    cases = [(text, "is not a Keras model file")]
    for path, *fragments in cases:
        result = run_main("train", "--init_from", str(path), "--qat", "--output_dir", str(out))
        assert_one_line_error(result, str(path), *fragments)
        assert not out.exists()
    # a Keras 3 file fine-tunes float, with QAT or with pruning; the rest is named
    result = run_main("train", "--init_from", str(k3), "--model", "squeezenet_1_1",
                      "--clusters", "8", "--output_dir", str(out))
    assert_one_line_error(result, "was saved by Keras 3", "clustering need a tf_keras model")
    assert not out.exists()
    # your own model: its input scaling is stated (or read from a Rescaling layer), not guessed
    result = run_main("train", "--init_from", str(k3), "--qat", "--output_dir", str(out))
    assert_one_line_error(result, "'small', which is not a registered one",
                          "nothing says how its inputs are scaled", "--input_range=0,1")
    result = run_main("train", "--init_from", str(k3), "--input_range=1,0", "--output_dir",
                      str(out))
    assert_one_line_error(result, "LOW < HIGH")
    assert not out.exists()


def test_train_config_reads_the_input_scaling(qat_pair, tmp_path):
    """Stated, else the source run's, else a Rescaling layer's raw pixels, else the
    registered model's; a statement that contradicts the source run is refused."""
    from tflite_lite.run_record import RunRecord
    from tflite_lite.training import TrainConfig

    k3 = tmp_path / "k3.keras"
    qat_pair[0].save(k3)
    config = TrainConfig(init_from=str(k3), model=None, input_range=(0, 1), output_dir="")
    assert config.model == "small"
    assert config.input_mean_std() == ((0.0,), (255.0,))
    rescaled = keras.Sequential([keras.Input((32, 32, 1)), keras.layers.Rescaling(1 / 255),
                                 keras.layers.Flatten(), keras.layers.Dense(10)])
    rescaled.save(tmp_path / "rescaled.keras")
    config = TrainConfig(init_from=str(tmp_path / "rescaled.keras"), model=None, output_dir="")
    assert config.input_mean_std() == ((0.0,), (1.0,))
    assert TrainConfig(output_dir="").input_mean_std() == ((127.5,), (127.5,))
    run = tmp_path / "run"
    run.mkdir()
    qat_pair[0].save(run / "model.keras")
    RunRecord(model="small", preprocessing={"input_shape": [32, 32, 1], "mean": [0.0],
                                            "std": [255.0]}).save(str(run))
    config = TrainConfig(init_from=str(run / "model.keras"), model=None, output_dir="")
    assert config.input_mean_std() == ((0.0,), (255.0,))
    with pytest.raises(UserError, match="was trained with input mean"):
        TrainConfig(init_from=str(run / "model.keras"), model=None, input_range="-1,1",
                    output_dir="")


@pytest.mark.slow  # a one-epoch QAT fine-tune and an int8 export: about 30 s
def test_your_model_trained_on_0_1_fine_tunes_and_exports_on_0_1(images, tmp_path):
    """Issue 41's user: a Keras 3 model of their own trained on pixels / 255, fine-tuned with
    QAT by train.py with its input stated, exported by export.py reading the run record: the
    int8 file is calibrated and evaluated on [0, 1] inputs and stays within 1 pp."""
    import json

    from conftest import run_main
    from tflite_lite.data import load_dataset

    data = load_dataset("fashion_mnist", max_train_examples=2048, max_eval_examples=512,
                        mean=(0.0,), std=(255.0,))
    keras.utils.set_random_seed(0)
    model = _small_model()  # on [0, 1] it needs a faster rate than on [-1, 1]
    model.compile(keras.optimizers.Adam(1e-2), "sparse_categorical_crossentropy")
    model.fit(data.train, epochs=3, verbose=0)
    model.save(tmp_path / "k3.keras")
    run = tmp_path / "run"
    trained = run_main("train", "--init_from", str(tmp_path / "k3.keras"), "--qat",
                       "--input_range=0,1", "--epochs", "1", "--learning_rate", "1e-4",
                       "--max_train_examples", "2048", "--max_eval_examples", "512",
                       "--output_dir", str(run))
    assert trained.returncode == 0, trained.stderr
    record = json.loads((run / "run.json").read_text())
    assert (record["preprocessing"]["mean"], record["preprocessing"]["std"]) == ([0.0], [255.0])
    assert record["model"] == "small" and record["test_accuracy"] > 0.4
    exported = run_main("export", "--model", str(run / "model.keras"), "--mode", "int8",
                        "--evaluate", "--max_eval_examples", "512")
    assert exported.returncode == 0, exported.stderr
    contract = json.loads((run / "model_int8.json").read_text())
    assert (contract["preprocessing"]["mean"], contract["preprocessing"]["std"]) == ([0.0],
                                                                                      [255.0])
    assert contract["float_ops"] == []
    evaluation = contract["evaluation"]
    assert abs(evaluation["tflite_accuracy"] - evaluation["keras_accuracy"]) <= 0.01, evaluation


@pytest.mark.slow  # one-epoch fine-tunes: about 15 s each
@pytest.mark.parametrize("keras_version,stage", [(2, "--qat"), (3, "--qat"),
                                                 (3, "--prune_final_sparsity=0.5")])
def test_train_fine_tunes_a_bare_file(keras_version, stage, tmp_path):
    """A builder's model saved outside any run folder (its registered name is in the file),
    tf_keras or Keras 3: fine-tuned with QAT or pruning by the same command, exported int8."""
    import json

    from conftest import run_main
    from tflite_lite.architectures import create_model

    path = tmp_path / "bare.keras"
    create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=10,
                 keras=keras_version).save(path)
    run = tmp_path / "run"
    result = run_main("train", "--init_from", str(path), stage, "--epochs", "1",
                      "--max_train_examples", "256", "--max_eval_examples", "100",
                      "--output_dir", str(run))
    assert result.returncode == 0, result.stderr
    trained = tflite_lite.compression.load_model(str(run / "model.keras"), allow_keras3=True)
    assert (type(trained).__module__.startswith("keras.")) == (keras_version == 3)
    assert tflite_lite.compression.is_quantized(trained) == (stage == "--qat")
    exported = run_main("export", "--model", str(run / "model.keras"), "--mode", "int8")
    assert exported.returncode == 0, exported.stderr
    contract = json.loads((run / "model_int8.json").read_text())
    assert contract["float_ops"] == []
    if stage != "--qat":
        assert json.loads((run / "run.json").read_text())["compression"]["sparsity"] >= 0.49


_JAX_QAT = '''
import sys
import numpy as np
import keras
import tflite_lite
from tflite_lite.errors import UserError
sys.path.insert(0, sys.argv[2])
from test_keras3 import _small_model

assert keras.backend.backend() == "jax"
data = tflite_lite.load_dataset("fashion_mnist", max_train_examples=2048, max_eval_examples=512)
images, labels = (np.concatenate(parts) for parts in zip(*[(a.numpy(), b.numpy())
                                                          for a, b in data.train]))
keras.utils.set_random_seed(0)
model = _small_model()
model.compile("adam", "sparse_categorical_crossentropy")
model.fit(images, labels, batch_size=128, epochs=3, verbose=0)
qat = tflite_lite.quantize_model(model)
qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
qat.fit(images, labels, batch_size=128, epochs=1, verbose=0)
qat.save(sys.argv[1])
test = np.concatenate([a.numpy() for a, _ in data.test])
np.save(sys.argv[1] + ".npy", np.asarray(qat.predict(test, verbose=0)))
try:
    tflite_lite.export(qat, mode="int8", calibration=images[:64])
except UserError as error:
    print("refused:", error)
'''


@pytest.mark.slow  # a JAX process trains for about a minute
def test_jax_backend_trains_qat_and_its_file_exports_all_int8(images, tmp_path):
    import os
    import subprocess
    import sys

    pytest.importorskip("jax")
    script, path = tmp_path / "jax_qat.py", tmp_path / "qat_jax.keras"
    script.write_text(_JAX_QAT)
    here = os.path.dirname(os.path.abspath(__file__))
    done = subprocess.run([sys.executable, str(script), str(path), here], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "KERAS_BACKEND": "jax"})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "refused: export converts with TensorFlow, and Keras runs on jax" in done.stdout
    result = tflite_lite.export(str(path), mode="int8", calibration=images,
                                evaluate_on=images)
    assert result.float_ops == [] and result.contract["input"]["dtype"] == "int8"
    assert result.evaluation["agreement"] >= 0.97, result.evaluation
    # the file computes on TensorFlow what the model computed on JAX
    on_jax = np.load(str(path) + ".npy")
    loaded = tflite_lite.compression.load_model(str(path), allow_keras3=True)
    test = np.concatenate([np.asarray(a) for a, _ in images.test])
    assert np.mean(np.asarray(loaded.predict(test, verbose=0)).argmax(1)
                   == on_jax.argmax(1)) >= 0.99


@pytest.mark.parametrize("name", [pytest.param(name, marks=pytest.mark.slow)
                                  for name in ("efficientnet_lite0", "mobilenet_v1_025",
                                               "mobilenet_v2_035", "mobilenet_v3_small_075",
                                               "shufflenet_v1_g3_050", "shufflenet_v2_x0_5",
                                               "squeezenet_1_1")])
def test_keras3_qat_of_every_family_exports_all_int8(name, images):
    """Each registered family, built with keras=3: QAT, two training steps, an int8 file with
    no float op (ShuffleNet V1's average pooling keeps its input's scale, as int8 needs)."""
    from tflite_lite.architectures import create_model

    model = create_model(name, input_shape=(32, 32, 1), num_classes=10, keras=3)
    qat = tflite_lite.quantize_model(model)
    qat.compile(keras.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    qat.fit(images.train.take(2), epochs=1, verbose=0)
    labels = {"class_names": images.class_names, "preprocessing": images.preprocessing}
    result = tflite_lite.export(qat, mode="int8", calibration=images, **labels)
    assert result.float_ops == []
