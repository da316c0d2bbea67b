"""tflite_lite: image classifiers from Keras training to int8 TensorFlow Lite.

Stages, each a module or subpackage found by name: `data` → `architectures` → `training` →
`compression` (quantization, pruning, clustering, low rank, distillation) → `convert` (and
`android`, for the demo app) → `benchmark` → `report`; `pipeline` runs them all from a recipe.
Each file format has one owner: `contract` (an export's `<stem>.json`), `run_record` (a
training run's `run.json` and `history.json`), `benchmark.results` (`benchmark.json`) and
`pipeline.report` (`pipeline.json`). The benchmarks, studies and the fuzzer live outside the
package, in the repository's `benchmarks/` and `tools/`.

The everyday calls are here, loaded on first use: `create_model`, `list_models`,
`load_dataset`, `TrainConfig`, `train`, `quantize_model`, `prune_model`, `Distiller`, `export`
(a Keras 2 or Keras 3 model in memory or on disk → checked `.tflite`), `evaluate`,
`benchmark`, `run_pipeline`.

Importing tflite_lite is cheap: TensorFlow loads only when a stage that needs it is imported
(reading, inspecting and benchmarking a `.tflite` never does). When it loads, Keras 2
(`tf_keras`) is selected for TensorFlow, tfmot and this package alike; see
`tflite_lite._keras`.
"""

import os

from tflite_lite import _lazy
from tflite_lite.errors import UserError

# Before anything imports TensorFlow: tfmot needs Keras 2 as TensorFlow's Keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

__version__ = "0.1.0"

__getattr__, __dir__, _lazy_names = _lazy.attach(__name__, {
    "_keras": ["keras"],
    "architectures": ["create_model", "list_models"],
    "data": ["load_dataset"],
    "training": ["TrainConfig", "train"],
    "compression": ["quantize_model", "prune_model", "Distiller"],
    "convert.api": ["export", "evaluate"],
    "benchmark": ["benchmark"],
    "pipeline": ["run_pipeline"],
})
__all__ = ["UserError", "__version__", *_lazy_names]
