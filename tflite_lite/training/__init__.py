"""Training stage: a registered model on a dataset, with everything recorded.

    record = train(TrainConfig(model="mobilenet_v2_035", epochs=10, output_dir="runs/m"))

- `config`: `TrainConfig` (validated; JSON and back) and `finetune_config`.
- `callbacks`: per-epoch checkpoints, throughput, the epoch log behind `history.json`.
- `transfer`: the frozen-backbone phase of transfer learning (`freeze_epochs`).
- `loop`: `train` (build or load, compress, distil, fit, resume after a kill, write the run
  folder), `load_run`.
"""

# First: TensorFlow loads quietly and with Keras 2 before tfmot imports it.
from tflite_lite import _lazy

# `config` loads without TensorFlow (scripts make their flags from it); the rest on first use.
__getattr__, __dir__, __all__ = _lazy.attach(__name__, {
    "config": ["LR_SCHEDULES", "OPTIMIZERS", "STRATEGIES", "TrainConfig", "finetune_config"],
    "callbacks": ["EpochCheckpoint", "EpochLog", "TrainingThroughput"],
    "loop": ["load_run", "train", "versions"],
})
