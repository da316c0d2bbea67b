"""Lists a `.tflite` file's ops, input/output tensors, dtypes and quantization parameters.

Usage:
  python scripts/inspect_tflite.py --model DIR/model_int8.tflite [--tensors] [--json out.json]

Also reports ops that still compute in float when the model has integer input, and the
tflite_lite metadata entries. The file is parsed in Python and loaded by LiteRT in a child
process, so a corrupt file is reported, never crashes this process.
"""

from absl import flags

from tflite_lite import artifacts, cli
from tflite_lite.convert import describe_file, flatbuffer, float_ops, format_description

_MODEL = flags.DEFINE_string("model", None, "A `.tflite` file.", required=True)
_TENSORS = flags.DEFINE_bool("tensors", False, "List every tensor.")
_JSON = flags.DEFINE_string("json", None, "Also write the description as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    description = describe_file(_MODEL.value)
    print(format_description(description, tensors=_TENSORS.value))
    if description["inputs"] and description["inputs"][0]["dtype"] in ("int8", "uint8", "int16"):
        floats = float_ops(description)
        print(f"float ops: {len(floats)}" + "".join(f"\n  {op}" for op in floats))
        if flatbuffer.has_float_head(description):
            print("float head: the last FULLY_CONNECTED runs in float (float32 logits)")
    if _JSON.value:
        artifacts.write_json(_JSON.value, description)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
