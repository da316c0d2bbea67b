"""Trains a registered model on a dataset and records the run.

Usage:
  python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --epochs 10 \
      --batch_size 128 --input_size 32 --output_dir runs/mobilenet_v2_035

Quantization-aware training: add `--qat` (8-bit), or `--qat --weight_quantizer uniform
--weight_bits 4` / `ternary` / `binary` for low-bit weights. Fine-tune a trained float model with
`--init_from runs/m/model.keras --qat --epochs 2 --learning_rate 2e-4` (the model is read from
its run.json).

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

Writes DIR/model.keras, DIR/checkpoints/, DIR/history.json, DIR/run.json (config, class
names, preprocessing, measured test accuracy) and TensorBoard logs in DIR/logs/. A killed run
resumes from its last finished epoch when the same command runs again.
Models: see `--model=list`.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite.architectures import list_models
from tflite_lite import distillation, pruning
from tflite_lite.distributed import STRATEGIES
from tflite_lite.quantization import PRESERVE, WEIGHT_QUANTIZERS
from tflite_lite.training import LR_SCHEDULES, OPTIMIZERS, TrainConfig, train

_D = TrainConfig  # defaults live on the config class, not here

_MODEL = flags.DEFINE_string("model", None, f"Registered model name, or `list` (default "
                             f"{_D.model}, or the --init_from run's).")
_DATASET = flags.DEFINE_string("dataset", _D.dataset,
                               "fashion_mnist, mnist, cifar10 or folder:PATH.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder (default runs/<model>, with "
                                  "_qat, _pruned, _channels, ... for what the run does).")
_INPUT_SIZE = flags.DEFINE_integer("input_size", _D.input_size, "Square input side (px).",
                                   lower_bound=28)
_CHANNELS = flags.DEFINE_enum("channels", "auto", ["auto", "1", "3"],
                              "Input channels; auto takes the dataset's own.")
_EPOCHS = flags.DEFINE_integer("epochs", _D.epochs, "Training epochs.", lower_bound=1)
_BATCH_SIZE = flags.DEFINE_integer("batch_size", _D.batch_size, "Batch size.", lower_bound=1)
_OPTIMIZER = flags.DEFINE_enum("optimizer", _D.optimizer, OPTIMIZERS, "Optimizer.")
_LEARNING_RATE = flags.DEFINE_float("learning_rate", _D.learning_rate, "Peak learning rate.",
                                    lower_bound=0.0)
_LR_SCHEDULE = flags.DEFINE_enum("lr_schedule", _D.lr_schedule, LR_SCHEDULES,
                                 "Learning-rate schedule.")
_WARMUP_EPOCHS = flags.DEFINE_float("warmup_epochs", _D.warmup_epochs,
                                    "Linear warm-up epochs (cosine).", lower_bound=0.0)
_WEIGHT_DECAY = flags.DEFINE_float("weight_decay", _D.weight_decay, "Decoupled weight decay.",
                                   lower_bound=0.0)
_AUGMENT = flags.DEFINE_list("augment", list(_D.augment),
                             "Augmentations: flip, translate, or none.")
_DROPOUT = flags.DEFINE_float("dropout", None, "Dropout before the classifier.",
                              lower_bound=0.0, upper_bound=0.99)
_SMALL_INPUT = flags.DEFINE_enum("small_input", "auto", ["auto", "true", "false"],
                                 "Small-input (stride 8) variant; auto: below 64 px.")
_VALIDATION_SPLIT = flags.DEFINE_float("validation_split", _D.validation_split,
                                       "Held-out fraction of training data.",
                                       lower_bound=0.001, upper_bound=0.999)
_MAX_TRAIN_EXAMPLES = flags.DEFINE_integer("max_train_examples", None,
                                           "Cap on training examples (quick runs).",
                                           lower_bound=1)
_MAX_EVAL_EXAMPLES = flags.DEFINE_integer("max_eval_examples", None,
                                          "Cap on validation and test examples each (quick "
                                          "runs).", lower_bound=1)
_KEEP_CHECKPOINTS = flags.DEFINE_integer("keep_checkpoints", _D.keep_checkpoints,
                                         "Per-epoch checkpoints to keep.", lower_bound=1)
_SEED = flags.DEFINE_integer("seed", _D.seed, "Random seed.")
_INIT_FROM = flags.DEFINE_string("init_from", None,
                                 "Float .keras to fine-tune instead of fresh weights.")
_QAT = flags.DEFINE_bool("qat", False, "Quantization-aware training (tfmot fake quantization).")
_WEIGHT_QUANTIZER = flags.DEFINE_enum("weight_quantizer", _D.weight_quantizer,
                                      list(WEIGHT_QUANTIZERS), "QAT weight quantizer.")
_WEIGHT_BITS = flags.DEFINE_integer("weight_bits", _D.weight_bits,
                                    "Bits per weight for --weight_quantizer=uniform (2-8).")
_QAT_PRESERVE = flags.DEFINE_enum("qat_preserve", None, [p for p in PRESERVE if p],
                                  "With --qat: keep the init_from model's zeros or clusters.")
_P = pruning.PruningConfig
_PRUNE_FINAL = flags.DEFINE_float("prune_final_sparsity", None,
                                  "Magnitude pruning: final fraction of zero weights, [0, 1).")
_PRUNE_SCHEDULE = flags.DEFINE_enum("prune_schedule", _P.schedule, pruning.SCHEDULES,
                                    "Pruning schedule.")
_PRUNE_INITIAL = flags.DEFINE_float("prune_initial_sparsity", _P.initial_sparsity,
                                    "Polynomial schedule: sparsity at the begin step.")
_PRUNE_BEGIN = flags.DEFINE_integer("prune_begin_step", _P.begin_step, "First pruning step.")
_PRUNE_END = flags.DEFINE_integer("prune_end_step", None,
                                  "Last step that raises sparsity (default 2/3 of training).")
_PRUNE_FREQUENCY = flags.DEFINE_integer("prune_frequency", _P.frequency,
                                        "Prune every N steps.")
_PRUNE_M_BY_N = flags.DEFINE_string("prune_m_by_n", None,
                                    "Structured m:n sparsity, e.g. 2:4 (Conv2D and Dense).")
_C = pruning.ChannelPruningConfig
_CHANNEL_FRACTION = flags.DEFINE_float("channel_prune_fraction", None,
                                       "Channel pruning: fraction of free channels to remove.")
_CHANNEL_TARGET = flags.DEFINE_float("channel_prune_target_macs", None,
                                     "Channel pruning: keep at most this share of the MACs.")
_CHANNEL_CRITERION = flags.DEFINE_enum("channel_prune_criterion", _C.criterion, pruning.CRITERIA,
                                       "Channel ranking.")
_CLUSTERS = flags.DEFINE_integer("clusters", None, "Weight clustering: centroids per kernel.")
_CLUSTER_INIT = flags.DEFINE_enum("cluster_init", pruning.ClusteringConfig.init,
                                  pruning.INITIALIZATIONS, "Centroid initialization.")
_CLUSTER_SPARSE = flags.DEFINE_bool("cluster_preserve_sparsity", False,
                                    "Clustering: keep zero weights at zero.")
_LOW_RANK_ENERGY = flags.DEFINE_float("low_rank_energy", None,
                                      "SVD: keep this share of singular-value energy.")
_LOW_RANK_RANK = flags.DEFINE_integer("low_rank_rank", None, "SVD: a fixed rank instead.")
_DC = distillation.DistillationConfig
_TEACHER = flags.DEFINE_string("teacher", None, "Distillation: the teacher's .keras file.")
_TEMPERATURE = flags.DEFINE_float("temperature", _DC.temperature, "Distillation: softmax T.")
_ALPHA = flags.DEFINE_float("alpha", _DC.alpha,
                            "Distillation: weight of the label loss (1 - alpha: teacher's).")
_FINAL_TEMPERATURE = flags.DEFINE_float("final_temperature", None,
                                        "Distillation: T at the last epoch (linear schedule).")
_FINAL_ALPHA = flags.DEFINE_float("final_alpha", None,
                                  "Distillation: alpha at the last epoch (linear schedule).")
_CACHE_TEACHER = flags.DEFINE_bool("cache_teacher_logits", _DC.cache_teacher_logits,
                                   "Distillation: run the teacher once, on un-augmented images.")
_STRATEGY = flags.DEFINE_enum("strategy", None, list(STRATEGIES),
                              "mirrored: all local GPUs; multi_worker: the machines in TF_CONFIG.")
_VERBOSE = flags.DEFINE_enum("verbose", "auto", ["auto", "0", "1", "2"],
                             "Keras progress: 1 bar, 2 a line per epoch, auto: bar on a terminal.")


_RUN_SUFFIXES = (("distillation", "_distilled"), ("channel_pruning", "_channels"),
                 ("low_rank", "_low_rank"),
                 ("pruning", "_pruned"), ("clustering", "_clustered"), ("qat", "_qat"))


def _compression():
    """The compression and distillation configs the flags ask for (validated by their classes)."""
    configs = {}
    if _PRUNE_FINAL.value is not None or _PRUNE_M_BY_N.value:
        configs["pruning"] = pruning.PruningConfig(
            final_sparsity=0.5 if _PRUNE_FINAL.value is None else _PRUNE_FINAL.value,
            schedule=_PRUNE_SCHEDULE.value, initial_sparsity=_PRUNE_INITIAL.value,
            begin_step=_PRUNE_BEGIN.value, end_step=_PRUNE_END.value,
            frequency=_PRUNE_FREQUENCY.value, m_by_n=_PRUNE_M_BY_N.value)
    if _CHANNEL_FRACTION.value is not None or _CHANNEL_TARGET.value is not None:
        configs["channel_pruning"] = pruning.ChannelPruningConfig(
            criterion=_CHANNEL_CRITERION.value, target_macs_ratio=_CHANNEL_TARGET.value,
            fraction=_C.fraction if _CHANNEL_FRACTION.value is None else _CHANNEL_FRACTION.value)
    if _CLUSTERS.value is not None:
        configs["clustering"] = pruning.ClusteringConfig(
            number_of_clusters=_CLUSTERS.value, init=_CLUSTER_INIT.value,
            preserve_sparsity=_CLUSTER_SPARSE.value)
    if _LOW_RANK_ENERGY.value is not None or _LOW_RANK_RANK.value is not None:
        configs["low_rank"] = pruning.LowRankConfig(
            energy=pruning.LowRankConfig.energy if _LOW_RANK_ENERGY.value is None
            else _LOW_RANK_ENERGY.value, rank=_LOW_RANK_RANK.value)
    if _TEACHER.value is not None:
        configs["distillation"] = distillation.DistillationConfig(
            _TEACHER.value, temperature=_TEMPERATURE.value, alpha=_ALPHA.value,
            final_temperature=_FINAL_TEMPERATURE.value, final_alpha=_FINAL_ALPHA.value,
            cache_teacher_logits=_CACHE_TEACHER.value)
    return configs


def main(argv):
    cli.reject_extra_args(argv)
    if _MODEL.value == "list":
        print("\n".join(list_models()))
        return
    model = _MODEL.value or (None if _INIT_FROM.value else _D.model)
    config = TrainConfig(
        model=model, dataset=_DATASET.value, init_from=_INIT_FROM.value,
        input_size=_INPUT_SIZE.value,
        channels=None if _CHANNELS.value == "auto" else int(_CHANNELS.value),
        epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value, optimizer=_OPTIMIZER.value,
        learning_rate=_LEARNING_RATE.value, lr_schedule=_LR_SCHEDULE.value,
        warmup_epochs=_WARMUP_EPOCHS.value, weight_decay=_WEIGHT_DECAY.value,
        augment=tuple(_AUGMENT.value), dropout=_DROPOUT.value,
        small_input={"auto": None, "true": True, "false": False}[_SMALL_INPUT.value],
        validation_split=_VALIDATION_SPLIT.value, max_train_examples=_MAX_TRAIN_EXAMPLES.value,
        max_eval_examples=_MAX_EVAL_EXAMPLES.value,
        keep_checkpoints=_KEEP_CHECKPOINTS.value, seed=_SEED.value,
        verbose=None if _VERBOSE.value == "auto" else int(_VERBOSE.value),
        qat=_QAT.value, weight_quantizer=_WEIGHT_QUANTIZER.value, weight_bits=_WEIGHT_BITS.value,
        qat_preserve=_QAT_PRESERVE.value, strategy=_STRATEGY.value,
        output_dir=_OUTPUT_DIR.value or "", **_compression())
    if not config.output_dir:
        suffixes = [suffix for key, suffix in _RUN_SUFFIXES if getattr(config, key)]
        config.output_dir = f"runs/{config.model}{''.join(suffixes)}"
    record = train(config)
    print(f"{record['model']} on {record['dataset']}: test accuracy {record['test_accuracy']:.4f} "
          f"on {record['num_examples']['test']:,} images ({record['epochs']} epochs, {record['wall_seconds'] / 60:.1f} min) → "
          f"{record['output_dir']}/model.keras")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
