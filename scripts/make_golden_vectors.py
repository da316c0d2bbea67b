"""Writes golden vectors for an exported integer model: raw test images, the exact input
tensor, LiteRT's raw output and the top-k, for the Android demo's Kotlin core tests.

Usage:
  python scripts/make_golden_vectors.py --model DIR/model_int8.tflite \
      --output android_demo/core/golden/model_int8.json --count 4 --top_k 3
"""

from absl import flags

from tflite_lite import cli

_MODEL = flags.DEFINE_string("model", None, "Exported integer .tflite (contract beside it).",
                             required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Golden JSON to write.", required=True)
_COUNT = flags.DEFINE_integer("count", 4, "Test images (one per class, in class order).",
                              lower_bound=1)
_TOP_K = flags.DEFINE_integer("top_k", 3, "Classes in the expected top-k.", lower_bound=1)


def main(argv):
    cli.reject_extra_args(argv)
    # TensorFlow loads here, after the flags were parsed.
    from tflite_lite.android import write_golden_vectors  # noqa: PLC0415

    record = write_golden_vectors(_MODEL.value, _OUTPUT.value, _COUNT.value, _TOP_K.value)
    print(f"{_OUTPUT.value}: {len(record['cases'])} cases for {record['model']}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
