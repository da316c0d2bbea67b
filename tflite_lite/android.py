"""The Android demo's side of an export: bundling it into the app, and golden vectors that the
app's Kotlin core is tested against.

    bundle_for_android("runs/m/model_int8.tflite", "android_demo", name="fashion_mnv2")
    write_golden_vectors("models/m/model_int8.tflite", "android_demo/core/golden/m.json")

`bundle_for_android` writes `android_demo/app/src/main/assets/models/<name>/` with the
`.tflite`, its contract and labels; the app lists that folder in its model picker.

Golden vectors: for a few raw test images (0-255 pixels at the dataset's own size) the file
holds the exact integer input tensor that the contract's preprocessing and quantization give,
the raw output of LiteRT's interpreter for it, its dequantized scores and the top-k classes;
and the same for camera frames (RGB, rotated, 4:3 and 16:9, landscape and portrait) through
the app's camera path, `frame_input`. It records the model's sha256. The demo's Kotlin core
is tested against it bit for bit.
"""

import base64
import hashlib
import os
import shutil

import numpy as np

from tflite_lite import _io
from tflite_lite.contract import LABELS_FILE, Contract
from tflite_lite.convert.evaluate import TFLiteClassifier
from tflite_lite.convert.flatbuffer import read_bytes
from tflite_lite.convert.probe import check_loads
from tflite_lite.data import Preprocessing, load_raw_test_images
from tflite_lite.errors import UserError

ASSETS = os.path.join("app", "src", "main", "assets", "models")


def bundle_for_android(model_path, app_dir, name=None):
    """Copies an exported model with its contract and labels into the app's assets.

    Args:
      model_path: an exported `.tflite`; `<stem>.json` and `labels.txt` must sit beside it.
      app_dir: the Android project (`android_demo`).
      name: the folder (and picker) name. Defaults to the model's parent folder name and stem.

    Returns:
      The folder written.
    """
    sources = _bundle_sources(model_path)  # the model's own problems first
    if not os.path.isfile(os.path.join(app_dir, "app", "build.gradle.kts")):
        raise UserError(f"{app_dir}: not the Android demo project (no app/build.gradle.kts)")
    folder = os.path.dirname(os.path.abspath(model_path))
    stem = os.path.splitext(os.path.basename(model_path))[0]
    name = name or f"{os.path.basename(folder)}_{stem}"
    return _copy_bundle(model_path, sources, os.path.join(app_dir, ASSETS, name))


def write_bundle(model_path, target):
    """Writes an app-ready bundle of an exported model into the folder `target`: the `.tflite`,
    its contract (paths rebased) and `labels.txt`, which the app reads from
    `assets/models/<name>/`.

    Raises:
      UserError: a file that is not a flatbuffer, or no contract or labels beside it.
    """
    return _copy_bundle(model_path, _bundle_sources(model_path), target)


def _copy_bundle(model_path, sources, target):
    contract_path, labels_path, contract = sources
    os.makedirs(target, exist_ok=True)
    for source in (model_path, labels_path):
        with _io.atomic_path(os.path.join(target, os.path.basename(source))) as tmp:
            shutil.copyfile(source, tmp)
    contract.rebase(os.path.dirname(contract_path), target).save(
        os.path.join(target, os.path.basename(contract_path)))
    return target


def _bundle_sources(model_path):
    """(contract path, labels path, contract) of an exported model, checked."""
    read_bytes(model_path)  # a real flatbuffer, or one error line
    contract_path = Contract.path_beside(os.path.abspath(model_path))
    labels_path = os.path.join(os.path.dirname(contract_path), LABELS_FILE)
    for path in (contract_path, labels_path):
        if not os.path.isfile(path):
            raise UserError(f"{path}: missing; bundle a model written by scripts/export.py")
    return contract_path, labels_path, Contract.load(contract_path)


# The app's camera path, as its Kotlin core (`CameraFrame.modelInput`) computes it. The core is
# tested bit for bit against this function through the golden vectors.
ROTATIONS = (0, 90, 180, 270)
_GRAY_WEIGHTS = (np.float32(0.2989), np.float32(0.5870), np.float32(0.1140))


def center_crop(width, height, model_width, model_height):
    """(left, top, width, height) of the largest centred crop with the model's aspect."""
    if width * model_height > height * model_width:
        crop_width = max(1, height * model_width // model_height)
        return (width - crop_width) // 2, 0, crop_width, height
    crop_height = max(1, width * model_height // model_width)
    return 0, (height - crop_height) // 2, width, crop_height


def area_weights(length, size):
    """(size, length) integer matrix: how much of source pixel j output i covers, in units of
    1/size of a pixel (each row sums to `length`); exact area averaging is `W @ x / length`."""
    bounds = np.arange(size + 1, dtype=np.int64) * length   # output i: [i*length, (i+1)*length)
    source = np.arange(length + 1, dtype=np.int64) * size   # source j: [j*size, (j+1)*size)
    low = np.maximum(bounds[:-1, None], source[None, :-1])
    high = np.minimum(bounds[1:, None], source[None, 1:])
    return np.maximum(high - low, 0)


def frame_input(frame, rotation, preprocessing):
    """A camera frame or picture as the model's normalized float32 input (H, W, C).

    Args:
      frame: uint8 pixels (height, width, 3) RGB, or (height, width, 1), as the sensor gave them.
      rotation: clockwise degrees that make the frame upright (CameraX's `rotationDegrees`).
      preprocessing: the contract's `Preprocessing`.

    The frame is turned upright, centre-cropped to the model's aspect, reduced to the model's
    size by exact area averaging (integer sums, one float64 division), converted to the model's
    channels with TensorFlow's gray weights and normalized, in float32 in the app's order.
    """
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[-1] not in (1, 3) or frame.dtype != np.uint8:
        raise UserError(f"expected uint8 pixels (height, width, 1 or 3), got {frame.dtype} "
                        f"{frame.shape}")
    if rotation % 360 not in ROTATIONS:
        raise UserError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    upright = np.rot90(frame, k=-(rotation % 360) // 90)
    height, width, channels = preprocessing.input_shape
    left, top, crop_width, crop_height = center_crop(upright.shape[1], upright.shape[0], width,
                                                     height)
    crop = upright[top:top + crop_height, left:left + crop_width].astype(np.int64)
    if crop.shape[-1] == 1:
        crop = np.repeat(crop, 3, axis=-1)
    rows, columns = area_weights(crop_height, height), area_weights(crop_width, width)
    sums = np.stack([rows @ crop[..., c] @ columns.T for c in range(3)], axis=-1)  # exact
    means = (sums / (float(crop_width) * crop_height)).astype(np.float32)
    if channels == 1:
        red, green, blue = (means[..., c] * _GRAY_WEIGHTS[c] for c in range(3))
        means = ((red + green) + blue)[..., np.newaxis]
    mean = np.asarray(preprocessing.mean, np.float32)
    std = np.asarray(preprocessing.std, np.float32)
    return ((means - mean) / std).astype(np.float32)


GOLDEN_FORMAT = "tflite_lite.golden/1"
# Camera frames of the golden file, cycled over its images: (sensor width, height), rotation.
# 4:3 landscape and portrait sensors, 16:9, and all four rotations.
_CAMERA_CASES = (((96, 72), 0), ((96, 72), 90), ((72, 96), 180), ((112, 63), 270))


def camera_frame(image, size, rotation, seed=0):
    """A raw test image (28x28x1) as a sensor would send it: upright, it is a light garment
    with a colour cast on a tinted gradient background, about three quarters of the short side;
    the sensor frame is that picture turned by -`rotation`, so the app's rotation makes it
    upright.

    Returns uint8 (height, width, 3) with (width, height) = `size`.
    """
    width, height = size if rotation % 180 == 0 else size[::-1]
    rng = np.random.default_rng(seed)
    ys, xs = np.mgrid[0:height, 0:width]
    tint = rng.uniform(40, 90, 3)
    picture = (tint + 30.0 * (xs / width)[..., None] + 20.0 * (ys / height)[..., None])
    scale = max(1, round(0.75 * min(width, height) / image.shape[0]))
    garment = np.kron(image[..., 0].astype(np.float64) / 255.0, np.ones((scale, scale)))
    top, left = (height - garment.shape[0]) // 2, (width - garment.shape[1]) // 2
    colour = rng.uniform(200, 250, 3)
    region = picture[top:top + garment.shape[0], left:left + garment.shape[1]]
    region[:] = region * (1 - garment[..., None]) + colour * garment[..., None]
    upright = np.clip(np.round(picture), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.rot90(upright, k=rotation // 90))


def _expected(classifier, normalized, top_k, class_names):
    """The input tensor, raw output, scores and top-k that LiteRT gives for `normalized`."""
    tensor = classifier.to_input_tensor(normalized)[0]
    raw = classifier.raw_output(normalized)
    scores = classifier.scores(normalized)
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:top_k]
    return {"input_tensor": tensor.reshape(-1).astype(int).tolist(),
            # integer codes, or float32 values (a float last layer) as exact doubles
            "raw_output": (raw.reshape(-1).astype(int).tolist() if np.issubdtype(
                raw.dtype, np.integer) else [float(v) for v in raw.reshape(-1)]),
            "scores": [float(s) for s in scores],
            "top_k": [{"index": int(i), "label": class_names[i], "score": float(scores[i])}
                      for i in order]}


def write_golden_vectors(model_path, output, count=4, top_k=3, dataset=None):
    """Writes golden vectors for the `.tflite` at `model_path` (its contract JSON beside it).

    Args:
      model_path: an exported integer `.tflite`; `<stem>.json` must sit beside it.
      output: the JSON file to write (atomically).
      count: how many test images (the first of each class, in class order). Defaults to 4.
      top_k: classes in the expected top-k. Defaults to 3.
      dataset: dataset name. Defaults to the one the contract was evaluated on.

    Returns:
      The written record.
    """
    contract = Contract.beside(model_path)
    if contract["input"]["dtype"] not in ("int8", "uint8", "int16"):
        raise UserError(f"golden vectors need an integer model, {model_path} takes "
                        f"{contract['input']['dtype']}")
    dataset = dataset or (contract.get("evaluation") or {}).get("dataset") or "fashion_mnist"
    images, labels = load_raw_test_images(dataset, count)
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    data = read_bytes(model_path)
    check_loads(model_path)  # LiteRT in a child first: a corrupt file must not crash this process
    classifier = TFLiteClassifier(data, num_threads=1)
    cases = []
    for image, label in zip(images, labels):
        normalized = preprocessing(image[np.newaxis].astype(np.float32)).numpy()[0]
        cases.append({
            "label": int(label), "height": int(image.shape[0]), "width": int(image.shape[1]),
            "channels": int(image.shape[2]), "pixels": image.reshape(-1).astype(int).tolist(),
            **_expected(classifier, normalized, top_k, contract["class_names"])})
    frames = []
    for n, (image, label) in enumerate(zip(images, labels)):
        size, rotation = _CAMERA_CASES[n % len(_CAMERA_CASES)]
        frame = camera_frame(image, size, rotation, seed=n)
        expected = _expected(classifier, frame_input(frame, rotation, preprocessing), top_k,
                             contract["class_names"])
        frames.append({"label": int(label), "width": int(frame.shape[1]),
                       "height": int(frame.shape[0]), "rotation": rotation,
                       "rgb_base64": base64.b64encode(frame.tobytes()).decode("ascii"),
                       **expected})
    record = {"format": GOLDEN_FORMAT, "model": os.path.basename(model_path),
              "model_sha256": hashlib.sha256(data).hexdigest(),
              "contract": {k: contract[k] for k in ("format", "mode", "input", "output",
                                                    "preprocessing", "class_names")},
              "top_k": top_k, "cases": cases, "camera_frames": frames}
    _io.write_json(output, record)
    return record
