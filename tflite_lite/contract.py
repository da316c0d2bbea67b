"""The contract of an exported model, `<stem>.json` beside its `<stem>.tflite`: the one module
that finds, reads and writes it. Export writes it; apps, the benchmark, the Android bundle,
the zoo and the reports read it.

    contract = Contract.beside("runs/a/model_int8.tflite")   # UserError if it is missing
    contract["output"]["dtype"], contract.mode, contract.evaluation
    contract.rebase("runs/a", "models/a").save("models/a/model_int8.json")

A contract is its JSON document (every key export wrote, readable with `[]` and `.get`), as an
app reads it too; its format string is checked on load. File paths inside it
(`source_model`, `export_config.model_path` / `output`) are relative to the contract's own
folder, so no machine's folders leak into a model that is shipped; `rebase` keeps them so when
the contract moves.
"""

import json
import os

from tflite_lite import _io
from tflite_lite.errors import UserError

FORMAT = "tflite_lite.contract/1"
LABELS_FILE = "labels.txt"
_PATH_FIELDS = ("model_path", "output")  # of `export_config`


class Contract(dict):
    """An exported model's contract (see the module docstring)."""

    @staticmethod
    def path_beside(model_path):
        """Where the contract of the `.tflite` at `model_path` lives: `<stem>.json`."""
        return os.path.splitext(os.fspath(model_path))[0] + ".json"

    @classmethod
    def load(cls, path):
        """The contract at `path`.

        Raises:
          UserError: a missing or unreadable file, or one that is not a contract.
        """
        data = _io.read_json(path, "contract")
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise UserError(f"{path}: not a {FORMAT} contract")
        return cls(data)

    @classmethod
    def beside(cls, model_path, required=True):
        """The contract of the `.tflite` at `model_path`; None when it has none and not
        `required`.

        Raises:
          UserError: a missing contract when `required`, or an unreadable one.
        """
        path = cls.path_beside(model_path)
        if not os.path.isfile(path):
            if required:
                raise UserError(f"{model_path}: no contract ({os.path.basename(path)}) beside "
                                "it; export the model with scripts/export.py")
            return None
        return cls.load(path)

    @classmethod
    def all_in(cls, folder):
        """The contracts among the `.json` files of `folder`, by file name; other JSON files
        (a run record, a benchmark record) are passed over."""
        contracts = []
        for name in sorted(os.listdir(folder)):
            path = os.path.join(folder, name)
            if name.endswith(".json") and os.path.isfile(path):
                try:
                    contracts.append(cls.load(path))
                except UserError:
                    continue
        return contracts

    @classmethod
    def from_json(cls, text):
        """A contract from JSON text (the runtime part a flatbuffer embeds)."""
        return cls(json.loads(text))

    def save(self, path):
        """Writes the contract to `path` atomically; returns `path`."""
        _io.write_json(path, dict(self))
        return path

    def save_beside(self, model_path):
        """Writes the contract beside the `.tflite` at `model_path`; returns its path."""
        return self.save(self.path_beside(model_path))

    def rebase(self, old_folder, new_folder):
        """A copy whose file paths, relative to `old_folder` (or absolute, as older contracts
        wrote them), are made relative to `new_folder`, where the contract is going."""

        def move(path):
            if path is None:
                return None
            return os.path.relpath(os.path.abspath(os.path.join(old_folder, path)),
                                   os.path.abspath(new_folder))

        moved = Contract(self, source_model=move(self.get("source_model")))
        if self.get("export_config"):
            moved["export_config"] = dict(self["export_config"], **{
                key: move(self["export_config"].get(key)) for key in _PATH_FIELDS})
        return moved

    @property
    def mode(self):
        return self.get("mode")

    @property
    def evaluation(self):
        """Keras vs TFLite accuracy and agreement as measured at export, or None."""
        return self.get("evaluation")

    @property
    def dataset(self):
        """The dataset the evaluation was measured on, or None."""
        return (self.get("evaluation") or {}).get("dataset")
