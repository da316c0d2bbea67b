"""Benchmarks quantization: float vs PTQ int8 vs QAT int8, low-bit weights, QAT step cost.

Usage:
  python scripts/bench_quantization.py --float_runs runs/a/mobilenet_v2_035,runs/b/squeezenet_1_1 \
      --low_bit_run runs/a/mobilenet_v2_035 --output_dir runs/bench_quant \
      --json runs/bench_quant/bench_quantization.json

Each float run (a `scripts/train.py` folder) is exported with PTQ int8 and QAT-fine-tuned for
`--qat_epochs`, then exported in int8; the three `.tflite` files are timed together. The low-bit
run is QAT-fine-tuned once per weight quantizer (8 / 4 / 2-bit, ternary, binary). The step-cost
part times float vs QAT training steps of `--step_model` at 32x32x1, batch 128.
Every part is optional: leave its flag empty to skip it.
"""

from absl import flags

from tflite_lite import _io, cli
from tflite_lite_scripts import _bench_quantization as bench
from tflite_lite.report import format_table

_FLOAT_RUNS = flags.DEFINE_list("float_runs", [], "Trained float run folders.")
_LOW_BIT_RUN = flags.DEFINE_string("low_bit_run", None, "Float run for the low-bit sweep.")
_STEP_MODEL = flags.DEFINE_string("step_model", "mobilenet_v2_100",
                                  "Model for the QAT step-cost measurement ('' to skip).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_quant", "Where runs go.")
_QAT_EPOCHS = flags.DEFINE_integer("qat_epochs", 1, "QAT fine-tuning epochs.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 2e-4, "QAT fine-tuning learning rate.",
                                    lower_bound=0.0)
_NUM_RUNS = flags.DEFINE_integer("num_runs", 100, "Timed inferences per model.", lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Write every table as JSON here.")


def _save(results):
    if _JSON.value:
        _io.write_json(_JSON.value, results)


def main(argv):
    cli.reject_extra_args(argv)
    results = {}
    if _STEP_MODEL.value:
        results["qat_step"] = bench.benchmark_qat_step(_STEP_MODEL.value)
        print(format_table(results["qat_step"], bench.STEP_COLUMNS), flush=True)
        _save(results)
    if _FLOAT_RUNS.value:
        results["qat"] = bench.benchmark_qat(_FLOAT_RUNS.value, f"{_OUTPUT_DIR.value}/qat",
                                             _QAT_EPOCHS.value, _LEARNING_RATE.value,
                                             _NUM_RUNS.value, _MAX_EVAL.value)
        print(format_table(results["qat"], bench.QAT_COLUMNS), flush=True)
        _save(results)
    if _LOW_BIT_RUN.value:
        results["low_bit"] = bench.benchmark_low_bit(
            _LOW_BIT_RUN.value, f"{_OUTPUT_DIR.value}/low_bit", _QAT_EPOCHS.value,
            _LEARNING_RATE.value, _MAX_EVAL.value)
        print(format_table(results["low_bit"], bench.LOW_BIT_COLUMNS), flush=True)
        _save(results)


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
