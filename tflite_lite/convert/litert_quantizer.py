"""LiteRT Quantizer (`ai-edge-quantizer`) as a second engine: `export(..., quantizer="litert")`.

Google calls the TFLite converter's post-training quantization legacy and points to LiteRT
Quantizer, which quantizes a float `.tflite` by a recipe. The model is converted to float32
first (PTQ steps, if any, already ran on the Keras model), then quantized:

- "int8": static int8 weights and activations (min-max ranges), int8 input and output;
- "int16x8": int16 activations with int8 weights (the quantizer's `a16w8`);
- "w4a8": int4 weights in CONV_2D and FULLY_CONNECTED, int8 weights elsewhere (LiteRT's
  int4 DEPTHWISE_CONV_2D falls back to float), int8 activations;
- "dynamic_int4": int4 weights, float activations (dynamic range, no calibration).

It is an extra: `pip install -e ".[quantizer]"`.
"""

import contextlib
import io

import numpy as np

from tflite_lite.convert.options import LITERT_MODES as MODES
from tflite_lite.errors import UserError

# (activation bits, weight bits) of the static recipes; None: dynamic int4 weights
_STATIC_BITS = {"int8": (8, 8), "int16x8": (16, 8), "w4a8": (8, 4)}
SNR_IMAGES = 16  # calibration images the SNR report compares on


def installed():
    """Whether LiteRT Quantizer (the extra `quantizer`) can be imported."""
    import importlib.util  # noqa: PLC0415

    try:
        return importlib.util.find_spec("ai_edge_quantizer") is not None
    except ValueError:  # imported and then removed from sys.modules
        return False


def _package():
    try:
        from ai_edge_quantizer import algorithm_manager, qtyping, quantizer  # noqa: PLC0415
        from ai_edge_quantizer import recipe, recipe_manager  # noqa: PLC0415
    except ImportError:
        raise UserError("quantizer='litert' needs LiteRT Quantizer: pip install -e "
                        "\".[quantizer]\" (ai-edge-quantizer)") from None
    return algorithm_manager, qtyping, quantizer, recipe, recipe_manager


def _recipe(mode):
    algorithm_manager, qtyping, _, recipe, recipe_manager = _package()
    if mode == "dynamic_int4":
        return recipe.dynamic_wi4_afp32()
    activation_bits, weight_bits = _STATIC_BITS[mode]
    ops = qtyping.TFLOperationName
    # int8 weights everywhere, then int4 where LiteRT runs int4 weights (CONV_2D and
    # FULLY_CONNECTED; its int4 DEPTHWISE_CONV_2D would fall back to float)
    configs = [(ops.ALL_SUPPORTED, 8)] + [(op, weight_bits) for op in (
        ops.CONV_2D, ops.FULLY_CONNECTED) if weight_bits != 8]
    manager = recipe_manager.RecipeManager()
    for operation, bits in configs:
        manager.add_static_config(
            regex=".*", operation_name=operation, activation_num_bits=activation_bits,
            weight_num_bits=bits, algorithm_key=algorithm_manager.AlgorithmName.MIN_MAX_UNIFORM_QUANT)
    return manager.get_quantization_recipe()


def quantize(float_tflite, mode, representative_images=None, snr=False):
    """The float32 flatbuffer quantized by LiteRT Quantizer in `mode` (see the module
    docstring); calibrated on `representative_images` for the static modes. With `snr`,
    returns (flatbuffer, its `snr_report` or None when there are no images to measure on).

    Raises:
      UserError: an unknown mode, missing calibration images, or the package not installed.
    """
    if mode not in MODES:
        raise UserError(f"quantizer='litert' takes mode {', '.join(MODES)}, not {mode!r}")
    _, _, quantizer, _, _ = _package()
    engine = quantizer.Quantizer(bytearray(float_tflite), _recipe(mode))
    signature, inputs = _signature(float_tflite)
    images = (None if representative_images is None or len(representative_images) == 0
              else np.asarray(representative_images, np.float32))
    calibration = None
    if engine.need_calibration:
        if images is None:
            raise UserError(f"quantizer='litert' mode {mode} needs calibration images")
        with contextlib.redirect_stderr(io.StringIO()):  # its progress bar: the export has one
            calibration = engine.calibrate({signature: _feed(inputs, images)})
    with contextlib.redirect_stderr(io.StringIO()):  # its transformations' bar, asked off or not
        result = engine.quantize(calibration, enable_progress_bar=False,
                                 enable_progress_report=False)
    tflite = bytes(result.quantized_model)
    if not snr:
        return tflite
    report = None if images is None else snr_report(engine, signature, inputs,
                                                    images[:SNR_IMAGES])
    return tflite, report


def _feed(input_name, images):
    return [{input_name: images[i:i + 1]} for i in range(len(images))]


def snr_report(engine, signature, input_name, images, worst=10):
    """LiteRT Quantizer's own validation: each tensor of the quantized model against the float
    one on `images`, as a signal-to-noise ratio in dB (higher is closer). Returns the output's
    SNR, the median over activations and over weights, and the `worst` tensors."""
    from ai_edge_quantizer.utils.validation_utils import ValidationErrorMetric  # noqa: PLC0415

    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        result = engine.validate({signature: _feed(input_name, images)},
                                 error_metrics=[ValidationErrorMetric.SNR])
    compared = result.get_signature_comparison_result(signature)
    rows = [{"tensor": name, "kind": kind, "snr_db": _decibels(values["snr"])}
            for kind, tensors in (("activation", compared.intermediate_tensors),
                                  ("output", compared.output_tensors),
                                  ("weight", compared.constant_tensors))
            for name, values in tensors.items()]
    by_kind = {kind: [row["snr_db"] for row in rows if row["kind"] == kind]
               for kind in ("activation", "output", "weight")}
    return {"images": len(images), "output_snr_db": min(by_kind["output"], default=None),
            "median_activation_snr_db": _median(by_kind["activation"]),
            "median_weight_snr_db": _median(by_kind["weight"]),
            "worst": sorted(rows, key=lambda row: row["snr_db"])[:worst]}


def _decibels(ratio):
    """A power ratio in dB; an exact tensor (no noise) caps at 200 dB so JSON can hold it."""
    return round(float(min(10 * np.log10(max(float(ratio), 1e-30)), 200.0)), 2)


def _median(values):
    return round(float(np.median(values)), 2) if values else None


def _signature(float_tflite):
    """(the signature's name, its one input's name)."""
    from ai_edge_litert.interpreter import Interpreter  # noqa: PLC0415

    signatures = Interpreter(model_content=bytes(float_tflite)).get_signature_list()
    name, signature = next(iter(signatures.items()))
    return name, signature["inputs"][0]
