"""The training study behind `scripts/bench_train.py`: the same training settings for several
models, one row per model (params, MACs, images/s, minutes, test accuracy)."""

import dataclasses
import os

from tflite_lite import _io
from tflite_lite.architectures import get_model_config
from tflite_lite.training import train, versions

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
            "model": name, "params": record["params"], "macs": record["macs"],
            "train_images_per_second": record["train_images_per_second"],
            "epochs": record["epochs"], "minutes": record["wall_seconds"] / 60,
            "test_accuracy": record["test_accuracy"], "run_dir": config.output_dir,
        })
        _io.write_json(output_json, {"config": base_config.get_config(), "rows": rows,
                                     "versions": versions()})
    return rows
