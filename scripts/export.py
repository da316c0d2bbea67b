"""Exports a trained classifier (a `.keras` file of tf_keras or Keras 3, or a SavedModel folder)
to TFLite, checked and (optionally) evaluated.

Usage:
  python scripts/export.py --model DIR/model.keras --mode int8 --dataset fashion_mnist \
      --output DIR/model_int8.tflite --evaluate

Writes the `.tflite`, `labels.txt` beside it and the contract `DIR/model_int8.json` (input and
output tensors with scale / zero point, preprocessing, class names, ops, size, MACs, and with
--evaluate the Keras vs TFLite test accuracy and top-1 agreement). Modes: float32, dynamic,
float16, int8 (int8 input and output), int16x8. An integer export that still computes in float
fails unless --allow_float_ops; --keep_float_layers N keeps the N layers with the worst
quantization error in float; --accuracy_budget_pp B chooses the cheapest of int8, int8 with the
most sensitive layers in float, and int16x8 that stays within B points of float accuracy on
validation images (the plan is printed and kept in the contract). --sparse stores pruned
weights in TFLite's sparse format where the converter finds it pays. --ptq
cle,adaround,bias_correction runs post-training steps that make the float model easier to round
before calibration; --per_tensor gives each weight tensor one scale (NPUs, DSPs). Int8 exports output float
logits by default: every op int8 but the last layer, in float, so close classes do not tie as
they do in an int8 output; apps apply the softmax (--scores logits: int8 logits; --scores
probabilities: the int8 softmax). `--model released.tflite --scores float_logits` turns a
released softmax model into its logits twin (contract, labels and test accuracy included)
without a new conversion. --target micro exports for TensorFlow Lite Micro (`pip install
'tflite_lite[micro]'`): int8 with int8 logits, refused with each op named if TFLM lacks one,
and beside the `.tflite` its C source pair `<stem>_model_data.h` / `.cc` (16-byte aligned array,
its length, and the tensor arena to reserve as a constant); `--model released.tflite --target
micro` writes the pair for an int8 `.tflite` you already have.
"""

import os

from absl import flags

from tflite_lite import cli
from tflite_lite.convert import MODES, ExportConfig, export_model
from tflite_lite.convert.export_files import export_logits_twin
from tflite_lite.convert.micro import export_c_source
from tflite_lite.convert.mixed_precision import PLAN_COLUMNS
from tflite_lite.convert.scores import SCORES
from tflite_lite.report import format_table, plot_ptq_errors

_D = ExportConfig

_MODEL = flags.DEFINE_string("model", None, "Trained `.keras` file (tf_keras or Keras 3) or "
                             "SavedModel folder.", required=True)
_OUTPUT = flags.DEFINE_string("output", None, "Output `.tflite` (default: beside the model, "
                              "model_<mode>.tflite).")
_MODE = flags.DEFINE_enum("mode", _D.mode, MODES, "Export mode.")
_DATASET = flags.DEFINE_string("dataset", None, "Calibration / evaluation dataset "
                               "(default: the run's own, from its run record).")
_EVALUATE = flags.DEFINE_bool("evaluate", False, "Measure Keras vs TFLite accuracy and agreement.")
_REPRESENTATIVE = flags.DEFINE_integer("representative_examples", _D.representative_examples,
                                       "Calibration images.", lower_bound=1)
_ALLOW_FLOAT = flags.DEFINE_bool("allow_float_ops", False,
                                 "Accept float ops in an int8 / int16x8 export.")
_KEEP_FLOAT = flags.DEFINE_integer("keep_float_layers", 0,
                                   "int8: keep the N worst-quantized layers in float.",
                                   lower_bound=0)
_BUDGET = flags.DEFINE_float("accuracy_budget_pp", None,
                              "int8: pick per-layer precision (int8 / float layers / int16x8) "
                              "within this validation accuracy loss, in percentage points.")
_MAX_FLOAT_LAYERS = flags.DEFINE_integer("max_float_layers", _D.max_float_layers,
                                         "With --accuracy_budget_pp: most layers kept in float.",
                                         lower_bound=0)
_SPARSE = flags.DEFINE_bool("sparse", False, "Apply TFLite's sparsity optimization "
                            "(pruned models).")
_SCORES = flags.DEFINE_enum("scores", None, list(SCORES),
                            "float_logits: int8 compute, the last layer in float, float32 logits "
                            "(no int8 ties; the int8 default where the softmax splits off); "
                            "logits: int8 logits; probabilities: the softmax in the graph. Apps "
                            "apply the softmax to logits.")
_MAX_EVAL = flags.DEFINE_integer("max_eval_examples", None, "Evaluate on N test images only.",
                                 lower_bound=1)
_PTQ = flags.DEFINE_string("ptq", None, "int8: PTQ steps before calibration, comma-separated: "
                           "cle (cross-layer equalization), adaround (adaptive "
                           "rounding), bias_correction.")
_ADAROUND_SECONDS = flags.DEFINE_float("adaround_seconds_per_layer", 10.0, "--ptq adaround: "
                                       "the time budget per layer.", lower_bound=0.01)
_TARGET = flags.DEFINE_enum("target", None, ["micro"], "micro: for TensorFlow Lite Micro "
                            "(int8, TFLM's ops, a C source pair beside the .tflite).")
_PER_TENSOR = flags.DEFINE_bool("per_tensor", False, "int8: one weight scale per tensor (for "
                                "NPUs / DSPs), not per output channel.")


def _default_output(model_path, mode):
    return os.path.join(os.path.dirname(model_path) or ".", f"model_{mode}.tflite")


def _logits_twin():
    """`--model X.tflite --scores logits`: a released softmax model's logits twin."""
    output = _OUTPUT.value or _MODEL.value.replace(".tflite", "_logits.tflite")
    contract = export_logits_twin(_MODEL.value, output, _SCORES.value == "float_logits",
                                  max_eval_examples=_MAX_EVAL.value, verbose=1)
    evaluation = contract["evaluation"] or {}
    print(f"{output}: {contract['size_bytes']:,} bytes, output {contract['output']['dtype']} "
          f"logits; {evaluation.get('changed_top1', 0)} of {evaluation.get('num_examples', 0)} "
          f"test top-1 classes changed, TFLite accuracy {evaluation.get('tflite_accuracy')}, "
          f"{evaluation.get('tflite_top1_ties')} tied")


def _micro_source():
    """`--model X.tflite --target micro`: the C source pair of an int8 `.tflite`."""
    folder = os.path.dirname(_OUTPUT.value) if _OUTPUT.value else None
    name = os.path.splitext(os.path.basename(_OUTPUT.value))[0] if _OUTPUT.value else None
    written = export_c_source(_MODEL.value, folder, name)
    print(f"{written['files'][1]}: {written['flash_bytes']:,} bytes of flash, tensor arena "
          f"{written['arena_bytes']:,} bytes; header {written['files'][0]}")


def main(argv):
    cli.reject_extra_args(argv)
    if _MODEL.value.endswith(".tflite") and _TARGET.value == "micro":
        return _micro_source()
    if _MODEL.value.endswith(".tflite") and _SCORES.value in ("float_logits", "logits"):
        return _logits_twin()
    config = ExportConfig(
        model_path=_MODEL.value, output=_OUTPUT.value or _default_output(_MODEL.value, _MODE.value),
        mode=_MODE.value, dataset=_DATASET.value, evaluate=_EVALUATE.value,
        representative_examples=_REPRESENTATIVE.value, allow_float_ops=_ALLOW_FLOAT.value,
        keep_float_layers=_KEEP_FLOAT.value, max_eval_examples=_MAX_EVAL.value,
        accuracy_budget_pp=_BUDGET.value, max_float_layers=_MAX_FLOAT_LAYERS.value,
        sparse=_SPARSE.value, scores=_SCORES.value, ptq=_PTQ.value, per_tensor=_PER_TENSOR.value,
        adaround_seconds_per_layer=_ADAROUND_SECONDS.value, target=_TARGET.value)
    contract = export_model(config, verbose=1)
    print(f"{config.output}: {contract['mode']}, {contract['size_bytes']:,} bytes, "
          f"{contract['macs']:,} MACs, input {contract['input']['dtype']}"
          f"{contract['input']['shape']}, output {contract['output']['dtype']} "
          f"{contract['output']['scores']}")
    if contract["mixed_precision"]:
        plan = contract["mixed_precision"]
        print(format_table(plan["candidates"], PLAN_COLUMNS))
        print(f"chosen: {plan['chosen']} (budget {plan['budget_pp']} pp vs float "
              f"{plan['float_accuracy']:.4f} on validation images)")
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
