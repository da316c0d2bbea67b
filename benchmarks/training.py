"""Benchmark: trains several builders on one dataset and prints one table.

Usage:
  python -m benchmarks.training --epochs 15 --output_dir runs/bench_train

Columns: params, MACs, training images/s, epochs, minutes, test accuracy. Writes the rows to
`--json` (default OUTPUT_DIR/bench_train.json) and each model's run folder under OUTPUT_DIR.
"""

import dataclasses
import os

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.architectures import get_model_config
from tflite_lite.report import format_table
from tflite_lite.training import TrainConfig, train, versions

TRAINING_BENCHMARK_COLUMNS = (
    ("model", "model", "s"), ("params", "params", ",d"), ("macs", "MACs", ",d"),
    ("train_images_per_second", "train img/s", ".0f"), ("epochs", "epochs", "d"),
    ("minutes", "minutes", ".1f"), ("test_accuracy", "test acc", ".4f"),
)


def benchmark_training(model_names, base_config, output_json):
    """Trains each model with the same settings and records one row per model.

    Args:
      model_names: registered names.
      base_config: a `TrainConfig`; its `model` is replaced and each run goes to
        `<base_config.output_dir>/<model>`.
      output_json: where the rows are written (JSON, atomically) after every model.

    Returns:
      The rows: model, params, macs, train_images_per_second, epochs, minutes,
      test_accuracy and the run folder.
    """
    for name in model_names:
        get_model_config(name)  # fail on a bad name before training anything
    rows = []
    for name in model_names:
        config = dataclasses.replace(base_config, model=name,
                                     output_dir=os.path.join(base_config.output_dir, name))
        record = train(config)
        rows.append({
            "model": name, "params": record.params, "macs": record.macs,
            "train_images_per_second": record.train_images_per_second,
            "epochs": record.epochs, "minutes": record.wall_seconds / 60,
            "test_accuracy": record.test_accuracy, "run_dir": config.output_dir,
        })
        results_file.save(output_json, {"config": base_config.get_config(), "rows": rows,
                                        "versions": versions()})
    return rows


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
_JSON = flags.DEFINE_string("json", "benchmarks/results/training.json",
                            "Rows as JSON.")


def main(argv):
    cli.reject_extra_args(argv)
    config = TrainConfig(dataset=_DATASET.value, epochs=_EPOCHS.value,
                         batch_size=_BATCH_SIZE.value, input_size=_INPUT_SIZE.value,
                         learning_rate=_LEARNING_RATE.value,
                         max_train_examples=_MAX_TRAIN_EXAMPLES.value,
                         max_eval_examples=_MAX_EVAL_EXAMPLES.value,
                         output_dir=_OUTPUT_DIR.value, verbose=2)
    rows = benchmark_training(_MODELS.value, config, _JSON.value)
    print(format_table(rows, TRAINING_BENCHMARK_COLUMNS))


if __name__ == "__main__":
    cli.run(main)
