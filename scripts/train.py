"""Trains a registered model on a dataset and records the run.

Usage:
  python scripts/train.py --model mobilenet_v2_035 --dataset fashion_mnist --epochs 10 \
      --batch_size 128 --input_size 32 --output_dir runs/mobilenet_v2_035

Quantization-aware training: add `--qat` (8-bit), or `--qat --weight_quantizer uniform
--weight_bits 4` / `ternary` / `binary` for low-bit weights. Fine-tune a trained float model with
`--init_from runs/m/model.keras --qat --epochs 2 --learning_rate 2e-4` (the model is read from
its run.json).

Writes DIR/model.keras, DIR/checkpoints/, DIR/history.json, DIR/run.json (config, class
names, preprocessing, measured test accuracy) and TensorBoard logs in DIR/logs/.
Models: see `--model=list`.
"""

from absl import flags

from tflite_lite import cli
from tflite_lite.architectures import list_models
from tflite_lite.quantization import WEIGHT_QUANTIZERS
from tflite_lite.training import LR_SCHEDULES, OPTIMIZERS, TrainConfig, train

_D = TrainConfig  # defaults live on the config class, not here

_MODEL = flags.DEFINE_string("model", None, f"Registered model name, or `list` (default "
                             f"{_D.model}, or the --init_from run's).")
_DATASET = flags.DEFINE_string("dataset", _D.dataset,
                               "fashion_mnist, mnist, cifar10 or folder:PATH.")
_OUTPUT_DIR = flags.DEFINE_string("output_dir", None, "Run folder (default runs/<model>).")
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
_VERBOSE = flags.DEFINE_enum("verbose", "auto", ["auto", "0", "1", "2"],
                             "Keras progress: 1 bar, 2 a line per epoch, auto: bar on a terminal.")


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
        keep_checkpoints=_KEEP_CHECKPOINTS.value, seed=_SEED.value,
        verbose=None if _VERBOSE.value == "auto" else int(_VERBOSE.value),
        qat=_QAT.value, weight_quantizer=_WEIGHT_QUANTIZER.value, weight_bits=_WEIGHT_BITS.value,
        output_dir=_OUTPUT_DIR.value or "")
    if not config.output_dir:
        config.output_dir = f"runs/{config.model}{'_qat' if config.qat else ''}"
    record = train(config)
    print(f"{record['model']} on {record['dataset']}: test accuracy {record['test_accuracy']:.4f} "
          f"({record['epochs']} epochs, {record['wall_seconds'] / 60:.1f} min) → "
          f"{config.output_dir}/model.keras")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
