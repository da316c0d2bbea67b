"""Trains a registered model on a dataset and records the run.

Usage:
  python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --epochs 10 \
      --batch_size 128 --input_size 32 --output_dir runs/mobilenet_v2_035

Quantization-aware training: add `--qat` (8-bit), or `--qat --weight_quantizer uniform
--weight_bits 4` / `ternary` / `binary` for low-bit weights. Fine-tune a trained float model with
`--init_from runs/m/model.keras --qat --epochs 2 --learning_rate 2e-4` (the model is read from
its run record). Your own model (Keras 3 or tf_keras, not built here) fine-tunes the same way
from its `.keras` file; say how it scales 0-255 pixels with `--input_range=0,1` (pixels / 255),
`--input_range=-1,1`, or `--input_mean` / `--input_std` unless a Rescaling or Normalization layer
at its input does. The run record keeps it, and `export.py` reads it from there.

Compression (fine-tune a trained run with --init_from): magnitude pruning
`--prune_final_sparsity 0.75 --prune_schedule polynomial`, 2:4 sparsity `--prune_m_by_n 2:4`,
channel pruning `--channel_prune_fraction 0.5 --channel_prune_criterion l1` (or
`--channel_prune_target_macs 0.5`), weight clustering `--clusters 16`, low-rank SVD
`--low_rank_energy 0.9`. Then QAT that keeps the zeros or clusters: `--init_from PRUNED/model.keras
--qat --qat_preserve sparsity` (or clusters).

Distillation: `--teacher runs/t/model.keras --temperature 4 --alpha 0.5` (optionally
`--final_temperature`, `--final_alpha`, `--cache_teacher_logits`); combines with `--qat` and
pruning.

Several machines: run the same command on each with `--strategy multi_worker` and its own
TF_CONFIG (see the README); `--strategy mirrored` uses every local GPU.

Writes DIR/model.keras, DIR/checkpoints/, DIR/history.json, DIR's run record (config, class
names, preprocessing, measured test accuracy) and TensorBoard logs in DIR/logs/. A killed run
resumes from its last finished epoch when the same command runs again.
Models: see `--model=list`.
"""

from absl import flags

from tflite_lite import cli, compression, training
from tflite_lite.training import LR_SCHEDULES, OPTIMIZERS, STRATEGIES, TrainConfig

# Every flag but these two comes from a config class: its name, type, default and help.
_MODEL = flags.DEFINE_string("model", None, f"Registered model name, or `list` (default "
                             f"{TrainConfig.model}, or the --init_from run's).")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder (default runs/<model>, with "
                                  "_qat, _pruned, _channels, ... for what the run does).")
_TRAINING = cli.ConfigFlags(
    TrainConfig, skip=("model", "output_dir"), auto=("channels", "small_input", "verbose"),
    choices={"channels": (1, 3), "verbose": (0, 1, 2), "optimizer": OPTIMIZERS,
             "lr_schedule": LR_SCHEDULES, "weight_quantizer": list(compression.WEIGHT_QUANTIZERS),
             "qat_preserve": compression.PRESERVE, "strategy": STRATEGIES},
    item_types={"input_range": float, "input_mean": float, "input_std": float})
_NESTED = {
    "pruning": cli.ConfigFlags(compression.PruningConfig, prefix="prune_",
                               choices={"schedule": compression.SCHEDULES},
                               when=("final_sparsity", "m_by_n")),
    "channel_pruning": cli.ConfigFlags(compression.ChannelPruningConfig, prefix="channel_prune_",
                                       names={"target_macs_ratio": "channel_prune_target_macs"},
                                       choices={"criterion": compression.CRITERIA},
                                       when=("fraction", "target_macs_ratio")),
    "clustering": cli.ConfigFlags(compression.ClusteringConfig, prefix="cluster_",
                                  names={"number_of_clusters": "clusters"},
                                  choices={"init": compression.INITIALIZATIONS},
                                  when=("number_of_clusters",)),
    "low_rank": cli.ConfigFlags(compression.LowRankConfig, prefix="low_rank_",
                                when=("energy", "rank")),
    "distillation": cli.ConfigFlags(compression.DistillationConfig, when=("teacher",)),
}

_RUN_SUFFIXES = (("distillation", "_distilled"), ("channel_pruning", "_channels"),
                 ("low_rank", "_low_rank"),
                 ("pruning", "_pruned"), ("clustering", "_clustered"), ("qat", "_qat"))


def main(argv):
    cli.reject_extra_args(argv)
    if _MODEL.value == "list":
        from tflite_lite.architectures import list_models  # noqa: PLC0415  (TensorFlow)

        print("\n".join(list_models()))
        return
    settings = _TRAINING.values()
    nested = {key: group.build() for key, group in _NESTED.items()}
    config = TrainConfig(
        model=_MODEL.value or (None if settings["init_from"] else TrainConfig.model),
        output_dir=_OUTPUT_DIR.value or "", **settings,
        **{key: value for key, value in nested.items() if value is not None})
    if not config.output_dir:
        suffixes = [suffix for key, suffix in _RUN_SUFFIXES if getattr(config, key)]
        config.output_dir = f"runs/{config.model}{''.join(suffixes)}"
    record = training.train(config)
    print(f"{record['model']} on {record['dataset']}: test accuracy {record['test_accuracy']:.4f} "
          f"on {record['num_examples']['test']:,} images ({record['epochs']} epochs, "
          f"{record['wall_seconds'] / 60:.1f} min) → {record['output_dir']}/model.keras")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
