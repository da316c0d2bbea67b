"""A training run's record, `run.json`, beside its `model.keras`, and its per-epoch history,
`history.json`: the one module that reads and writes them. Training writes them; export,
fine-tuning, the pipeline and the benchmarks read them.

    record = RunRecord.beside("runs/a/model.keras")   # an empty record when there is none
    record.model, record.dataset, record.class_names, record.test_accuracy, record.config
    record.input_preprocessing                         # the `Preprocessing` it trained with

`RunRecord` is typed: `train()` fills its fields and readers use them as attributes. A record
also reads by its JSON key (`record["test_accuracy"]`, `record.get("compression")`), which keys
written by an older or newer version of the package keep working with. A pipeline's own
record is `pipeline.json` (`pipeline.report`).
"""

import dataclasses
import os

from tflite_lite import _io
from tflite_lite.errors import UserError

FILE = "run.json"
HISTORY_FILE = "history.json"


@dataclasses.dataclass
class RunRecord:
    """What one training run was and what it measured.

    Attributes:
      model: the registered model name.
      dataset: the dataset name; `dataset_source` where its files came from.
      test_accuracy: Keras top-1 accuracy on `test_examples` test images; `test_loss` beside.
      best_val_accuracy: the best validation accuracy of any epoch, on `validation_examples`.
      epochs: epochs trained (a resumed run counts them all).
      class_names: one per output, in output order; `nothing_class` the index of the
        "nothing" class, if any.
      preprocessing: the `Preprocessing` config (input shape, resize, mean, std).
      input_shape: the model's input (H, W, C); `num_examples` per split.
      params: parameters and `macs` per image (the builder's count); `keras_params` as Keras
        counts them.
      train_seconds: time in `fit()`; `train_images_per_second` at a steady epoch;
        `wall_seconds` for the whole run.
      quantization: the `QATConfig` of a QAT run, else None.
      init_from: the model this run fine-tuned, as an absolute path, else None.
      pretrained: which pretrained weights were loaded, else None.
      compression: what pruning, clustering, low rank or channel pruning did, else None.
      distillation: the teacher and its settings, else None.
      distribution: the strategy, workers, this worker's index and the replicas.
      resumed_from_epoch: the epoch a killed run resumed at (0 for an uninterrupted one).
      output_dir: the run folder.
      config: the run's `TrainConfig` as JSON data; `model_config` the builder's.
      artifacts: the run folder's files by kind.
      versions: the packages it ran with; `created` when it finished.
    """

    model: str = None
    dataset: str = None
    dataset_source: str = None
    test_accuracy: float = None
    test_loss: float = None
    test_examples: int = None
    best_val_accuracy: float = None
    validation_examples: int = None
    epochs: int = None
    class_names: list = None
    nothing_class: int = None
    preprocessing: dict = None
    input_shape: list = None
    num_examples: dict = None
    params: int = None
    macs: int = None
    keras_params: int = None
    train_seconds: float = None
    train_images_per_second: float = None
    wall_seconds: float = None
    quantization: dict = None
    init_from: str = None
    pretrained: dict = None
    compression: dict = None
    distillation: dict = None
    distribution: dict = None
    resumed_from_epoch: int = None
    output_dir: str = None
    config: dict = dataclasses.field(default_factory=dict)
    model_config: dict = None
    artifacts: dict = None
    versions: dict = None
    created: str = None
    # Keys of the JSON that are not fields (a record of another version); saved back as read.
    others: dict = dataclasses.field(default_factory=dict, repr=False)

    @classmethod
    def from_json(cls, data):
        """The record of a `run.json` document."""
        names = {field.name for field in dataclasses.fields(cls)} - {"others"}
        known = {key: value for key, value in data.items() if key in names}
        record = cls(**known, others={k: v for k, v in data.items() if k not in names})
        record.config = record.config or {}
        return record

    def to_json(self):
        """The `run.json` document."""
        data = {field.name: getattr(self, field.name) for field in dataclasses.fields(self)
                if field.name != "others"}
        return dict(data, **self.others)

    @classmethod
    def load(cls, run_dir, required=False):
        """The record of `run_dir`; an empty one if it has none, unless `required`.

        Raises:
          UserError: an unreadable record, or a missing one when `required`.
        """
        path = os.path.join(run_dir, FILE)
        if not os.path.isfile(path):
            if required:
                raise UserError(f"not a training run folder: {path} is missing")
            return cls()
        data = _io.read_json(path, "run record")
        if not isinstance(data, dict):
            raise UserError(f"{path}: unreadable run record (not a JSON object)")
        return cls.from_json(data)

    @classmethod
    def beside(cls, model_path):
        """The record of the run folder that holds `model_path` (empty if there is none)."""
        return cls.load(os.path.dirname(os.path.abspath(model_path)))

    def save(self, run_dir):
        """Writes the record to `run_dir/run.json` atomically."""
        _io.write_json(os.path.join(run_dir, FILE), self.to_json())

    def __bool__(self):
        """False for the empty record of a folder without one."""
        return self != RunRecord()

    def __getitem__(self, key):
        """The value of a JSON key (`record["test_accuracy"]`)."""
        data = self.to_json()
        if key not in data:
            raise KeyError(key)
        return data[key]

    def get(self, key, default=None):
        """The value of a JSON key, or `default` when it is missing or None."""
        value = self.to_json().get(key)
        return default if value is None else value

    @property
    def restructured(self):
        """Whether the run changed the builder's structure (channel pruning, low rank)."""
        return bool((self.compression or {}).get("restructured"))

    @property
    def input_preprocessing(self):
        """The `Preprocessing` the model was trained with, or None."""
        if self.preprocessing is None:
            return None
        from tflite_lite.data import Preprocessing  # noqa: PLC0415  (TensorFlow)

        return Preprocessing.from_config(self.preprocessing)


def load_history(run_dir):
    """The run's per-epoch metrics, `history.json` ({metric: [one value per epoch]}); {} when
    it has none.

    Raises:
      UserError: an unreadable file.
    """
    path = os.path.join(run_dir, HISTORY_FILE)
    return _io.read_json(path, "history") if os.path.isfile(path) else {}


def save_history(run_dir, history):
    """Writes `history.json` into `run_dir` atomically."""
    _io.write_json(os.path.join(run_dir, HISTORY_FILE), history)
