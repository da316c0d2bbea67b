"""The callbacks every training run uses: per-epoch checkpoints, training throughput, and the
epoch log that keeps `history.json` current across a resume."""

import math
import os
import time

from tflite_lite import _io
from tflite_lite._keras import keras
from tflite_lite.run_record import load_history, save_history

class EpochCheckpoint(keras.callbacks.Callback):
    """Saves `epoch_NNN.keras` atomically after every epoch and keeps only the newest few.

    `model` is what is saved (e.g. a `Distiller`'s student); None saves the model `fit()` trains.
    """

    def __init__(self, folder, keep=2, model=None):
        super().__init__()
        self.folder = folder
        self.keep = keep
        self.saved_model = model

    def on_epoch_end(self, epoch, logs=None):
        if not math.isfinite((logs or {}).get("loss", 0.0)):
            return  # a diverged epoch is no checkpoint
        _io.save_keras_model(self.saved_model or self.model,
                             os.path.join(self.folder, f"epoch_{epoch + 1:03d}.keras"))
        saved = sorted(f for f in os.listdir(self.folder) if f.startswith("epoch_"))
        for old in saved[:-self.keep]:
            os.remove(os.path.join(self.folder, old))


class TrainingThroughput(keras.callbacks.Callback):
    """Records each epoch's training time (validation excluded) as `train_seconds`."""

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._seconds = None

    def on_test_begin(self, logs=None):
        if self._seconds is None:  # the validation pass at the end of an epoch
            self._seconds = time.perf_counter() - self._start

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["train_seconds"] = self._seconds or time.perf_counter() - self._start


class EpochLog(keras.callbacks.Callback):
    """Rewrites the run folder's `history.json` after every epoch. When `fit()` resumes at epoch k (from
    `BackupAndRestore`), the first k rows of the earlier file are kept, so `rows` ends as the
    history of the whole run. List it before `BackupAndRestore`: the rows are then never
    behind the backup."""

    def __init__(self, run_dir):
        super().__init__()
        self.run_dir = run_dir
        self.rows = None
        self.resumed_from_epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        if self.rows is None:
            self.resumed_from_epoch = epoch
            earlier = load_history(self.run_dir) if epoch else {}
            self.rows = {key: values[:epoch] for key, values in earlier.items()}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.rows.setdefault(key, []).append(float(value))
        save_history(self.run_dir, self.rows)
