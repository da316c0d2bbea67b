"""Prints a registered model's parameters and MACs, layer by layer.

Usage:
  python scripts/profile_model.py --model mobilenet_v2_100 --input_size 224 --channels 3
  python scripts/profile_model.py --model shufflenet_v2_x0_5 --input_size 32 --channels 1 \
      --num_classes 10 --top 10 --json profile.json

MACs count convolutions and dense layers as the papers do; params are the deployed weights
with batch norm folded into its convolution.
"""

from absl import flags

from tflite_lite import artifacts, cli

_MODEL = flags.DEFINE_string("model", "mobilenet_v2_100", "Registered model name.")
_INPUT_SIZE = flags.DEFINE_integer("input_size", 224, "Square input side (px).", lower_bound=28)
_CHANNELS = flags.DEFINE_enum("channels", "3", ["1", "3"], "Input channels.")
_NUM_CLASSES = flags.DEFINE_integer("num_classes", 1000, "Classifier size.", lower_bound=1)
_TOP = flags.DEFINE_integer("top", None, "Show only the N layers with the most MACs.",
                            lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Also write the profile as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    # TensorFlow loads here, after the flags were parsed.
    from tflite_lite.architectures import create_model, format_profile, profile  # noqa: PLC0415

    model = create_model(_MODEL.value, num_classes=_NUM_CLASSES.value,
                         input_shape=(_INPUT_SIZE.value, _INPUT_SIZE.value, int(_CHANNELS.value)))
    result = profile(model)
    print(format_profile(result, top=_TOP.value))
    print(f"{_MODEL.value}: {result['params'] / 1e6:.3f}M params, {result['macs'] / 1e6:.1f}M MACs")
    if _JSON.value:
        artifacts.write_json(_JSON.value, {"model": _MODEL.value, **result})


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
