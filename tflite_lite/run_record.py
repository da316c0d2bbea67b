"""A training run's record, `run.json`, beside its `model.keras`: the one module that reads and
writes it. Training writes it; export, fine-tuning, the pipeline and the studies read it.

    record = RunRecord.beside("runs/a/model.keras")  # {} when the file has none
    record.model, record.dataset, record.class_names, record.preprocessing, record.config

A record is the JSON dict itself (every key `train` wrote, readable with `[]` and `.get`),
with properties for the fields every reader uses. A pipeline's own record is `pipeline.json`.
"""

import json
import os

from tflite_lite import _io
from tflite_lite.errors import UserError

FILE = "run.json"


class RunRecord(dict):
    """The JSON record of one training run folder (see the module docstring)."""

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
        try:
            with open(path) as f:
                return cls(json.load(f))
        except (OSError, ValueError) as error:
            raise UserError(f"{path}: unreadable run record ({error})") from None

    @classmethod
    def beside(cls, model_path):
        """The record of the run folder that holds `model_path` (empty if there is none)."""
        return cls.load(os.path.dirname(os.path.abspath(model_path)))

    def save(self, run_dir):
        """Writes the record to `run_dir/run.json` atomically."""
        _io.write_json(os.path.join(run_dir, FILE), dict(self))

    @property
    def model(self):
        """The registered model name, or None."""
        return self.get("model")

    @property
    def dataset(self):
        return self.get("dataset")

    @property
    def config(self):
        """The run's `TrainConfig` as JSON data ({} for a record without one)."""
        return self.get("config") or {}

    @property
    def class_names(self):
        return self.get("class_names")

    @property
    def preprocessing(self):
        """The `Preprocessing` the model was trained with, or None."""
        if "preprocessing" not in self:
            return None
        from tflite_lite.data import Preprocessing

        return Preprocessing.from_config(self["preprocessing"])

    @property
    def test_accuracy(self):
        return self.get("test_accuracy")


HISTORY_FILE = "history.json"


def load_history(run_dir):
    """The run's per-epoch metrics, `history.json` ({metric: [one value per epoch]}); {} when
    it has none.

    Raises:
      UserError: an unreadable file.
    """
    path = os.path.join(run_dir, HISTORY_FILE)
    if not os.path.isfile(path):
        return {}
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: unreadable history ({error})") from None


def save_history(run_dir, history):
    """Writes `history.json` into `run_dir` atomically."""
    _io.write_json(os.path.join(run_dir, HISTORY_FILE), history)
