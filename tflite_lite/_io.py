"""Atomic artifact writes: write to a temporary file in the same folder, then rename."""

import contextlib
import csv
import json
import os
import re
import socket
import tempfile
import zipfile

from tflite_lite.errors import UserError

# Bytes 4-8 of every TFLite flatbuffer (its FlatBuffers file identifier).
TFLITE_FILE_IDENTIFIER = b"TFL3"


def _file_mode():
    """The mode a plain `open(path, "w")` would give a new file (0666 less the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _owner_tag():
    return f"{socket.gethostname()}-{os.getpid()}"


def _remove_stale_temporaries(folder, name):
    """Deletes temporaries of `name` left by killed processes of this host (their pid is gone)."""
    pattern = re.compile(re.escape(f".{name}.{socket.gethostname()}-") + r"(\d+)\.")
    for entry in os.listdir(folder):
        match = pattern.match(entry)
        if not match:
            continue
        try:
            os.kill(int(match.group(1)), 0)
        except ProcessLookupError:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(folder, entry))
        except OSError:
            pass  # alive, owned by another user


@contextlib.contextmanager
def atomic_path(path, suffix=""):
    """Yields a temporary path beside `path`; renames it onto `path` only if the block succeeds.

    A process killed inside the block leaves only a hidden temporary named after its host and
    pid; the next write of the same `path` deletes it.

    Args:
      path: the final file path.
      suffix: the ending the temporary file needs (Keras wants `.keras`). Defaults to "".
    """
    folder = os.path.dirname(os.path.abspath(path))
    name = os.path.basename(path)
    try:
        os.makedirs(folder, exist_ok=True)
        _remove_stale_temporaries(folder, name)
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.{_owner_tag()}.", suffix=".tmp" + suffix,
                                   dir=folder)
        os.close(fd)
    except OSError as error:
        raise UserError(f"cannot write {path}: {error.strerror}") from None
    try:
        yield tmp
        try:
            os.chmod(tmp, _file_mode())  # mkstemp creates files readable by their owner only
            os.replace(tmp, path)
        except OSError as error:
            raise UserError(f"cannot write {path}: {error.strerror}") from None
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_json(path, what):
    """The JSON document at `path`; a missing or unreadable file is one `UserError` line that
    says which `what` ("run record", "contract", ...) it is."""
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise UserError(f"{path}: no such {what}") from None
    except (OSError, ValueError) as error:
        raise UserError(f"{path}: unreadable {what} ({error})") from None


def write_json(path, data):
    """Writes `data` as indented JSON to `path` atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2, sort_keys=False)
            f.write("\n")


def save_keras_model(model, path):
    """Saves a Keras model to a `.keras` file atomically."""
    with atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp, overwrite=True)


def write_csv(path, rows, columns=None):
    """Writes dict rows as CSV to `path` atomically (columns: the keys of the first row)."""
    columns = columns or (list(rows[0]) if rows else [])
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            writer.writerows(rows)


def is_hdf5(path):
    """Whether `path` is an HDF5 file (a legacy `.h5` Keras model)."""
    try:
        with open(path, "rb") as f:
            return f.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def saved_keras_model_name(path):
    """The model name a `.keras` zip archive records (its top-level config), or None."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("config.json"))["config"]["name"])
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return None


def saved_keras_rescales_input(path):
    """Whether a `.keras` zip archive's first layer after its input is a Rescaling or
    Normalization layer (the model takes 0-255 pixels as they are)."""
    try:
        with zipfile.ZipFile(path) as archive:
            layers = json.loads(archive.read("config.json"))["config"]["layers"]
    except (OSError, KeyError, TypeError, ValueError, zipfile.BadZipFile):
        return False
    kinds = [layer.get("class_name") for layer in layers if isinstance(layer, dict)]
    kinds = [kind for kind in kinds if kind != "InputLayer"]
    return bool(kinds) and kinds[0] in ("Rescaling", "Normalization")


def saved_keras_version(path):
    """The Keras version that saved a `.keras` zip archive ("2.21.0", "3.15.1"), or None for
    another file."""
    try:
        with zipfile.ZipFile(path) as archive:
            return str(json.loads(archive.read("metadata.json")).get("keras_version"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return None
