"""Benchmarks the Android app's camera path: accuracy on Fashion-MNIST test images rendered as
camera frames, through the app's own preprocessing (the Kotlin core) and its bundled model.

Usage:
  python scripts/bench_camera.py --count 100 --json runs/bench_camera/bench_camera.json

Each variant (light garment on dark or dark on light, flat or textured background, PNG or JPEG
70) covers 4:3 and 16:9 frames, landscape and portrait, in all four rotations; frames without a
garment show what the model says about nothing. Answers are the app's: the contract's
rejection rule turns some into "nothing recognized", which counts as a miss for a garment. `--python` runs the core's Python twin instead of the Kotlin core
(no kotlinc needed; the two are tested to agree bit for bit).
"""

import os

from absl import flags

from tflite_lite import _io, cli
from tflite_lite.report import format_table
from tflite_lite_scripts._bench_camera import COLUMNS, REPO, benchmark_camera_path

_DEFAULT_MODEL = os.path.join(REPO, "android_demo", "app", "src", "main", "assets", "models",
                              "mobilenet_v1_050_fashion_camera", "model_int8.tflite")
_MODEL = flags.DEFINE_string("model", _DEFAULT_MODEL, "Int8 .tflite with its contract beside it "
                             "(default: the app's bundled model).")
_COUNT = flags.DEFINE_integer("count", 100, "Test images per variant.", lower_bound=1)
_NOTHING = flags.DEFINE_integer("nothing_count", 20, "Frames per garment-free kind.",
                                lower_bound=1)
_SEED = flags.DEFINE_integer("seed", 0, "Rendering seed.")
_PYTHON = flags.DEFINE_bool("python", False, "Use the Python twin instead of the Kotlin core.")
_JSON = flags.DEFINE_string("json", "runs/bench_camera/bench_camera.json", "JSON output.")


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
        os.makedirs(os.path.dirname(_JSON.value) or ".", exist_ok=True)
        _io.write_json(_JSON.value, record)
        print(f"wrote {_JSON.value}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
