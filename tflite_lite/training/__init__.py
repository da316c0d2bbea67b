"""Training stage: a registered model on a dataset, with everything recorded.

    record = train(TrainConfig(model="mobilenet_v2_035", epochs=10, output_dir="runs/m"))

- `config`: `TrainConfig` (validated; JSON and back) and `finetune_config`.
- `callbacks`: per-epoch checkpoints, throughput, the epoch log behind `history.json`.
- `transfer`: the frozen-backbone phase of transfer learning (`freeze_epochs`).
- `loop`: `train` (build or load, compress, distil, fit, resume after a kill, write the run
  folder), `load_run`.
"""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _keras  # noqa: F401,I001

from tflite_lite.training.callbacks import EpochCheckpoint, EpochLog, TrainingThroughput
from tflite_lite.training.config import (LR_SCHEDULES, OPTIMIZERS, TrainConfig,
                                         finetune_config)
from tflite_lite.training.loop import load_run, train, versions

__all__ = ["EpochCheckpoint", "EpochLog", "LR_SCHEDULES", "OPTIMIZERS", "TrainConfig",
           "TrainingThroughput", "finetune_config", "load_run", "train", "versions"]
