"""Writing artifacts as the package does, for the commands, benchmarks and tools built on it:
each file is written to a temporary file beside it and renamed into place, so a killed writer
leaves no half-written file; a JSON file that cannot be read is one error line.

    artifacts.write_json("runs/a/profile.json", {"params": 1234})
    with artifacts.atomic_path("runs/a/plot.png", suffix=".png") as tmp:
        figure.savefig(tmp)
"""

from tflite_lite._io import atomic_path, read_json, write_csv, write_json

__all__ = ["atomic_path", "read_json", "write_csv", "write_json"]
