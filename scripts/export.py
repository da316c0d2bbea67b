"""Exports a trained classifier (a `.keras` file of tf_keras or Keras 3, or a SavedModel folder)
to TFLite, checked and (optionally) evaluated.

Usage:
  python scripts/export.py --model DIR/model.keras --mode int8 --dataset fashion_mnist \
      --output DIR/model_int8.tflite --evaluate

Writes the `.tflite`, `labels.txt` beside it and the contract `DIR/model_int8.json` (input and
output tensors with scale / zero point, preprocessing, class names, ops, size, MACs, and with
--evaluate the Keras vs TFLite test accuracy and top-1 agreement). Modes: float32, dynamic,
float16, int8 (int8 input; float32 logits out by default, see --scores), int16x8. An integer export that still computes in float
fails unless --allow_float_ops; --keep_float_layers N keeps the N layers with the worst
quantization error in float; --accuracy_budget_pp B chooses the cheapest of int8, int8 with the
most sensitive layers in float, and int16x8 that stays within B points of float accuracy on
validation images (the plan is printed and kept in the contract). --sparse stores pruned
weights in TFLite's sparse format where the converter finds it pays. A float model's plain int8
export chooses its post-training steps by measuring them (--ptq auto, the default here: plain,
bias correction, CLE, LiteRT Quantizer, AdaRound, scored on validation images, the first that
agrees with float on 99% kept; the table is printed); --ptq none converts plainly, and --ptq
cle,adaround,bias_correction runs those steps before calibration; --per_tensor gives each weight tensor one scale (NPUs, DSPs). Int8 exports output float
logits by default: every op int8 but the last layer, in float, so close classes do not tie as
they do in an int8 output; apps apply the softmax (--scores logits: int8 logits; --scores
probabilities: the int8 softmax). `--model released.tflite --scores float_logits` turns a
released softmax model into its logits twin (contract, labels and test accuracy included)
without a new conversion. A model without a training run beside it states its input:
--input_range=0,1 (pixels / 255), --input_range=-1,1, or --input_mean / --input_std; a model
whose first layer is a Rescaling or Normalization takes pixels as they are. --target micro exports for TensorFlow Lite Micro (`pip install
'tflite_lite[micro]'`): int8 with int8 logits, refused with each op named if TFLM lacks one,
and beside the `.tflite` its C source pair `<stem>_model_data.h` / `.cc` (16-byte aligned array,
its length, and the tensor arena to reserve as a constant); `--model released.tflite --target
micro` writes the pair for an int8 `.tflite` you already have.
"""

import os

from absl import flags

from tflite_lite import cli
from tflite_lite.convert.options import MODES, QUANTIZERS, SCORES, ExportConfig

_MODEL = flags.DEFINE_string("model", None, "Trained `.keras` file (tf_keras or Keras 3) or "
                             "SavedModel folder.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output `.tflite` (default: beside the model, "
                              "model_<mode>.tflite).")
# Every other flag is a field of ExportConfig: its name, type, default and help.
_EXPORT = cli.ConfigFlags(ExportConfig, skip=("model_path", "output", "seed"),
                          choices={"mode": MODES, "scores": SCORES, "target": ("micro",),
                                   "quantizer": QUANTIZERS},
                          item_types={"input_range": float, "input_mean": float,
                                      "input_std": float})


def _default_output(model_path, mode):
    return os.path.join(os.path.dirname(model_path) or ".", f"model_{mode}.tflite")


def _logits_twin(settings):
    """`--model X.tflite --scores logits`: a released softmax model's logits twin."""
    from tflite_lite.convert.export_files import export_logits_twin  # noqa: PLC0415  (TF)

    output = _OUTPUT.value or _MODEL.value.replace(".tflite", "_logits.tflite")
    contract = export_logits_twin(_MODEL.value, output, settings["scores"] == "float_logits",
                                  max_eval_examples=settings["max_eval_examples"], verbose=1)
    evaluation = contract["evaluation"] or {}
    print(f"{output}: {contract['size_bytes']:,} bytes, output {contract['output']['dtype']} "
          f"logits; {evaluation.get('changed_top1', 0)} of {evaluation.get('num_examples', 0)} "
          f"test top-1 classes changed, TFLite accuracy {evaluation.get('tflite_accuracy')}, "
          f"{evaluation.get('tflite_top1_ties')} tied")


def _micro_source():
    """`--model X.tflite --target micro`: the C source pair of an int8 `.tflite`."""
    from tflite_lite.convert.micro import export_c_source  # noqa: PLC0415

    folder = os.path.dirname(_OUTPUT.value) if _OUTPUT.value else None
    name = os.path.splitext(os.path.basename(_OUTPUT.value))[0] if _OUTPUT.value else None
    written = export_c_source(_MODEL.value, folder, name)
    print(f"{written['files'][1]}: {written['flash_bytes']:,} bytes of flash, tensor arena "
          f"{written['arena_bytes']:,} bytes; header {written['files'][0]}")


def main(argv):
    cli.reject_extra_args(argv)
    settings = _EXPORT.values()
    if _MODEL.value.endswith(".tflite") and settings["target"] == "micro":
        return _micro_source()
    if _MODEL.value.endswith(".tflite") and settings["scores"] in ("float_logits", "logits"):
        return _logits_twin(settings)
    config = ExportConfig(
        model_path=_MODEL.value,
        output=_OUTPUT.value or _default_output(_MODEL.value, settings["mode"]), **settings)
    from tflite_lite.convert.export_files import export_model  # noqa: PLC0415  (TensorFlow)

    contract = export_model(config, verbose=1)
    _print_export(config, contract)


def _print_export(config, contract):
    """What the export wrote and measured."""
    from tflite_lite.convert.auto_ptq import PLAN_COLUMNS as AUTO_COLUMNS  # noqa: PLC0415
    from tflite_lite.convert.mixed_precision import PLAN_COLUMNS  # noqa: PLC0415
    from tflite_lite.report import format_table, plot_ptq_auto, plot_ptq_errors  # noqa: PLC0415

    print(f"{config.output}: {contract['mode']}, {contract['size_bytes']:,} bytes, "
          f"{contract['macs']:,} MACs, input {contract['input']['dtype']}"
          f"{contract['input']['shape']}, output {contract['output']['dtype']} "
          f"{contract['output']['scores']}")
    if contract["mixed_precision"]:
        plan = contract["mixed_precision"]
        print(format_table(plan["candidates"], PLAN_COLUMNS))
        print(f"chosen: {plan['chosen']} (budget {plan['budget_pp']} pp vs float "
              f"{plan['float_accuracy']:.4f} on validation images)")
    if contract.get("ptq_auto"):
        plan = contract["ptq_auto"]
        print(format_table(plan["candidates"], AUTO_COLUMNS))
        plot = plot_ptq_auto(plan, config.output.replace(".tflite", "_ptq_auto.png"))
        print(f"ptq auto chose {plan['chosen']} (float validation accuracy "
              f"{plan['float_accuracy']:.4f}; {plot})")
    if contract.get("litert_snr"):
        snr = contract["litert_snr"]
        lowest = ", ".join(f"{row['tensor'][:40]} {row['snr_db']:.1f}" for row in snr["worst"][:3])
        print(f"LiteRT Quantizer SNR vs float on {snr['images']} calibration images: output "
              f"{snr['output_snr_db']:.1f} dB, median activation "
              f"{snr['median_activation_snr_db']:.1f} dB; lowest: {lowest} dB")
    weights = contract["weights"]
    if weights and weights["sparsity"] > 0.05:
        print(f"int8 weights: {weights['sparsity']:.1%} zero, gzip {weights['gzip_bytes']:,} bytes"
              f", {weights['sparse_tensors']} tensors in sparse format")
    if contract["ptq"]:
        seconds = contract["ptq"]["seconds"]
        plot = plot_ptq_errors(contract["ptq"], config.output.replace(".tflite", "_ptq.png"))
        print("PTQ steps: " + ", ".join(f"{step} {seconds[step]:.1f} s"
                                        for step in contract["ptq"]["steps"])
              + f"; per-layer int8 error after each step: {plot}")
    if contract.get("micro"):
        stem = os.path.splitext(config.output)[0]
        print(f"TensorFlow Lite Micro: tensor arena {contract['micro']['arena_bytes']:,} bytes, "
              f"flash {contract['micro']['flash_bytes']:,} bytes; C source {stem}_model_data.cc"
              f" / .h")
    if contract["float_ops"]:
        print(f"float ops kept: {len(contract['float_ops'])}")
    evaluation = contract["evaluation"]
    if evaluation:
        print(f"{evaluation['dataset']} test ({evaluation['num_examples']} images): Keras "
              f"{evaluation['keras_accuracy']:.4f}, TFLite {evaluation['tflite_accuracy']:.4f}, "
              f"top-1 agreement {evaluation['agreement']:.4f} ({evaluation['disagreements']} "
              f"disagreements, {evaluation['tied_disagreements']} of them ties)")
    print(f"contract: {config.contract_path}")


def run():
    cli.run(main)


if __name__ == "__main__":
    run()
