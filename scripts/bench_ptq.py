"""Benchmarks post-training quantization steps: plain int8, each step, all steps, per-tensor.

Usage:
  python scripts/bench_ptq.py --runs runs/mobilenet_v2_100,runs/squeezenet_1_1 \\
      --json runs/bench_ptq/bench_ptq.json

Each trained run (a `scripts/train.py` folder) is exported once per variant
(`_bench_ptq.VARIANTS`: no step, cle, bias_correction, both; per-tensor weights without and
with them; the ceilings "dynamic" and "int16x8", int8 weights with float or int16
activations; and "qat", the run fine-tuned with QAT for `--qat_epochs`, for reference) and
evaluated against its float Keras model on the test set: int8 accuracy, the gap to float in
points, top-1 agreement, disagreements and how many of them are ties, the export's wall time
without evaluation, and how often the float model after the steps (CLE turns ReLU6 into ReLU)
keeps the original's top-1 class on the calibration images. Prints the table.
"""

from absl import flags

from tflite_lite import _io, cli
from tflite_lite.errors import UserError
from tflite_lite.report import format_table
from tflite_lite_scripts import _bench_ptq as bench

_RUNS = flags.DEFINE_list("runs", None, "Trained float run folders (model.keras and run.json).",
                          required=True)
_VARIANTS = flags.DEFINE_list("variants", [variant[0] for variant in bench.VARIANTS],
                              "Variants to run (default: all).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_ptq", "Where exports go.")
_REPRESENTATIVE = flags.DEFINE_integer("representative_examples", 256, "Calibration images.",
                                       lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 1, "QAT fine-tuning epochs of the qat variant.",
                                   lower_bound=1)
_QAT_LEARNING_RATE = flags.DEFINE_float("qat_learning_rate", 2e-4,
                                        "QAT fine-tuning learning rate.", lower_bound=0)
_JSON = flags.DEFINE_string("json", None, "Write the rows as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    known = {variant[0]: variant for variant in bench.VARIANTS}
    unknown = [name for name in _VARIANTS.value if name not in known]
    if unknown:
        raise UserError(f"unknown variant(s) {', '.join(unknown)}; choose from "
                            f"{', '.join(known)}")
    rows = []
    for run_dir in _RUNS.value:
        rows += bench.benchmark_ptq([run_dir], _OUTPUT_DIR.value,
                                    [known[name] for name in _VARIANTS.value], _MAX_EVAL.value,
                                    _REPRESENTATIVE.value, _QAT_EPOCHS.value,
                                    _QAT_LEARNING_RATE.value)
        print(format_table(rows, bench.COLUMNS), flush=True)
        if _JSON.value:
            _io.write_json(_JSON.value, {"rows": rows})


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
