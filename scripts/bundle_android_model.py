"""Copies an exported model, its contract and labels into the Android demo's assets.

Usage:
  python scripts/bundle_android_model.py --model runs/m/model_int8.tflite --name fashion_mnv2

The app (`android_demo/`) lists every folder under `app/src/main/assets/models/` in its model
picker; rebuild and install it with `./gradlew installDebug`.
"""

from absl import flags

from tflite_lite import cli

_MODEL = flags.DEFINE_string("model", None, "Exported .tflite (contract and labels beside it).",
                             required=True)
_APP = flags.DEFINE_string("app", "android_demo", "The Android demo project.")
_NAME = flags.DEFINE_string("name", None, "Name in the app's model picker "
                            "(default: <folder>_<stem>).")


def main(argv):
    cli.reject_extra_args(argv)
    # TensorFlow loads here, after the flags were parsed.
    from tflite_lite.android import bundle_for_android  # noqa: PLC0415

    print(f"bundled into {bundle_for_android(_MODEL.value, _APP.value, _NAME.value)}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
