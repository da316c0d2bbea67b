"""Benchmarks pruning, 2:4 sparsity, channel pruning, clustering and SVD on one trained run.

Usage:
  python scripts/bench_compression.py --float_run runs/bench_train/mobilenet_v2_035 \
      --epochs 2 --output_dir runs/bench_compression --json runs/bench_compression/bench.json

Each variant fine-tunes the float run (`--epochs`), is exported to int8 with an evaluation on
the test set, and all `.tflite` files are timed together (1 thread, interleaved). Prints one
table: int8 accuracy and its change vs the dense int8 model, share of zero weights, size raw
and gzip, MACs, parameters and p50 latency. `--variants` picks a subset (names as printed).
"""

from absl import flags

from tflite_lite import _io, cli
from tflite_lite_scripts import _bench_compression as bench
from tflite_lite.compression import CRITERIA
from tflite_lite.report import format_table

_FLOAT_RUN = flags.DEFINE_string("float_run", None, "Trained float run folder.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_compression", "Where runs go.")
_VARIANTS = flags.DEFINE_list("variants", [], f"Subset of: {', '.join(bench.variants())}.")
_EPOCHS = flags.DEFINE_integer("epochs", 2, "Fine-tuning epochs per variant.", lower_bound=1)
_CHANNEL_EPOCHS = flags.DEFINE_integer("channel_epochs", None,
                                       "Fine-tuning epochs for channel pruning.", lower_bound=1)
_LEARNING_RATE = flags.DEFINE_float("learning_rate", 5e-4, "Fine-tuning learning rate.",
                                    lower_bound=0.0)
_CRITERION = flags.DEFINE_enum("channel_criterion", "l1", CRITERIA, "Channel ranking.")
_TARGET_MACS = flags.DEFINE_float("channel_target_macs", 0.5,
                                  "Channel pruning keeps at most this share of the MACs.")
_NUM_RUNS = flags.DEFINE_integer("num_runs", 200, "Timed inferences per model.", lower_bound=1)
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N images only.",
                                 lower_bound=1)
_MAX_TRAIN = flags.DEFINE_integer("max_train_examples", None,
                                  "Fine-tune on N training images (quick runs).", lower_bound=1)
_JSON = flags.DEFINE_string("json", None, "Write the rows as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    rows = bench.benchmark_compression(
        _FLOAT_RUN.value, _OUTPUT_DIR.value, _EPOCHS.value, _LEARNING_RATE.value,
        _VARIANTS.value, _CRITERION.value, _TARGET_MACS.value, _CHANNEL_EPOCHS.value,
        _NUM_RUNS.value, _MAX_EVAL.value, _MAX_TRAIN.value)
    print(format_table(rows, bench.COLUMNS))
    if _JSON.value:
        _io.write_json(_JSON.value, {"float_run": _FLOAT_RUN.value, "rows": rows})


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
