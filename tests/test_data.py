"""Datasets: real Fashion-MNIST, image folders, preprocessing and bad input."""

import os
import re
import shutil

import numpy as np
import pytest
import tensorflow as tf

from tflite_lite.data import Preprocessing, debian_fashion_mnist_dir, load_dataset, read_idx_folder
from tflite_lite.errors import UserError


def test_fashion_mnist_is_the_real_dataset(fashion_mnist):
    assert fashion_mnist.num_examples["train"] + fashion_mnist.num_examples["validation"] == 60_000
    assert fashion_mnist.num_examples["test"] == 10_000
    assert fashion_mnist.num_classes == 10
    assert fashion_mnist.class_names[9] == "ankle boot"
    assert fashion_mnist.source in (debian_fashion_mnist_dir(), "keras.datasets")
    labels = np.concatenate([y.numpy() for _, y in fashion_mnist.test])
    assert len(labels) == 10_000
    np.testing.assert_array_equal(np.bincount(labels), [1000] * 10)


@pytest.mark.skipif(shutil.which("dpkg") is None, reason="not a Debian system")
def test_debian_package_copy_is_found_and_read():
    folder = debian_fashion_mnist_dir()
    assert folder is not None, "apt-get install -y dataset-fashion-mnist"
    (x_train, y_train), (x_test, y_test) = read_idx_folder(folder)
    assert x_train.shape == (60_000, 28, 28) and x_test.shape == (10_000, 28, 28)
    assert x_train.dtype == np.uint8 and set(np.unique(y_train)) == set(range(10))


def test_batches_are_resized_and_normalized(fashion_mnist):
    images, labels = next(iter(fashion_mnist.test))
    assert images.shape == (64, 32, 32, 1) and images.dtype == tf.float32
    assert labels.dtype == tf.int32
    assert float(tf.reduce_min(images)) >= -1.0 and float(tf.reduce_max(images)) <= 1.0


def test_grayscale_becomes_three_channels_at_any_size():
    data = load_dataset("fashion_mnist", input_shape=(40, 36, 3), batch_size=8,
                        max_train_examples=16)
    images, _ = next(iter(data.train))
    assert images.shape == (8, 40, 36, 3)
    np.testing.assert_array_equal(images[..., 0], images[..., 2])
    assert data.num_examples["train"] == 16


def test_preprocessing_round_trips_and_matches_its_formula():
    preprocessing = Preprocessing((32, 32, 3), mean=(120.0, 110.0, 100.0), std=(60.0, 50.0, 40.0))
    assert Preprocessing.from_config(preprocessing.get_config()) == preprocessing
    image = np.full((32, 32, 3), 200, np.uint8)
    np.testing.assert_allclose(preprocessing(image)[0, 0].numpy(), [80 / 60, 90 / 50, 100 / 40],
                               rtol=1e-6)


def test_augmentation_is_seeded_and_changes_between_epochs():
    def first_batches(seed):
        data = load_dataset("fashion_mnist", batch_size=32, augment="flip,translate",
                            max_train_examples=64, seed=seed)
        return [next(iter(data.train))[0].numpy() for _ in range(2)], data

    (epoch1, epoch2), _ = first_batches(seed=3)
    (again1, _), _ = first_batches(seed=3)
    np.testing.assert_array_equal(epoch1, again1)
    assert not np.array_equal(epoch1, epoch2)


def test_camera_augmentations_are_named_seeded_and_do_what_they_say():
    from tflite_lite.augmentation import CAMERA_AUGMENTATIONS, augment_batch

    image = np.zeros((32, 32, 1), np.float32)
    image[8:24, 12:20] = 255.0  # a light object on black, as Fashion-MNIST draws them
    batch = np.repeat(image[np.newaxis], 40, axis=0)  # each image gets its own random values

    def run(names, seed=(3, 7)):
        return augment_batch(batch, tf.constant(seed, tf.int64), names).numpy()

    for name in CAMERA_AUGMENTATIONS:  # each changes the image, stays in range, repeats
        out = run((name,))
        assert out.shape == (40, 32, 32, 1) and out.min() >= 0 and out.max() <= 255, name
        assert not np.allclose(out, image), name
        np.testing.assert_array_equal(out, run((name,)))
        assert not np.array_equal(out, run((name,), seed=(4, 7))), name
        assert len({out[i].tobytes() for i in range(40)}) > 20, name  # not one value per batch
    flipped = run(("polarity",))
    dark_objects = flipped[:, 16, 16, 0] < flipped[:, 2, 2, 0]  # object darker than ground
    assert 0.2 < dark_objects.mean() < 0.8  # about half
    grounds = run(("background",))[:, 2, 2, 0]
    assert grounds.std() > 10 and grounds.max() > 30  # the black ground is gone
    shrunk = run(("scale",))
    assert (shrunk > 127).sum(axis=(1, 2, 3)).mean() < (image > 127).sum()  # smaller object
    data = load_dataset("fashion_mnist", batch_size=16, max_train_examples=32,
                        augment=",".join(CAMERA_AUGMENTATIONS))
    assert next(iter(data.train))[0].shape == (16, 32, 32, 1)
    with pytest.raises(UserError, match="unknown augmentation sepia; choose from flip, "
                                        "translate, polarity"):
        load_dataset("fashion_mnist", augment="flip,sepia")


def test_nothing_class_adds_garment_free_training_frames_only():
    data = load_dataset("fashion_mnist", batch_size=256, max_train_examples=512,
                        max_eval_examples=64, augment="flip,polarity,background",
                        nothing_fraction=0.25)
    assert data.class_names[-1] == "nothing" and data.nothing_class == 10
    images, labels = next(iter(data.train))
    labels = labels.numpy()
    assert 0.15 < np.mean(labels == 10) < 0.35
    # A garment-free frame is a surface: far smoother than a frame with a garment on it.
    edges = np.abs(np.diff(images.numpy()[..., 0], axis=2)).max(axis=(1, 2))
    assert np.median(edges[labels == 10]) < 0.5 * np.median(edges[labels != 10])
    assert all((y.numpy() < 10).all() for _, y in data.validation)  # evaluation is unchanged
    with pytest.raises(UserError, match="no such class"):  # no teacher predicts "nothing"
        data.with_train_targets(lambda images: images)
    assert load_dataset("fashion_mnist", max_train_examples=64).nothing_class is None
    for bad in (1.0, -0.1, "0.1", True):
        with pytest.raises(UserError, match="nothing_fraction must be in \\[0, 1\\)"):
            load_dataset("fashion_mnist", max_train_examples=64, nothing_fraction=bad)



def test_plain_fraction_keeps_that_share_of_images_as_the_dataset_draws_them():
    from tflite_lite.augmentation import augment_batch

    batch = np.zeros((400, 32, 32, 1), np.float32)
    batch[:, 8:24, 12:20] = 255.0
    seed = tf.constant((5, 1), tf.int64)
    out = augment_batch(batch, seed, ("polarity", "background", "noise"), plain_fraction=0.3)
    unchanged = np.all(out.numpy() == batch, axis=(1, 2, 3))  # no flip or translate named
    assert 0.2 < unchanged.mean() < 0.4
    images, labels = augment_batch(batch, seed, ("background",), plain_fraction=0.5,
                                   nothing=(tf.zeros(400, tf.int32), 10, 0.5))
    kept = np.all(images.numpy() == batch, axis=(1, 2, 3))
    assert not (kept & (labels.numpy() == 10)).any()  # a "nothing" frame stays one
    assert 0.15 < kept.mean() < 0.35
    for bad in (1.0, -0.5, "half"):
        with pytest.raises(UserError, match="plain_fraction must be in \\[0, 1\\)"):
            load_dataset("fashion_mnist", max_train_examples=64, plain_fraction=bad)

def _write_image_folder(root, classes, per_class=6, size=(20, 24)):
    rng = np.random.default_rng(0)
    for name in classes:
        os.makedirs(os.path.join(root, name), exist_ok=True)
        for i in range(per_class):
            pixels = rng.integers(0, 255, size + (3,), dtype=np.uint8)
            tf.io.write_file(os.path.join(root, name, f"{i}.png"), tf.io.encode_png(pixels))


def test_image_folder_is_split_and_resized(tmp_path):
    _write_image_folder(str(tmp_path), ["cat", "dog", "fox"])
    data = load_dataset(f"folder:{tmp_path}", input_shape=(32, 32, 3), batch_size=4,
                        validation_split=0.25)
    assert data.class_names == ("cat", "dog", "fox")
    assert data.num_examples["train"] + data.num_examples["validation"] == 18
    images, labels = next(iter(data.train))
    assert images.shape[1:] == (32, 32, 3)
    assert set(labels.numpy()) <= {0, 1, 2}


def test_image_folder_with_train_and_test_subfolders(tmp_path):
    _write_image_folder(str(tmp_path / "train"), ["a", "b"])
    _write_image_folder(str(tmp_path / "test"), ["a", "b"], per_class=3)
    data = load_dataset(f"folder:{tmp_path}", input_shape=(28, 28, 1), batch_size=4)
    assert data.num_examples["test"] == 6
    assert next(iter(data.test))[0].shape[1:] == (28, 28, 1)


@pytest.mark.parametrize("make,fragment", [
    (lambda root: None, "has no class sub-folders with images"),
    (lambda root: _write_image_folder(root, ["only"]), "has one class (only)"),
    (lambda root: os.rmdir(root), "image folder not found"),
])
def test_bad_image_folders(tmp_path, make, fragment):
    root = str(tmp_path / "images")
    os.makedirs(root)
    make(root)
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_dataset(f"folder:{root}")


@pytest.mark.parametrize("kwargs,fragment", [
    (dict(name="imagenet"), "unknown dataset 'imagenet'; available: fashion_mnist"),
    (dict(name="fashion_mnist", augment="swirl"), "unknown augmentation swirl"),
    (dict(name="fashion_mnist", input_shape=(32, 32, 2)), "input_shape must be"),
    (dict(name="fashion_mnist", std=(0.0,)), "std must be positive"),
    (dict(name="fashion_mnist", batch_size=0), "batch_size must be a positive integer"),
    (dict(name="fashion_mnist", validation_split=1.0), "validation_split must be in (0, 1)"),
])
def test_bad_dataset_arguments(kwargs, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        load_dataset(**kwargs)


def test_corrupt_idx_file_is_a_user_error(tmp_path):
    for stem in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (tmp_path / f"{stem}.gz").write_bytes(b"not gzip at all")
    with pytest.raises(UserError, match="cannot read"):
        read_idx_folder(str(tmp_path))
