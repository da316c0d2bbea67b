"""Benchmark: trains several builders on one dataset and prints one table.

Usage:
  python scripts/bench_train.py --epochs 15 --output_dir runs/bench_train

Columns: params, MACs, training images/s, epochs, minutes, test accuracy. Writes the rows to
`--json` (default OUTPUT_DIR/bench_train.json) and each model's run folder under OUTPUT_DIR.
"""

import os

from absl import flags

from tflite_lite import cli
from tflite_lite.report import format_table
from tflite_lite.training import TrainConfig
from tflite_lite_scripts._bench_training import TRAINING_BENCHMARK_COLUMNS, benchmark_training

DEFAULT_MODELS = ["mobilenet_v1_050", "mobilenet_v2_035", "shufflenet_v1_g3_050",
                  "shufflenet_v2_x0_5", "squeezenet_1_0", "squeezenet_1_1"]

_MODELS = flags.DEFINE_list("models", DEFAULT_MODELS, "Registered model names.")
_DATASET = flags.DEFINE_string("dataset", TrainConfig.dataset, "Dataset name.")
_EPOCHS = flags.DEFINE_integer("epochs", 15, "Training epochs per model.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", TrainConfig.batch_size, "Batch size.",
                                   lower_bound=1)
_INPUT_SIZE = flags.DEFINE_integer("input_size", TrainConfig.input_size, "Input side (px).",
                                   lower_bound=28)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", TrainConfig.learning_rate,
                                    "Peak learning rate.", lower_bound=0.0)
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None,
                                           "Cap on training examples (quick runs).",
                                           lower_bound=1)
_MAX_EVAL_EXAMPLES = flags.DEFINE_integer("max_eval_examples", None,
                                          "Cap on validation and test examples each.",
                                          lower_bound=1)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_train", "Folder for the runs.")
_JSON = flags.DEFINE_string("json", None, "Rows as JSON (default OUTPUT_DIR/bench_train.json).")


def main(argv):
    cli.reject_extra_args(argv)
    config = TrainConfig(dataset=_DATASET.value, epochs=_EPOCHS.value,
                         batch_size=_BATCH_SIZE.value, input_size=_INPUT_SIZE.value,
                         learning_rate=_LEARNING_RATE.value,
                         max_train_examples=_MAX_TRAIN_EXAMPLES.value,
                         max_eval_examples=_MAX_EVAL_EXAMPLES.value,
                         output_dir=_OUTPUT_DIR.value, verbose=2)
    output_json = _JSON.value or os.path.join(_OUTPUT_DIR.value, "bench_train.json")
    rows = benchmark_training(_MODELS.value, config, output_json)
    print(format_table(rows, TRAINING_BENCHMARK_COLUMNS))
    print(f"rows written to {output_json}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
