"""Benchmarks pruning, 2:4 sparsity, channel pruning, clustering and SVD on one trained run.

Usage:
  python -m benchmarks.compression --float_run runs/bench_train/mobilenet_v2_035 \
      --epochs 2 --output_dir runs/bench_compression --json runs/bench_compression/bench.json

Each variant fine-tunes the float run (`--epochs`), is exported to int8 with an evaluation on
the test set, and all `.tflite` files are timed together (1 thread, interleaved). Prints one
table: int8 accuracy and its change vs the dense int8 model, share of zero weights, size raw
and gzip, MACs, parameters and p50 latency. `--variants` picks a subset (names as printed).
"""

import os

from absl import flags

from benchmarks import results_file
from tflite_lite import cli
from tflite_lite.benchmark.host import BenchmarkConfig, benchmark_host
from tflite_lite.compression import (
    CRITERIA,
    ChannelPruningConfig,
    ClusteringConfig,
    LowRankConfig,
    PruningConfig,
)
from tflite_lite.convert.export_files import ExportConfig, export_model
from tflite_lite.errors import UserError
from tflite_lite.report import format_table
from tflite_lite.run_record import RunRecord
from tflite_lite.training import finetune_config, train

COLUMNS = (
    ("variant", "variant", "s"), ("accuracy", "int8 acc", ".4f"), ("delta_pp", "Δpp", "+.2f"),
    ("sparsity", "zeros", ".0%"), ("size_kb", ".tflite KB", ".1f"), ("gzip_kb", "gzip KB", ".1f"),
    ("gzip_ratio", "gzip ÷ dense", ".2f"), ("macs", "MACs", ",d"), ("params", "params", ",d"),
    ("p50_ms", "p50 ms", ".3f"), ("latency_ratio", "ms ÷ dense", ".2f"),
)


def variants(channel_criterion="l1", channel_target_macs=0.5):
    """Variant name → (training overrides, or None to export the run it continues; export
    options; the variant whose run it continues, None for the dense run). A variant that
    continues another is a one-epoch follow-up (QAT or clustering of the pruned model)."""
    return {
        "dense": (None, {}, None),
        "sparse 50%": ({"pruning": PruningConfig(final_sparsity=0.5)}, {}, None),
        "sparse 75%": ({"pruning": PruningConfig(final_sparsity=0.75)}, {}, None),
        "sparse 90%": ({"pruning": PruningConfig(final_sparsity=0.9)}, {}, None),
        "sparse 75% (sparse format)": (None, {"sparse": True}, "sparse 75%"),
        "sparse 75% + PQAT": ({"qat": True, "qat_preserve": "sparsity"}, {}, "sparse 75%"),
        "sparse 75% + clustered 16": ({"clustering": ClusteringConfig(
            16, preserve_sparsity=True)}, {}, "sparse 75%"),
        "2:4": ({"pruning": PruningConfig(m_by_n="2:4")}, {}, None),
        "channel": ({"channel_pruning": ChannelPruningConfig(
            criterion=channel_criterion, target_macs_ratio=channel_target_macs)}, {}, None),
        "clustered 16": ({"clustering": ClusteringConfig(16)}, {}, None),
        "clustered 32": ({"clustering": ClusteringConfig(32)}, {}, None),
        "clustered 16 + CQAT": ({"qat": True, "qat_preserve": "clusters"}, {}, "clustered 16"),
        "SVD 90%": ({"low_rank": LowRankConfig(energy=0.9)}, {}, None),
    }


def _folder(name):
    return "".join(c if c.isalnum() else "_" for c in name).strip("_")


def benchmark_compression(float_run, output_dir, epochs=2, learning_rate=5e-4, names=None,
                          channel_criterion="l1", channel_target_macs=0.5, channel_epochs=None,
                          num_runs=200, max_eval_examples=None, max_train_examples=None,
                          progress=print):
    """Fine-tunes, exports (int8) and measures each variant of one float run.

    Args:
      float_run: a `scripts/train.py` run folder (the dense model).
      output_dir: one sub-folder per variant.
      epochs: fine-tuning epochs per variant (a follow-up variant trains one). Defaults to 2.
      learning_rate: fine-tuning peak learning rate. Defaults to 5e-4.
      names: variant names to run (see `variants()`); None runs all. A variant that continues
        another brings it in. Defaults to None.
      channel_criterion / channel_target_macs: the channel-pruning variant's settings.
      channel_epochs: fine-tuning epochs for channel pruning. Defaults to `epochs`.
      num_runs: timed inferences per model. Defaults to 200.
      max_eval_examples: evaluate (fine-tuning runs and int8 exports) on the first N
        validation and test images. Defaults to None (all).
      max_train_examples: fine-tune on N training images (quick runs). Defaults to None.
      progress: called with a line after each variant. Defaults to print.

    Returns:
      One row per variant (see `COLUMNS`).
    """
    table = variants(channel_criterion, channel_target_macs)
    unknown = sorted(set(names or ()) - set(table))
    if unknown:
        raise UserError(f"unknown variant {unknown[0]!r}; choose from {', '.join(table)}")
    wanted = list(table) if not names else [n for n in table if n in names or any(
        table[m][2] == n for m in names)]
    wanted = ["dense"] + [n for n in wanted if n != "dense"]
    run_dirs, rows = {"dense": float_run}, []
    for name in wanted:
        overrides, export_options, parent = table[name]
        out = os.path.join(output_dir, _folder(name))
        run_dir = run_dirs[parent or "dense"]
        minutes = 0.0
        if overrides is not None:
            variant_epochs = (1 if parent else (channel_epochs or epochs) if name == "channel"
                              else epochs)
            record = train(finetune_config(run_dir, out, variant_epochs, learning_rate,
                                           max_train_examples=max_train_examples,
                                           max_eval_examples=max_eval_examples, **overrides))
            run_dir, minutes = out, record.wall_seconds / 60
        run_dirs[name] = run_dir
        contract = export_model(ExportConfig(
            model_path=os.path.join(run_dir, "model.keras"),
            output=os.path.join(out, "model_int8.tflite"), mode="int8", evaluate=True,
            max_eval_examples=max_eval_examples, **export_options))
        record = RunRecord.load(run_dir, required=True)
        weights = contract["weights"]
        rows.append({
            "variant": name, "accuracy": contract["evaluation"]["tflite_accuracy"],
            "keras_accuracy": contract["evaluation"]["keras_accuracy"],
            "agreement": contract["evaluation"]["agreement"],
            "sparsity": weights["sparsity"], "sparse_tensors": weights["sparse_tensors"],
            "effective_bits": weights["effective_bits"],
            "size_kb": contract["size_bytes"] / 1024, "gzip_kb": weights["gzip_bytes"] / 1024,
            "macs": record.macs, "params": record.params, "fine_tune_minutes": minutes,
            "file": os.path.join(out, "model_int8.tflite"),
        })
        progress(f"{name}: int8 accuracy {rows[-1]['accuracy']:.4f}, "
                 f"gzip {rows[-1]['gzip_kb']:.1f} KB")
    timings = {r["model"]: r["p50_ms"] for r in benchmark_host(
        BenchmarkConfig(models=[row["file"] for row in rows], num_runs=num_runs))}
    dense = rows[0]
    for row in rows:
        row["p50_ms"] = timings[row["file"]]
        row["delta_pp"] = 100 * (row["accuracy"] - dense["accuracy"])
        row["gzip_ratio"] = row["gzip_kb"] / dense["gzip_kb"]
        row["latency_ratio"] = row["p50_ms"] / timings[dense["file"]]
    return rows


_FLOAT_RUN = flags.DEFINE_string("float_run", None, "Trained float run folder.", required=True)
_OUTPUT_DIR = flags.DEFINE_string("output_dir", "runs/bench_compression", "Where runs go.")
_VARIANTS = flags.DEFINE_list("variants", [], f"Subset of: {', '.join(variants())}.")
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
_JSON = flags.DEFINE_string("json", "benchmarks/results/compression.json",
                            "Write the rows as JSON here.")


def main(argv):
    cli.reject_extra_args(argv)
    rows = benchmark_compression(
        _FLOAT_RUN.value, _OUTPUT_DIR.value, _EPOCHS.value, _LEARNING_RATE.value,
        _VARIANTS.value, _CRITERION.value, _TARGET_MACS.value, _CHANNEL_EPOCHS.value,
        _NUM_RUNS.value, _MAX_EVAL.value, _MAX_TRAIN.value)
    print(format_table(rows, COLUMNS))
    if _JSON.value:
        results_file.save(_JSON.value, {"float_run": _FLOAT_RUN.value, "rows": rows})


if __name__ == "__main__":
    cli.run(main)
