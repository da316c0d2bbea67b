"""Knowledge distillation: the loss, the config, the Distiller with plain, QAT- and
pruning-wrapped students, cached teacher logits, and distillation inside a training run."""

import json
import math

import numpy as np
import pytest
import tensorflow as tf

from tflite_lite import compression, keras
from tflite_lite.architectures import create_model
from tflite_lite.data import load_dataset
from tflite_lite.compression import (
    DistillationConfig,
    DistillationSchedule,
    Distiller,
    distillation_loss,
    logits_and_probabilities,
    teacher_logits_fn,
)
from tflite_lite.errors import UserError
from tflite_lite.compression import load_model, quantize_model
from tflite_lite.training import TrainConfig, train

from conftest import assert_one_line_error, run_main


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_loss_is_t_squared_kl():
    rng = np.random.default_rng(0)
    teacher, student = rng.normal(size=(2, 8, 10)) * 3
    for temperature in (1.0, 4.0):
        p, q = _softmax(teacher / temperature), _softmax(student / temperature)
        expected = temperature ** 2 * np.mean(np.sum(p * np.log(p / q), axis=-1))
        got = float(distillation_loss(teacher, student, temperature))
        assert got == pytest.approx(expected, rel=1e-4)
    assert float(distillation_loss(teacher, teacher, 4.0)) == pytest.approx(0.0, abs=1e-5)
    # Logits shifted by a constant give the same soft targets.
    assert float(distillation_loss(teacher, teacher + 7.0, 2.0)) == pytest.approx(0.0, abs=1e-5)


def test_config_round_trip_and_schedule():
    config = DistillationConfig("t.keras", temperature=6.0, alpha=0.2, final_temperature=2.0,
                                final_alpha=0.6, cache_teacher_logits=False)
    assert DistillationConfig.from_config(config.get_config()) == config
    assert config.values_at(0, 5) == (6.0, 0.2)
    assert config.values_at(4, 5) == pytest.approx((2.0, 0.6))
    assert config.values_at(2, 5) == pytest.approx((4.0, 0.4))
    assert DistillationConfig("t.keras").values_at(3, 5) == (4.0, 0.5)


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(temperature=0), "temperature"), (dict(temperature=-1.0), "temperature"),
    (dict(temperature=math.nan), "temperature"), (dict(alpha=1.5), "alpha"),
    (dict(final_alpha=-0.1), "final_alpha"), (dict(final_temperature=0.0), "final_temperature"),
    (dict(cache_teacher_logits="yes"), "cache_teacher_logits"), (dict(teacher=""), "teacher"),
])
def test_config_rejects_bad_values(kwargs, fragment):
    with pytest.raises(UserError, match=fragment):
        DistillationConfig(**{"teacher": "t.keras", **kwargs})


def test_config_rejects_unknown_keys():
    with pytest.raises(UserError, match="temprature"):
        DistillationConfig.from_config({"teacher": "t.keras", "temprature": 2})


def test_logits_head_for_plain_and_qat_models():
    images = np.random.default_rng(1).normal(size=(4, 32, 32, 1)).astype(np.float32)
    model = create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=10)
    for candidate in (model, quantize_model(model)):
        logits, probabilities = logits_and_probabilities(candidate)(images)
        np.testing.assert_allclose(tf.nn.softmax(logits), probabilities, atol=1e-5)
        np.testing.assert_allclose(probabilities, candidate(images), atol=1e-6)
    raw = create_model("mobilenet_v2_035", input_shape=(32, 32, 1), num_classes=10,
                       classifier_activation=None)
    logits, probabilities = logits_and_probabilities(raw)(images)
    np.testing.assert_allclose(tf.nn.softmax(logits), probabilities, atol=1e-6)
    inputs = keras.Input((4,))
    dense_softmax = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    with pytest.raises(UserError, match="distillation needs a softmax"):
        logits_and_probabilities(dense_softmax)


def _tiny_classifier(seed, width=8):
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((32, 32, 1))
    x = keras.layers.Conv2D(width, 3, strides=2, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    x = keras.layers.Dense(10, name="logits")(x)
    return keras.Model(inputs, keras.layers.Activation("softmax", name="predictions")(x))


def test_distiller_is_built_like_its_student():
    """Built at construction, so BackupAndRestore backs it up (it warns and skips an unbuilt
    model) and a resume has the variables to restore into."""
    distiller = Distiller(_tiny_classifier(0), _tiny_classifier(1))
    assert distiller.built
    assert len(distiller.trainable_variables) == 4


def test_alpha_zero_pulls_the_student_to_the_teacher():
    """With alpha = 0 only the teacher's soft targets train the student: the student's KL to
    the teacher falls and it comes to agree with the teacher's top-1 on the batch."""
    images = np.random.default_rng(2).normal(size=(64, 32, 32, 1)).astype(np.float32)
    teacher, student = _tiny_classifier(0, width=16), _tiny_classifier(1)
    # Random labels: anything the student learns about the teacher comes from the KD term.
    labels = np.random.default_rng(3).integers(0, 10, size=64)
    teacher_logits = logits_and_probabilities(teacher)(images)[0]

    def kl():
        return float(distillation_loss(teacher_logits, logits_and_probabilities(student)(
            images)[0], 1.0))

    def agreement():
        return np.mean(np.argmax(student(images), -1) == np.argmax(teacher(images), -1))

    before, agreement_before = kl(), agreement()
    distiller = Distiller(student, teacher, temperature=1.0, alpha=0.0)
    distiller.compile(keras.optimizers.Adam(1e-2))
    history = distiller.fit(images, labels, batch_size=64, epochs=60, verbose=0).history
    assert kl() < 0.3 * before
    assert agreement() > max(0.6, agreement_before + 0.3)
    assert set(history) >= {"loss", "ce_loss", "kd_loss", "accuracy"}
    np.testing.assert_allclose(history["loss"], history["kd_loss"], rtol=1e-5)


def test_alpha_one_is_plain_cross_entropy():
    images = np.random.default_rng(4).normal(size=(32, 32, 32, 1)).astype(np.float32)
    labels = np.arange(32) % 10
    student = _tiny_classifier(5)
    distiller = Distiller(student, _tiny_classifier(6), temperature=3.0, alpha=1.0)
    distiller.compile(keras.optimizers.SGD(0.0))
    history = distiller.fit(images, labels, batch_size=32, epochs=1, verbose=0).history
    expected = keras.losses.SparseCategoricalCrossentropy()(labels, student(images))
    assert history["loss"][0] == pytest.approx(float(expected), rel=1e-4)
    assert history["ce_loss"][0] == pytest.approx(float(expected), rel=1e-4)


def test_cached_targets_are_the_teachers_logits_on_each_image():
    data = load_dataset("fashion_mnist", input_shape=(32, 32, 1), batch_size=32,
                        max_train_examples=96, augment=())
    teacher = _tiny_classifier(7)
    cached = data.with_train_targets(teacher_logits_fn(teacher))
    head = logits_and_probabilities(teacher)
    seen = 0
    for images, (labels, targets) in cached.train:
        np.testing.assert_allclose(targets, head(images)[0], atol=1e-4)
        assert labels.dtype == tf.int32
        seen += len(images)
    assert seen == 96


# QAT in the fast suite; the pruned student (11 s) with the slow tests.
@pytest.mark.parametrize("wrap", ["qat", pytest.param("pruning", marks=pytest.mark.slow)])
def test_wrapped_students_train_and_save(wrap, tmp_path):
    data = load_dataset("fashion_mnist", input_shape=(32, 32, 1), batch_size=32,
                        max_train_examples=128, augment=("flip",))
    teacher = _tiny_classifier(8, width=16)
    student = create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=10)
    callbacks = []
    if wrap == "qat":
        student = quantize_model(student)
    else:
        student = compression.prune_model(student, compression.PruningConfig(0.5, end_step=4,
                                                                     frequency=1))
        callbacks = compression.pruning_callbacks(None)
    cached = data.with_train_targets(teacher_logits_fn(teacher))
    distiller = Distiller(student, None, temperature=4.0, alpha=0.5)
    distiller.compile(keras.optimizers.Adam(1e-3), run_eagerly=True)  # 8 steps: no tracing
    schedule = DistillationSchedule(DistillationConfig("t.keras", final_temperature=1.0), 2)
    history = distiller.fit(cached.train, validation_data=data.validation.take(1), epochs=2,
                            callbacks=[schedule, *callbacks], verbose=0).history
    assert history["temperature"] == [4.0, 1.0]
    assert all(math.isfinite(v) for v in history["kd_loss"])
    if wrap == "pruning":
        assert compression.weight_sparsity(compression.strip_pruning(student))["overall"] > 0.4
    else:
        student.save(tmp_path / "student.keras")
        reloaded = load_model(str(tmp_path / "student.keras"))
        images = next(iter(data.test))[0][:4]
        np.testing.assert_allclose(reloaded(images), student(images), atol=1e-6)


@pytest.mark.slow  # a full training run (11 s); the distilled QAT student trains above
def test_training_run_with_distillation_records_it(trained_run, tmp_path):
    teacher = str(trained_run / "model.keras")
    record = train(TrainConfig(model="squeezenet_1_1", epochs=1, batch_size=64,
                               max_train_examples=128, max_eval_examples=128,
                               output_dir=str(tmp_path / "kd"),
                               verbose=0, qat=True,
                               distillation={"teacher": teacher, "temperature": 2.0}))
    assert record["distillation"]["teacher_model"] == "mobilenet_v2_035"
    assert record["distillation"]["temperature"] == 2.0
    history = json.loads((tmp_path / "kd" / "history.json").read_text())
    assert {"kd_loss", "ce_loss", "temperature", "alpha"} <= set(history)
    assert record["quantization"] is not None
    assert load_model(str(tmp_path / "kd" / "model.keras")) is not None
    config = TrainConfig.from_config(record["config"])
    assert config.distillation.teacher == teacher


@pytest.mark.slow
def test_interrupted_distillation_resumes_after_its_last_epoch(trained_run, tmp_path,
                                                                monkeypatch):
    """Stopped right after epoch 1 (its backup and checkpoint written), the same command goes
    on with epoch 2: the first epoch's figures are kept and the schedule is at epoch 2."""
    from tflite_lite import training

    config = TrainConfig(model="squeezenet_1_1", epochs=2, batch_size=64,
                         max_train_examples=128, max_eval_examples=128,
                         output_dir=str(tmp_path / "kd"), verbose=0,
                         distillation={"teacher": str(trained_run / "model.keras"),
                                       "alpha": 0.2, "final_alpha": 0.8})
    save_checkpoint = training.EpochCheckpoint.on_epoch_end

    def stop_after_epoch_1(self, epoch, logs=None):
        save_checkpoint(self, epoch, logs)
        raise KeyboardInterrupt

    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", stop_after_epoch_1)
    with pytest.raises(KeyboardInterrupt):
        train(config)
    first = json.loads((tmp_path / "kd" / "history.json").read_text())
    assert len(first["loss"]) == 1 and (tmp_path / "kd" / "backup").is_dir()

    monkeypatch.setattr(training.EpochCheckpoint, "on_epoch_end", save_checkpoint)
    record = train(config)
    assert record["resumed_from_epoch"] == 1 and record["epochs"] == 2
    history = json.loads((tmp_path / "kd" / "history.json").read_text())
    assert history["loss"][0] == first["loss"][0]
    assert history["alpha"] == pytest.approx([0.2, 0.8])
    assert not (tmp_path / "kd" / "backup").exists()


def test_teacher_with_other_classes_is_refused_before_training(tmp_path):
    teacher = create_model("squeezenet_1_1", input_shape=(32, 32, 1), num_classes=5)
    teacher.save(tmp_path / "teacher5.keras")
    result = run_main("train", "--model", "squeezenet_1_1", "--epochs", "1",
                        "--max_train_examples", "64", "--teacher",
                        str(tmp_path / "teacher5.keras"), "--output_dir", str(tmp_path / "run"))
    assert_one_line_error(result, "teacher predicts 5 classes", "has 10")
    assert not (tmp_path / "run" / "model.keras").exists()
    missing = run_main("train", "--teacher", str(tmp_path / "nope.keras"),
                         "--output_dir", str(tmp_path / "run2"))
    assert_one_line_error(missing, "nope.keras", "no such model file")
    assert not (tmp_path / "run2").exists()
