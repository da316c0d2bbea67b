"""Datasets as `tf.data` pipelines, and the preprocessing every later stage must repeat.

    data = load_dataset("fashion_mnist", input_shape=(32, 32, 1), batch_size=128)
    model.fit(data.train, validation_data=data.validation)

Names: `fashion_mnist` (Debian's `dataset-fashion-mnist` copy first, then the Keras cache, then
a `keras.datasets` download), `mnist` and `cifar10` (Keras cache or download), and
`folder:PATH` (one sub-folder per class; with `train/` and `test/` sub-folders they become the
splits). Images are resized (bilinear), converted between 1 and 3 channels, optionally
augmented (`tflite_lite.augmentation`), then normalized as `(pixel - mean) / std` on raw 0-255
pixels.
"""

import dataclasses
import functools
import gzip
import os
import subprocess

import numpy as np

from tflite_lite._keras import keras, tf
from tflite_lite.augmentation import (NOTHING_CLASS, augment_batch, check_fraction,
                                      validate_augmentations)
from tflite_lite.errors import UserError

FASHION_MNIST_CLASSES = ("t-shirt/top", "trouser", "pullover", "dress", "coat", "sandal",
                         "shirt", "sneaker", "bag", "ankle boot")
MNIST_CLASSES = tuple(str(digit) for digit in range(10))
CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                   "ship", "truck")

_DEBIAN_PACKAGE = "dataset-fashion-mnist"
_DEBIAN_DEFAULT_DIR = "/usr/share/datasets/fashion-mnist"
_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif")
_CACHE_LIMIT_BYTES = 2 << 30


@dataclasses.dataclass(frozen=True)
class Preprocessing:
    """How raw images become model input; recorded with every trained model.

    Attributes:
      input_shape: (height, width, channels) of the model input.
      mean: per-channel value subtracted from raw 0-255 pixels (one value = all channels).
      std: per-channel divisor applied after subtracting the mean.
      resize: the resize method (`tf.image.resize`).
    """

    input_shape: tuple
    mean: tuple = (127.5,)
    std: tuple = (127.5,)
    resize: str = "bilinear"

    def __post_init__(self):
        object.__setattr__(self, "input_shape", tuple(int(d) for d in self.input_shape))
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))
        channels = self.input_shape[-1]
        if len(self.input_shape) != 3 or channels not in (1, 3):
            raise UserError(f"input_shape must be (height, width, 1 or 3), got {self.input_shape}")
        for key in ("mean", "std"):
            if len(getattr(self, key)) not in (1, channels):
                raise UserError(f"{key} needs 1 or {channels} values, got {getattr(self, key)}")
        if min(self.std) <= 0:
            raise UserError(f"std must be positive, got {self.std}")

    def get_config(self):
        return {"input_shape": list(self.input_shape), "mean": list(self.mean),
                "std": list(self.std), "resize": self.resize, "pixel_range": [0, 255]}

    @classmethod
    def from_config(cls, config):
        config = {key: value for key, value in config.items() if key != "pixel_range"}
        return cls(**config)

    def resize_and_convert(self, images):
        """Resizes 0-255 images (HWC or NHWC) and converts their channels; returns float32."""
        images = tf.cast(images, tf.float32)
        height, width, channels = self.input_shape
        if tuple(images.shape[-3:-1]) != (height, width):
            images = tf.image.resize(images, (height, width), method=self.resize)
        source_channels = images.shape[-1]
        if source_channels == channels:
            return images
        if source_channels == 1 and channels == 3:
            return tf.image.grayscale_to_rgb(images)
        if source_channels == 3 and channels == 1:
            return tf.image.rgb_to_grayscale(images)
        raise UserError(f"cannot convert images with {source_channels} channels to {channels}")

    def normalize(self, images):
        return (images - tf.constant(self.mean)) / tf.constant(self.std)

    def __call__(self, images):
        """Applies the full preprocessing to 0-255 images."""
        return self.normalize(self.resize_and_convert(images))


@dataclasses.dataclass
class Dataset:
    """Batched `(image, label)` pipelines of one dataset, with what describes them.

    `source` says where the images were read from: a folder (Debian's Fashion-MNIST copy, an
    image folder) or "keras.datasets" (the Keras cache or a download). `nothing_class` is the
    index of the added "nothing" class (`load_dataset(..., nothing_fraction=...)`), else None.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    class_names: tuple
    preprocessing: Preprocessing
    num_examples: dict
    source: str
    nothing_class: int = None
    _raw_train: tf.data.Dataset = dataclasses.field(default=None, repr=False)
    _pipeline_args: dict = dataclasses.field(default=None, repr=False)
    _train_augment: tuple = dataclasses.field(default=(), repr=False)

    @property
    def num_classes(self):
        return len(self.class_names)

    def with_train_targets(self, predict):
        """A copy whose training batches are `(images, (labels, targets))`.

        `predict` maps a batch of preprocessed, un-augmented training images to a batch of
        targets (e.g. a teacher's logits). It runs once over the training split in order; the
        targets then travel with their images through shuffling and augmentation, so a later
        epoch does not call it again.

        Args:
          predict: a function from a float image batch to an array of per-image targets.

        Returns:
          A `Dataset` that differs in `train` only.

        Raises:
          UserError: a dataset with a "nothing" class, which no teacher predicts.
        """
        if self.nothing_class is not None:
            raise UserError("a \"nothing\" class cannot be trained with per-image targets "
                            "(distillation): the teacher has no such class")
        args = self._pipeline_args
        clean = _pipeline(self._raw_train, training=False, augment=(), **args)
        targets = np.concatenate([np.asarray(predict(images)) for images, _ in clean])
        paired = tf.data.Dataset.zip((
            self._raw_train, tf.data.Dataset.from_tensor_slices(targets.astype(np.float32))))
        paired = paired.map(lambda example, target: (example[0], (example[1], target)))
        train = _pipeline(paired, training=True, augment=self._train_augment, **args)
        return dataclasses.replace(self, train=train)


def load_dataset(name, input_shape=(32, 32, 1), batch_size=128, mean=(127.5,), std=(127.5,),
                 augment=(), validation_split=0.1, max_train_examples=None,
                 max_eval_examples=None, nothing_fraction=0.0, plain_fraction=0.0, seed=0):
    """Loads a dataset as batched train / validation / test `tf.data` pipelines.

    Args:
      name: `fashion_mnist`, `mnist`, `cifar10` or `folder:PATH`.
      input_shape: model input (height, width, channels); channels 1 or 3. Defaults to
        (32, 32, 1).
      batch_size: examples per batch. Defaults to 128.
      mean: per-channel mean of raw 0-255 pixels. Defaults to (127.5,).
      std: per-channel std of raw 0-255 pixels. Defaults to (127.5,).
      augment: training augmentations by name (`augmentation.AUGMENTATIONS`: flip,
        translate, and the camera's polarity, background, contrast, blur, noise, rotate and
        scale). Defaults to ().
      validation_split: fraction of the training examples held out. Defaults to 0.1.
      max_train_examples: keep at most this many training examples (quick runs). Defaults to
        None (all).
      max_eval_examples: keep at most this many validation and test examples each (the
        first ones; quick runs). Defaults to None (all).
      nothing_fraction: with a value in (0, 1), a "nothing" class is added after the
        dataset's classes, and this fraction of the training examples become frames with no
        object in them (`augmentation.nothing_images`); validation and test stay as they are.
        Defaults to 0.0 (no such class).
      plain_fraction: this fraction of the training images keep the dataset's own look
        (flip and translate only) when `augment` names camera augmentations, so the model
        still learns the clean images it is tested on. Defaults to 0.0.
      seed: seeds the split, shuffling and augmentation. Defaults to 0.

    Returns:
      A `Dataset`.

    Raises:
      UserError: for an unknown name, a missing or unusable folder, invalid arguments, or a
        dataset that cannot be found or downloaded.
    """
    preprocessing = Preprocessing(input_shape, mean, std)
    augment = validate_augmentations(augment)
    _check_loading(batch_size, validation_split, nothing_fraction, plain_fraction,
                   max_train_examples, max_eval_examples)
    (train, validation, test), class_names, source = _raw_splits(
        name, preprocessing, validation_split, seed)
    if max_train_examples:
        train = train.take(max_train_examples)
    if max_eval_examples:
        validation, test = validation.take(max_eval_examples), test.take(max_eval_examples)

    splits = {"train": train, "validation": validation, "test": test}
    num_examples = {key: int(split.cardinality()) for key, split in splits.items()}
    if min(num_examples.values()) < 1:
        raise UserError(f"dataset {name!r} has an empty split: {num_examples}")
    nothing = (len(class_names), nothing_fraction) if nothing_fraction else None
    pipelines = {key: _pipeline(split, preprocessing, batch_size, training=key == "train",
                                augment=augment, seed=seed, size=num_examples[key],
                                nothing=nothing if key == "train" else None,
                                plain_fraction=plain_fraction)
                 for key, split in splits.items()}
    if nothing:
        class_names = (*class_names, NOTHING_CLASS)
    return Dataset(class_names=tuple(class_names), preprocessing=preprocessing,
                   num_examples=num_examples, source=source,
                   nothing_class=nothing[0] if nothing else None, _raw_train=train,
                   _pipeline_args=dict(preprocessing=preprocessing, batch_size=batch_size,
                                       seed=seed, size=num_examples["train"],
                                       plain_fraction=plain_fraction),
                   _train_augment=augment, **pipelines)


def _check_loading(batch_size, validation_split, nothing_fraction, plain_fraction,
                   max_train_examples, max_eval_examples):
    """Raises `UserError` for a loading option out of its range."""
    if not isinstance(batch_size, int) or batch_size < 1:
        raise UserError(f"batch_size must be a positive integer, got {batch_size!r}")
    if not 0 < validation_split < 1:
        raise UserError(f"validation_split must be in (0, 1), got {validation_split!r}")
    check_fraction("nothing_fraction", nothing_fraction)
    check_fraction("plain_fraction", plain_fraction)
    for key, cap in (("max_train_examples", max_train_examples),
                     ("max_eval_examples", max_eval_examples)):
        if cap is not None and (not isinstance(cap, int) or cap < 1):
            raise UserError(f"{key} must be a positive integer, got {cap!r}")


def _raw_splits(name, preprocessing, validation_split, seed):
    """((train, validation, test) datasets of raw images and labels, class names, source)."""
    if name.startswith("folder:"):
        source = os.path.abspath(name[len("folder:"):])
        splits, class_names = _load_folder(source, preprocessing, validation_split, seed)
        return splits, class_names, source
    (x_train, y_train), (x_test, y_test), class_names, source = _load_arrays(name)
    order = np.random.default_rng(seed).permutation(len(x_train))
    num_validation = int(round(len(x_train) * validation_split))
    validation_index, train_index = order[:num_validation], order[num_validation:]
    train = tf.data.Dataset.from_tensor_slices((x_train[train_index], y_train[train_index]))
    validation = tf.data.Dataset.from_tensor_slices(
        (x_train[validation_index], y_train[validation_index]))
    test = tf.data.Dataset.from_tensor_slices((x_test, y_test))
    return (train, validation, test), class_names, source


def _pipeline(ds, preprocessing, batch_size, training, augment, seed, size, nothing=None,
              plain_fraction=0.0):
    ds = ds.map(lambda x, y: (preprocessing.resize_and_convert(x), _cast_labels(y)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if size * 4 * int(np.prod(preprocessing.input_shape)) <= _CACHE_LIMIT_BYTES:
        ds = ds.cache()
    if training:
        ds = ds.shuffle(min(size, 20_000), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and (augment or nothing):
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)

        def transform(batch, pair):
            images, labels = batch
            if not nothing:
                return augment_batch(images, pair, augment, plain_fraction=plain_fraction), labels
            return augment_batch(images, pair, augment, nothing=(labels, *nothing),
                                 plain_fraction=plain_fraction)

        ds = tf.data.Dataset.zip((ds, seeds)).map(transform, num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.map(lambda x, y: (preprocessing.normalize(x), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def _cast_labels(labels):
    """int32 class labels; with targets attached, `(int32 labels, targets)`."""
    if isinstance(labels, tuple):
        return (tf.cast(labels[0], tf.int32), *labels[1:])
    return tf.cast(labels, tf.int32)


@functools.lru_cache(maxsize=None)
def _load_arrays(name):
    """(train, test, class names, source) of a named dataset, read-only; read once per process
    (a pipeline loads its dataset once per stage)."""
    loaders = {
        "fashion_mnist": (_load_fashion_mnist, FASHION_MNIST_CLASSES),
        "mnist": (lambda: (_keras_download("mnist"), "keras.datasets"), MNIST_CLASSES),
        "cifar10": (lambda: (_keras_download("cifar10"), "keras.datasets"), CIFAR10_CLASSES),
    }
    if name not in loaders:
        raise UserError(f"unknown dataset {name!r}; available: {', '.join(loaders)}, folder:PATH")
    load, class_names = loaders[name]
    ((x_train, y_train), (x_test, y_test)), source = load()
    if x_train.ndim == 3:  # grayscale: add the channel axis
        x_train, x_test = x_train[..., None], x_test[..., None]
    for array in (x_train, y_train, x_test, y_test):
        array.flags.writeable = False
    return (x_train, y_train.reshape(-1)), (x_test, y_test.reshape(-1)), class_names, source


def debian_fashion_mnist_dir():
    """The folder of Debian's `dataset-fashion-mnist` files, or None when not installed."""
    try:
        listing = subprocess.run(["dpkg", "-L", _DEBIAN_PACKAGE], capture_output=True,
                                 text=True, timeout=60, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        listing = ""
    for line in listing.splitlines():
        if line.endswith("train-images-idx3-ubyte.gz"):
            return os.path.dirname(line)
    marker = os.path.join(_DEBIAN_DEFAULT_DIR, "train-images-idx3-ubyte.gz")
    return _DEBIAN_DEFAULT_DIR if os.path.exists(marker) else None


def _load_fashion_mnist():
    """Debian's copy first, then the Keras cache or a download; returns (arrays, source)."""
    folder = debian_fashion_mnist_dir()
    if folder:
        return read_idx_folder(folder), folder
    return _keras_download("fashion_mnist"), "keras.datasets"


def read_idx_folder(folder):
    """Reads the four MNIST-format `.gz` files of a folder into uint8 / int arrays."""
    def read(stem, header, shape):
        path = os.path.join(folder, stem + ".gz")
        try:
            with gzip.open(path, "rb") as f:
                raw = f.read()
            return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)
        except (OSError, ValueError, EOFError) as error:
            raise UserError(f"cannot read {path}: {error}") from None

    return ((read("train-images-idx3-ubyte", 16, (-1, 28, 28)),
             read("train-labels-idx1-ubyte", 8, (-1,))),
            (read("t10k-images-idx3-ubyte", 16, (-1, 28, 28)),
             read("t10k-labels-idx1-ubyte", 8, (-1,))))


def _keras_download(name):
    """`keras.datasets.<name>.load_data()`: the Keras cache first, then a download."""
    try:
        return getattr(keras.datasets, name).load_data()
    except Exception as error:  # noqa: BLE001 (download errors come in many types)
        hint = (f" or install Debian's package: apt-get install -y {_DEBIAN_PACKAGE}"
                if name == "fashion_mnist" else "")
        raise UserError(f"dataset {name!r} is not in the Keras cache (~/.keras/datasets) and "
                        f"could not be downloaded ({type(error).__name__}); connect to the "
                        f"internet{hint}") from None


def _class_folders(root):
    if not os.path.isdir(root):
        raise UserError(f"image folder not found: {root}")
    classes = []
    for entry in sorted(os.listdir(root)):
        path = os.path.join(root, entry)
        if os.path.isdir(path) and any(f.lower().endswith(_IMAGE_EXTENSIONS)
                                       for _, _, files in os.walk(path) for f in files):
            classes.append(entry)
    if not classes:
        raise UserError(f"image folder {root} has no class sub-folders with images "
                        f"({', '.join(_IMAGE_EXTENSIONS)})")
    if len(classes) == 1:
        raise UserError(f"image folder {root} has one class ({classes[0]}); "
                        "a classifier needs at least two")
    return classes


def dataset_class_names(name):
    """The class names of a dataset, without loading its images (checks recipes early)."""
    if name.startswith("folder:"):
        root = os.path.abspath(name[len("folder:"):])
        has_splits = all(os.path.isdir(os.path.join(root, s)) for s in ("train", "test"))
        return tuple(_class_folders(os.path.join(root, "train") if has_splits else root))
    known = {"fashion_mnist": FASHION_MNIST_CLASSES, "mnist": MNIST_CLASSES,
             "cifar10": CIFAR10_CLASSES}
    if name not in known:
        raise UserError(f"unknown dataset {name!r}; available: {', '.join(known)}, folder:PATH")
    return known[name]


def _load_folder(root, preprocessing, validation_split, seed):
    """Splits of an image folder; a folder without train/ and test/ tests on its validation."""
    has_splits = all(os.path.isdir(os.path.join(root, s)) for s in ("train", "test"))
    train_root = os.path.join(root, "train") if has_splits else root
    class_names = _class_folders(train_root)
    options = dict(labels="inferred", label_mode="int", class_names=class_names,
                   color_mode="grayscale" if preprocessing.input_shape[-1] == 1 else "rgb",
                   image_size=preprocessing.input_shape[:2], batch_size=None, seed=seed,
                   interpolation=preprocessing.resize)
    try:
        train, validation = keras.utils.image_dataset_from_directory(
            train_root, validation_split=validation_split, subset="both", shuffle=True, **options)
        test = validation
        if has_splits:
            test_classes = _class_folders(os.path.join(root, "test"))
            if test_classes != class_names:
                raise UserError(f"{root}/test classes {test_classes} differ from train classes "
                                f"{class_names}")
            test = keras.utils.image_dataset_from_directory(
                os.path.join(root, "test"), shuffle=False, **options)
    except (ValueError, tf.errors.OpError) as error:
        if isinstance(error, UserError):
            raise
        raise UserError(f"cannot load image folder {root}: {str(error).splitlines()[0]}") from None
    return (train, validation, test), class_names


def load_raw_test_images(name, count, one_per_class=True):
    """The first test image of each class in turn (0-255 pixels, HWC uint8) and their labels:
    what a camera or gallery hands an app, before any preprocessing. Without `one_per_class`,
    simply the first `count` test images."""
    _, (x_test, y_test), _, _ = _load_arrays(name)
    if not one_per_class:
        return x_test[:count], y_test[:count]
    picked, seen = [], set()
    for index, label in enumerate(y_test):
        if label not in seen:
            seen.add(label)
            picked.append(index)
        if len(picked) == count:
            break
    return x_test[picked], y_test[picked]
