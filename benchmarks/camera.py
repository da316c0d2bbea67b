"""Benchmarks the Android app's camera path: accuracy on Fashion-MNIST test images rendered as
camera frames, through the app's own preprocessing (the Kotlin core) and its bundled model.

Usage:
  python -m benchmarks.camera --count 100 --json runs/bench_camera/bench_camera.json

Each variant (light garment on dark or dark on light, flat or textured background, PNG or JPEG
70) covers 4:3 and 16:9 frames, landscape and portrait, in all four rotations; frames without a
garment show what the model says about nothing. Answers are the app's: the contract's
rejection rule turns some into "nothing recognized", which counts as a miss for a garment. `--python` runs the core's Python twin instead of the Kotlin core
(no kotlinc needed; the two are tested to agree bit for bit).
"""

import os
import subprocess
import tempfile
import time

import numpy as np
from absl import flags
from PIL import Image

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.android import ROTATIONS, frame_input
from tflite_lite.convert.evaluate import TFLiteClassifier, quantize
from tflite_lite.convert.flatbuffer import read_bytes
from tflite_lite.data import Preprocessing, load_raw_test_images
from tflite_lite.errors import UserError
from tflite_lite.report import format_table

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PREPROCESS = os.path.join(REPO, "android_demo", "core", "preprocess.sh")
SIZES = ((640, 480), (480, 640), (640, 360), (360, 640))
VARIANTS = [(polarity, background, jpeg) for polarity in ("light_on_dark", "dark_on_light")
            for background in ("flat", "textured") for jpeg in (None, 70)]
NOTHING = ("white", "grey", "black", "noise", "texture")
COLUMNS = (("variant", "variant", "s"), ("frames", "frames", ",d"),
           ("accuracy", "top-1", ".4f"), ("rejected", "nothing recognized", ".3f"),
           ("mean_top_score", "mean top score", ".3f"),
           ("most_common", "most common answer", "s"), ("most_common_share", "its share", ".2f"))
NOTHING_RECOGNIZED = "(nothing recognized)"


def decide(scores, rejection):
    """The app's answer per row of `scores`: the best class, or -1 for "nothing recognized"
    (`Classification.decide` in the Kotlin core, without the user's threshold)."""
    rejection = rejection or {"nothing_class": None, "min_score": 0.0}
    best = np.argmax(scores, axis=-1)
    rejected = np.max(scores, axis=-1) < rejection["min_score"]
    if rejection["nothing_class"] is not None:
        rejected |= best == rejection["nothing_class"]
    return np.where(rejected, -1, best)


def _background(rng, height, width, textured, light):
    low, high = (150, 235) if light else (15, 90)
    base = rng.uniform(low, high, 3)
    ys, xs = np.mgrid[0:height, 0:width] / max(height, width)
    picture = base + 25.0 * (xs * rng.uniform(-1, 1) + ys * rng.uniform(-1, 1))[..., None]
    if textured:
        frequency = rng.uniform(20, 60)
        angle = rng.uniform(0, np.pi)
        waves = np.sin(frequency * (xs * np.cos(angle) + ys * np.sin(angle)) * 2 * np.pi)
        picture = picture + 18.0 * waves[..., None] + rng.normal(0, 10, (height, width, 1))
    return picture


def render(image, size, rotation, polarity, textured, rng):
    """A garment (28x28x1 uint8) as a sensor frame (uint8 RGB, (width, height) = `size`)."""
    width, height = size if rotation % 180 == 0 else size[::-1]
    light_garment = polarity == "light_on_dark"
    picture = _background(rng, height, width, textured, light=not light_garment)
    side = int(min(width, height) * rng.uniform(0.5, 0.8))
    coverage = np.asarray(Image.fromarray(image[..., 0]).resize((side, side), Image.BILINEAR),
                          np.float64)[..., None] / 255.0
    top = int((height - side) / 2 + rng.uniform(-0.1, 0.1) * (height - side))
    left = int((width - side) / 2 + rng.uniform(-0.1, 0.1) * (width - side))
    colour = rng.uniform(190, 250, 3) if light_garment else rng.uniform(10, 70, 3)
    region = picture[top:top + side, left:left + side]
    region[:] = region * (1 - coverage) + colour * coverage
    cast = rng.uniform(0.85, 1.15, 3)
    picture = picture * cast + rng.normal(0, 3, picture.shape)
    upright = np.clip(np.round(picture), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.rot90(upright, k=rotation // 90))


def render_nothing(kind, size, rng):
    width, height = size
    if kind == "noise":
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    if kind == "texture":
        return np.clip(_background(rng, height, width, True, rng.random() < 0.5), 0,
                       255).astype(np.uint8)
    value = {"white": 245, "grey": 128, "black": 10}[kind]
    return np.full((height, width, 3), value, np.uint8)


def _save(frame, path, jpeg):
    Image.fromarray(frame).save(path, **({"quality": jpeg} if jpeg else {}))


def _through_core(paths, rotation, contract_path, folder):
    out = os.path.join(folder, f"batch_{rotation}.npy")
    result = subprocess.run(["bash", PREPROCESS, "--contract", contract_path, "--rotation",
                             str(rotation), "--output", out, *paths], capture_output=True,
                            text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        raise UserError(f"preprocess.sh failed: {lines[-1] if lines else result.returncode}")
    return np.load(out)


def _through_python(paths, rotation, preprocessing, contract):
    tensors = []
    for path in paths:
        frame = np.asarray(Image.open(path).convert("RGB"))
        tensor = frame_input(frame, rotation, preprocessing)
        tensors.append(quantize(tensor, contract["input"]["scale"],
                                contract["input"]["zero_point"], np.int8))
    return np.stack(tensors)


def _scores(classifier, tensors):
    """Probabilities for input tensors, as the app computes them (`Classification.scores`)."""
    interpreter, index = classifier.interpreter, classifier.input["index"]
    rows = []
    for tensor in tensors:
        interpreter.set_tensor(index, tensor[np.newaxis].astype(classifier.input["dtype"]))
        interpreter.invoke()
        rows.append(classifier.probabilities_of(
            interpreter.get_tensor(classifier.output["index"])[0]))
    return np.stack(rows)


def benchmark_camera_path(model_path, count=100, nothing_count=20, seed=0, core=True, log=print):
    """Accuracy per variant through the camera path; returns (rows, record).

    Args:
      model_path: an int8 `.tflite` with its contract `<stem>.json` beside it.
      count: test images per variant (spread over both orientations and four rotations).
      nothing_count: frames of each garment-free kind.
      seed: the rendering seed.
      core: run the Kotlin core (`preprocess.sh`); False runs its Python twin instead.
      log: where progress lines go.
    """
    from tflite_lite.contract import Contract

    contract_path = Contract.path_beside(model_path)
    contract = Contract.beside(model_path)
    if contract["input"]["dtype"] != "int8":
        raise UserError(f"{model_path}: the camera benchmark runs int8 models")
    preprocessing = Preprocessing.from_config(contract["preprocessing"])
    classifier = TFLiteClassifier(read_bytes(model_path), num_threads=1)
    images, labels = load_raw_test_images("fashion_mnist", count, one_per_class=False)
    names = contract["class_names"]
    rng = np.random.default_rng(seed)
    rows, started = [], time.perf_counter()
    with tempfile.TemporaryDirectory() as folder:
        def run(frames, jpeg):
            """frames: [(frame, rotation)] → scores in the same order."""
            scores = [None] * len(frames)
            for rotation in ROTATIONS:
                picked = [i for i, (_, r) in enumerate(frames) if r == rotation]
                if not picked:
                    continue
                paths = []
                for i in picked:
                    paths.append(os.path.join(folder, f"f{i}.{'jpg' if jpeg else 'png'}"))
                    _save(frames[i][0], paths[-1], jpeg)
                tensors = (_through_core(paths, rotation, contract_path, folder) if core else
                           _through_python(paths, rotation, preprocessing, contract))
                for i, row in zip(picked, _scores(classifier, tensors)):
                    scores[i] = row
            return np.stack(scores)

        def summarize(name, scores, truth=None):
            shown = decide(scores, contract.get("rejection"))
            common = np.bincount(shown + 1, minlength=len(names) + 1)
            answers = [NOTHING_RECOGNIZED, *names]
            row = {"variant": name, "frames": int(len(shown)),
                   "accuracy": None if truth is None else float(np.mean(shown == truth)),
                   "rejected": float(np.mean(shown == -1)),
                   "mean_top_score": float(np.mean(np.max(scores, axis=-1))),
                   "most_common": answers[int(np.argmax(common))],
                   "most_common_share": float(np.max(common) / len(shown))}
            rows.append(row)
            log(f"{name}: {row['accuracy'] if truth is not None else '-'} "
                f"({time.perf_counter() - started:.0f} s)")

        for polarity, background, jpeg in VARIANTS:
            frames = []
            for n, image in enumerate(images):
                rotation = ROTATIONS[(n // len(SIZES)) % 4]
                frames.append((render(image, SIZES[n % len(SIZES)], rotation, polarity,
                                      background == "textured", rng), rotation))
            name = f"{polarity}, {background}" + (f", jpeg {jpeg}" if jpeg else "")
            summarize(name, run(frames, jpeg), labels)
        for kind in NOTHING:
            frames = [(render_nothing(kind, SIZES[n % len(SIZES)], rng),
                       ROTATIONS[(n // len(SIZES)) % 4]) for n in range(nothing_count)]
            summarize(f"nothing: {kind}", run(frames, None))
    garments = [r for r in rows if r["accuracy"] is not None]
    nothing = [r for r in rows if r["accuracy"] is None]
    record = {
        "model": os.path.relpath(model_path, REPO) if model_path.startswith(REPO) else model_path,
        "path": "kotlin core (preprocess.sh)" if core else "python twin (frame_input)",
        "images_per_variant": count, "seed": seed, "rows": rows,
        "light_on_dark_accuracy": float(np.mean([r["accuracy"] for r in garments
                                                 if r["variant"].startswith("light")])),
        "dark_on_light_accuracy": float(np.mean([r["accuracy"] for r in garments
                                                 if r["variant"].startswith("dark")])),
        "garments_rejected": float(np.mean([r["rejected"] for r in garments])),
        "nothing_rejected": float(np.mean([r["rejected"] for r in nothing])),
        "rejection": contract.get("rejection"),
        "seconds": round(time.perf_counter() - started, 1)}
    return rows, record


_DEFAULT_MODEL = os.path.join(REPO, "android_demo", "app", "src", "main", "assets", "models",
                              "mobilenet_v1_050_fashion_camera", "model_int8.tflite")
_MODEL = flags.DEFINE_string("model", _DEFAULT_MODEL, "Int8 .tflite with its contract beside it "
                             "(default: the app's bundled model).")
_COUNT = flags.DEFINE_integer("count", 100, "Test images per variant.", lower_bound=1)
_NOTHING = flags.DEFINE_integer("nothing_count", 20, "Frames per garment-free kind.",
                                lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Rendering seed.")
_PYTHON = flags.DEFINE_bool("python", False, "Use the Python twin instead of the Kotlin core.")
_JSON = flags.DEFINE_string("json", "benchmarks/results/camera.json",
                            "JSON output.")


def main(argv):
    cli.reject_extra_args(argv)
    rows, record = benchmark_camera_path(_MODEL.value, _COUNT.value, _NOTHING.value, _SEED.value,
                                         core=not _PYTHON.value)
    print(format_table(rows, COLUMNS))
    print(f"light on dark {record['light_on_dark_accuracy']:.4f}, dark on light "
          f"{record['dark_on_light_accuracy']:.4f}; nothing recognized on "
          f"{record['nothing_rejected']:.1%} of garment-free frames and "
          f"{record['garments_rejected']:.1%} of garments ({record['path']}, "
          f"{record['seconds']:.0f} s)")
    if _JSON.value:
        results_file.save(_JSON.value, record)


if __name__ == "__main__":
    cli.run(main)
