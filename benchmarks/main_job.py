"""Runs the README's main job (`bash scripts/run.sh`, the Android demo's recipe) as a user
would and records what it gives: wall time, peak memory, and the run's own figures (float and
int8 accuracy, the test images they were measured on, sizes), read from its `pipeline.json`.

Usage:
  python -m benchmarks.main_job            # the short preset
  python -m benchmarks.main_job --preset full --json benchmarks/results/main_job_full.json
"""

import os
import subprocess
import time

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.errors import UserError
from tflite_lite.pipeline.report import load_pipeline_record
from tools.peak_memory import tree_rss_bytes

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RECIPE = "mobilenet_v1_050_fashion_camera"

_PRESET = flags.DEFINE_string("preset", "short", "The recipe's preset, as `scripts/run.sh` takes.")
_JSON = flags.DEFINE_string("json", "benchmarks/results/main_job.json",
                            "Where the record goes.")


def measure_main_job(preset):
    """Runs `bash scripts/run.sh --preset PRESET`; returns its record."""
    started = time.perf_counter()
    process = subprocess.Popen(["bash", "scripts/run.sh", "--preset", preset], cwd=REPO)
    peak = 0
    while process.poll() is None:
        peak = max(peak, tree_rss_bytes(os.getpid()))
        time.sleep(0.5)
    if process.returncode:
        raise UserError(f"scripts/run.sh failed (exit {process.returncode})")
    seconds = time.perf_counter() - started
    record = load_pipeline_record(os.path.join(REPO, "runs", f"{RECIPE}_{preset}"))
    artifacts = [{key: row.get(key) for key in (
        "file", "stage", "mode", "keras_accuracy", "tflite_accuracy", "agreement",
        "eval_examples", "size_bytes", "p50_ms")} for row in record["artifacts"]]
    return {"preset": preset, "wall_seconds": seconds, "peak_memory_bytes": peak,
            "train_minutes": record["summary"]["train_minutes"], "artifacts": artifacts}


def main(argv):
    cli.reject_extra_args(argv)
    record = measure_main_job(_PRESET.value)
    for row in record["artifacts"]:
        print(f"{row['file']}: TFLite {row['tflite_accuracy']:.4f} on {row['eval_examples']:,} "
              f"test images, {row['size_bytes']:,} bytes")
    print(f"{record['wall_seconds'] / 60:.1f} min, peak "
          f"{record['peak_memory_bytes'] / 2**30:.2f} GiB")
    results_file.save(_JSON.value, record)


if __name__ == "__main__":
    cli.run(main)
