"""Keras model → TFLite flatbuffer bytes, in one of five modes, at a fixed batch of 1.

    tflite_bytes = convert_model(model, "int8", representative_images=calibration)

Modes: `float32`; `dynamic` (int8 weights, float activations); `float16` (float16 weights);
`int8` (full integer: int8 input and output, per-channel int8 weights, int8 activations
calibrated on `representative_images`); `int16x8` (int16 activations and input/output, int8
weights). The graph is traced with an input of batch 1, so no SHAPE / STRIDED_SLICE / PACK ops
appear from a dynamic batch.
"""

import numpy as np

from tflite_lite import _native
from tflite_lite._keras import tf
from tflite_lite.architectures._layers import hard_swish_form
from tflite_lite.convert import avg_pool
from tflite_lite.convert.options import (CALIBRATED_MODES, LITERT_ONLY_MODES,  # noqa: F401
                                         MODES, validate_mode)
from tflite_lite.errors import UserError
from tensorflow.lite.python import convert as _lite_convert  # noqa: I001  (after _keras)
from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2


def _batch_one_function(model):
    """The model's batch-1 inference as a concrete function with its variables frozen.

    The converter saves what it converts as a SavedModel first. Handed the Keras model as the
    trackable, it traces every layer's call for that (about 15 s for a float MobileNet V2 at
    32x32, 37 s with QAT); a frozen function leaves it only the graph to save. The flatbuffer
    has the same ops, tensors, quantization, outputs and `serving_default` signature, 5-10x
    sooner.
    """
    shape = model.inputs[0].shape[1:]
    if None in shape:
        raise UserError(f"model input shape {tuple(shape)} is not fully defined")
    serve = tf.function(lambda images: model(images, training=False))
    function = serve.get_concrete_function(tf.TensorSpec([1, *shape], tf.float32, name="images"))
    return convert_variables_to_constants_v2(function)


def _representative(images):
    def dataset():
        for image in images:
            yield [image[np.newaxis].astype(np.float32)]
    return dataset


def make_converter(model, mode, representative_images=None, sparse=False, hard_swish=None,
                   per_tensor=False):
    """A configured `tf.lite.TFLiteConverter` for `model` in `mode` (batch 1); `sparse` adds
    TFLite's sparsity optimization (pruned weights stored in a sparse format where it pays),
    `hard_swish` chooses the hard swish form, `per_tensor` one weight scale per tensor (see
    `convert_model`)."""
    validate_mode(mode)
    if mode in LITERT_ONLY_MODES:
        raise UserError(f"mode {mode} needs quantizer='litert' (LiteRT Quantizer)")
    if len(model.inputs) != 1 or len(model.outputs) != 1:
        raise UserError(f"expected a model with one input and one output, got "
                        f"{len(model.inputs)} and {len(model.outputs)}")
    # int8 XNNPACK has no HARD_SWISH or AVERAGE_POOL_2D kernel: trace them as ops it has.
    if mode == "int8":
        model = avg_pool.as_depthwise(model)
    with hard_swish_form(hard_swish or ("split" if mode == "int8" else "fused")):
        function = _batch_one_function(model)
    converter = tf.lite.TFLiteConverter.from_concrete_functions([function], tf.Module())
    if mode == "float32" and not sparse:
        return converter
    converter.optimizations = ([] if mode == "float32" else [tf.lite.Optimize.DEFAULT]) + (
        [tf.lite.Optimize.EXPERIMENTAL_SPARSITY] if sparse else [])
    if mode == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if mode in CALIBRATED_MODES:
        if representative_images is None or len(representative_images) == 0:
            raise UserError(f"{mode} export needs a non-empty representative set for calibration")
        expected = tuple(model.inputs[0].shape[1:])
        if tuple(representative_images.shape[1:]) != expected:
            raise UserError(f"representative images have shape {representative_images.shape[1:]},"
                            f" the model expects {expected}")
        converter.representative_dataset = _representative(representative_images)
        # TFLite's own switch (no public one): NPUs and DSPs that take one scale per tensor.
        converter._experimental_disable_per_channel = per_tensor  # noqa: SLF001
    if mode == "int8":
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.int8
        converter.inference_output_type = tf.int8
    elif mode == "int16x8":
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.EXPERIMENTAL_TFLITE_BUILTINS_ACTIVATIONS_INT16_WEIGHTS_INT8]
        converter.inference_input_type = tf.int16
        converter.inference_output_type = tf.int16
    return converter


def convert_model(model, mode, representative_images=None, sparse=False, hard_swish=None,
                  per_tensor=False):
    """Converts a Keras classifier to TFLite flatbuffer bytes.

    Args:
      model: a Keras model with one input of fully defined shape and one output.
      mode: one of `MODES`.
      representative_images: preprocessed float images, shape (N, H, W, C), for the calibrated
        modes (`int8`, `int16x8`); ignored by the others. Defaults to None.
      sparse: apply TFLite's sparsity optimization (`EXPERIMENTAL_SPARSITY`). Defaults to False.
      hard_swish: the graph form of `HardSwish` layers (`_layers.HARD_SWISH_FORMS`). Defaults
        to None: "split" in int8, "fused" otherwise, the form XNNPACK runs fastest.
      per_tensor: calibrated modes: one weight scale per tensor instead of per output channel.
        Defaults to False.

    Returns:
      The flatbuffer as bytes.

    Raises:
      UserError: unknown mode, missing or mismatched representative set, or a failed conversion.
    """
    converter = make_converter(model, mode, representative_images, sparse=sparse,
                               hard_swish=hard_swish, per_tensor=per_tensor)
    try:
        with _native.filtered_stderr(_native.CONVERTER):
            return bytes(converter.convert())
    except Exception as error:  # noqa: BLE001  (the converter raises many types)
        message = str(error).strip().splitlines()
        raise UserError(f"TFLite conversion ({mode}) failed: "
                        f"{message[0] if message else type(error).__name__}") from None


def calibrate(model, representative_images):
    """Float model with calibration statistics (the input of `quantize_calibrated`)."""
    converter = make_converter(model, "int8", representative_images)
    converter.experimental_mlir_quantizer = True
    converter._experimental_calibrate_only = True  # noqa: SLF001  (TFLite's own selective path)
    with _native.filtered_stderr(_native.CONVERTER):
        return bytes(converter.convert())


def quantize_calibrated(calibrated, float_tensors=(), numeric_verify=False):
    """Full int8 (int8 I/O) model from a calibrated one, keeping the ops that produce
    `float_tensors` (tensor names) in float; with `numeric_verify`, the debug model that
    TFLite's QuantizationDebugger reads."""
    with _native.filtered_stderr(_native.CONVERTER):
        return bytes(_lite_convert.mlir_quantize(
            calibrated, fully_quantize=not numeric_verify,
            input_data_type=tf.float32 if numeric_verify else tf.int8,
            output_data_type=tf.float32 if numeric_verify else tf.int8,
            enable_numeric_verify=numeric_verify,
            denylisted_nodes=list(float_tensors) or None))
