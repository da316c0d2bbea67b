"""Study: do MSE-optimal activation ranges make int8 PTQ agree better with the float model?

Usage:
  python scripts/study_activation_ranges.py --run runs/mobilenet_v2_100 \\
      --json runs/study_activation_ranges.json

The run's model is calibrated as the int8 export calibrates it (min/max over the calibration
images), then every activation range is replaced by the one that minimizes the int8
quantization error of that tensor's values on the same images (clipping searched on a
histogram), and both versions are quantized and evaluated against the float model on the test
set. Prints one row per version and the tensors whose error fell most; the JSON keeps both.
"""

from absl import flags

from tflite_lite import _io, cli
from tflite_lite.report import format_table
from tflite_lite_scripts import _study_ranges as study

_RUN = flags.DEFINE_string("run", None, "A trained float run folder (model.keras, run.json).",
                           required=True)
_REPRESENTATIVE = flags.DEFINE_integer("representative_examples", 256, "Calibration images.",
                                       lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Write the rows and tensor ranges as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    result = study.compare_ranges(_RUN.value, _REPRESENTATIVE.value, _MAX_EVAL.value)
    print(format_table(result["rows"], study.COLUMNS))
    print(format_table(result["tensors"][:10], study.TENSOR_COLUMNS))
    if _JSON.value:
        _io.write_json(_JSON.value, result)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
