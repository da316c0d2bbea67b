"""Quantization-aware training (QAT) through tfmot, for every registered builder.

    qat_model = quantize_model(float_model)                      # 8-bit, tfmot's default scheme
    qat_model = quantize_model(float_model, QATConfig("ternary"))  # ternary weights, 8-bit act.

The wrapped model trains with `fit()` like any Keras model, saves as `.keras` (load it with
`load_model`) and exports through the converter's int8 path. ShuffleNet V1 trains in its
branch form; `deploy_qat_model` moves a trained QAT model, fake-quantization ranges included,
into the native grouped-convolution form before export.
"""

import contextlib
import dataclasses
import os
import re
import warnings

import numpy as np
from tflite_lite import _keras  # noqa: F401,I001  (Keras 2 for tfmot, first)
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import quantize_layer
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_configs)

from tflite_lite import _io
from tflite_lite._graph import classifier_shapes
from tflite_lite._keras import code_layers_allowed, is_keras3_model, keras, keras3
from tflite_lite.architectures import _layers, create_model, deploy, get_model_config
from tflite_lite.compression import low_bit
from tflite_lite.errors import UserError
from tflite_lite.compression.config import QATConfig

_QUANT_PREFIX = "quant_"
# Layers whose computation tfmot cannot see: it would leave them in float without an error.
_OPAQUE_TYPES = ("Lambda", "TFOpLambda", "SlicingOpLambda")
# Layers outside tfmot's 8-bit registry that the builders use, quantized at their output
# (MobileNet V3's hard swish and hard sigmoid, squeeze-excite's channel gating); hard swish
# and hard sigmoid also at their gate (`GateQuantizeConfig`).
OUTPUT_QUANTIZED_LAYERS = (_layers.HardSwish, _layers.HardSigmoid, keras.layers.Multiply)
_OutputQuantizeConfig = default_8bit_quantize_configs.Default8BitOutputQuantizeConfig
_UNSUPPORTED_MESSAGE = re.compile(r"Layer (\S+?):<class '[\w.]*?(\w+)'> is not supported")


class GateQuantizeConfig(_OutputQuantizeConfig):
    """The output quantizer, and the gate relu6(x + 3) inside a hard swish or hard sigmoid
    fake-quantized on [0, 6] (hard swish's also on [0, 1] after the 1/6; see
    `_layers.HardSwish`). The int8 graph holds these tensors (ADD with RELU6, MUL by 1/6) as
    tensors of their own: without the fake-quantization their ranges came from calibration,
    and the int8 model's agreement moved with the calibration images."""

    def get_weights_and_quantizers(self, layer):
        layer.quantize_gate = True  # read by the layer's call; set whenever a wrapper builds
        return []


class HardSwishQuantizeConfig(GateQuantizeConfig):
    """`GateQuantizeConfig` under the name QAT `.keras` files saved before it carry."""


def check_quantizable(model, float_layers=()):
    """Raises `UserError` for a model that is not a one-input, one-output image classifier,
    or naming the first layer QAT cannot handle: a Lambda / TF-op layer (tfmot would silently
    leave it in float) or a nested model."""
    classifier_shapes(model)
    for layer in model.layers:
        if layer.name in float_layers:
            continue
        if type(layer).__name__ in _OPAQUE_TYPES:
            raise UserError(_unsupported(layer.name, type(layer).__name__,
                                         "rebuild it from Keras layers"))
        if isinstance(layer, keras.Model):
            raise UserError(_unsupported(layer.name, type(layer).__name__,
                                         "flatten the nested model into one functional model"))


def _unsupported(name, kind, fix):
    return (f"layer {name!r} ({kind}) cannot be quantization-aware trained: {fix}, or keep it "
            f"in float with QATConfig(float_layers=[{name!r}])")


def is_quantized(model):
    """Whether `model` holds QAT layers: tfmot's wrappers, or Keras 3 QAT's layers."""
    if is_keras3_model(model):
        from tflite_lite.compression import keras3 as native  # noqa: PLC0415

        return native.is_quantized(model)
    return any(isinstance(layer, (tfmot.quantization.keras.QuantizeWrapperV2,
                                  tfmot.quantization.keras.QuantizeWrapper))
               for layer in model.layers)


def quantize_model(model, config=None):
    """Wraps a float Keras model for quantization-aware training.

    A tf_keras model goes through tfmot; a Keras 3 model through this package's own QAT
    (`compression.keras3`, 8-bit weights), with the same call.

    Args:
      model: a functional float model (e.g. from `create_model` or a trained `.keras`); its
        weights are the starting point.
      config: a `QATConfig`. Defaults to 8-bit weights and activations.

    Returns:
      A new Keras model with fake quantization on weights and activations (not compiled).

    Raises:
      UserError: the model is already quantized, or holds a layer tfmot cannot quantize.
    """
    if is_keras3_model(model):
        from tflite_lite.compression import keras3 as native  # noqa: PLC0415

        return native.quantize_model(model, config)
    config = config or QATConfig()
    config.validate()
    if is_quantized(model):
        raise UserError("the model is already quantization-aware; pass its float version")
    unknown = set(config.float_layers) - {layer.name for layer in model.layers}
    if unknown:
        raise UserError(f"float_layers names no layer of the model: {', '.join(sorted(unknown))}")
    check_quantizable(model, config.float_layers)
    annotated = annotate_model(model, config.float_layers)
    combine = tfmot.experimental.combine
    if config.preserve == "sparsity":
        scheme = combine.Default8BitPrunePreserveQuantizeScheme()
    elif config.preserve == "clusters":
        scheme = combine.Default8BitClusterPreserveQuantizeScheme(preserve_sparsity=False)
    elif config.weight_quantizer == "int8":
        scheme = None
    else:
        names = low_bit.low_bit_layer_names(model, config.keep_first_and_last)
        scheme = low_bit.LowBitQuantizeScheme(names, config.weight_quantizer, config.weight_bits)
    # tfmot copies layers through their configs: a Lambda kept in float is the user's own
    # code, already in memory, so its copy may deserialize it.
    in_memory_code = code_layers_allowed() if config.float_layers else contextlib.nullcontext()
    try:
        with quantize_scope(), in_memory_code:
            if scheme is None:
                quantized = tfmot.quantization.keras.quantize_apply(annotated)
            else:
                quantized = tfmot.quantization.keras.quantize_apply(annotated, scheme)
        return _savable(quantized)
    except RuntimeError as error:
        match = _UNSUPPORTED_MESSAGE.search(str(error))
        if not match:
            raise
        raise UserError(_unsupported(match.group(1), match.group(2),
                                     "replace it with a layer tfmot supports")) from None


def annotate_model(model, float_layers=()):
    """tfmot's `quantize_annotate_model`, with an output quantizer for the layers outside its
    registry that the builders use (`OUTPUT_QUANTIZED_LAYERS`), and none for `float_layers`
    (names); layers and weights are shared."""
    annotate = tfmot.quantization.keras.quantize_annotate_layer

    def wrap(layer):
        if layer.name in float_layers:
            return layer
        if isinstance(layer, (_layers.HardSwish, _layers.HardSigmoid)):
            return annotate(layer, GateQuantizeConfig())
        if isinstance(layer, OUTPUT_QUANTIZED_LAYERS):
            return annotate(layer, _OutputQuantizeConfig())
        return annotate(layer)

    return keras.models.clone_model(model, clone_function=wrap)


class QuantizeLayer(quantize_layer.QuantizeLayer):
    """tfmot's input `QuantizeLayer`, built once: loading a `.keras` file builds layers from
    their config and then again when the graph is rebuilt, which gave it duplicate range
    variables and made every saved QAT model fail to load. (Same class name: `.keras` files
    store a layer's variables under its snake-cased class name.)"""

    def build(self, input_shape):
        if not self.built:
            super().build(input_shape)
        self.built = True


def _savable(model):
    """Makes each wrapper track its variables as a freshly loaded one does.

    `QuantizeWrapperV2` built around an already-built layer lists the layer's weights among
    its own, and the kernel twice; a `.keras` file saved that way cannot be loaded (the loaded
    wrapper expects fewer variables). Only the tracking lists change: `trainable_weights` still
    holds every weight once."""
    for layer in model.layers:
        if isinstance(layer, tfmot.quantization.keras.QuantizeWrapperV2):
            quantized = [weight for weight, _, _ in layer._weight_vars]  # noqa: SLF001
            layer._trainable_weights = list({id(w): w for w in quantized}.values())  # noqa: SLF001
    return model


@contextlib.contextmanager
def quantize_scope():
    """The custom objects that loading a QAT model needs: tfmot's, then ours on top."""
    ours = {"QuantizeLayer": QuantizeLayer,
            "LowBitWeightQuantizer": low_bit.LowBitWeightQuantizer,
            "LowBitWeightsQuantizeConfig": low_bit.LowBitWeightsQuantizeConfig,
            "Default8BitOutputQuantizeConfig": _OutputQuantizeConfig,
            "GateQuantizeConfig": GateQuantizeConfig,
            "HardSwishQuantizeConfig": HardSwishQuantizeConfig, **_layers.CUSTOM_OBJECTS}
    with tfmot.quantization.keras.quantize_scope(), keras.utils.custom_object_scope(ours):
        yield


def load_model(path, compile=False, allow_keras3=False):  # noqa: A002  (Keras' own argument name)
    """Loads a `.keras` file in safe mode: float, QAT, or wrapped for pruning or clustering.

    With `allow_keras3`, a file that Keras 3 saved loads as a Keras 3 model (float, or QAT
    from `compression.keras3`); without it, it is refused in one line.
    """
    if not os.path.isfile(path):
        raise UserError(f"{path}: no such model file")
    if os.path.getsize(path) == 0:
        raise UserError(f"{path}: empty file, not a Keras model")
    with open(path, "rb") as f:
        head = f.read(8)
    if head[4:8] == _io.TFLITE_FILE_IDENTIFIER:
        raise UserError(f"{path}: not a Keras model but a TFLite flatbuffer; give the trained "
                        ".keras file it was exported from")
    version = _io.saved_keras_version(path) if head.startswith(b"PK") else None
    keras3_file = bool(version and version.startswith("3"))
    if keras3_file and not allow_keras3:
        raise UserError(f"{path}: saved by Keras {version}; training, QAT, pruning and "
                        "clustering need a tf_keras (Keras 2) model (export takes it as it is)")
    if not head.startswith((b"PK", b"\x89HDF")):
        raise UserError(f"{path}: not a Keras model (a .keras file is a zip archive; this is "
                        "neither a zip archive nor an HDF5 file)")
    try:
        if keras3_file:
            # The Keras 3 layers of the builders and of QAT, registered for safe loading.
            from tflite_lite.compression import keras3 as _native  # noqa: F401,PLC0415

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                return keras3().saving.load_model(path, safe_mode=True, compile=compile)
        # Keras' warnings about a file it then refuses would bury the one-line error.
        with warnings.catch_warnings(record=True) as caught, quantize_scope(), \
                tfmot.sparsity.keras.prune_scope(), tfmot.clustering.keras.cluster_scope():
            warnings.simplefilter("always")
            model = keras.models.load_model(path, safe_mode=True, compile=compile)
        for warning in caught:
            warnings.warn_explicit(warning.message, warning.category, warning.filename,
                                   warning.lineno)
        return model
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        if "Lambda" in str(error):
            raise UserError(f"{path}: holds a Lambda layer (Python code), which safe loading "
                            "refuses; rebuild the model without Lambda layers") from None
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:160]
        what = (f"a Keras {version} file that does not load" if keras3_file
                else "not a Keras model file that loads")
        raise UserError(f"{path}: {what} ({reason})") from None


def with_default_scheme(model, float_model):
    """A QAT model trained with a preserving scheme, as the same model under tfmot's default
    8-bit scheme: same kernels, batch norms and ranges, without the scheme's extra variables
    (cluster-preserving QAT adds centroids and indices that a saved file cannot reload).

    Args:
      model: the trained QAT model (`QATConfig(preserve=...)`).
      float_model: the float model it was made from (only its structure is used).
    """
    target = quantize_model(float_model, QATConfig())
    _transfer_qat_weights(model, target)
    return target


def deploy_qat_model(model, model_name, small_input=None, config=None):
    """Returns `model`, or a trained branch-form ShuffleNet V1 QAT model rebuilt with native
    grouped convolutions, its weights and fake-quantization ranges moved over.

    Per-channel tensors (kernels, their ranges, batch norm) are concatenated along the channel
    axis; a scalar activation range becomes the union of the branches' ranges.
    """
    if (not deploy.has_grouped_branches(model)
            or get_model_config(model_name).family != "shufflenet_v1"):
        return model
    float_model = create_model(model_name, input_shape=tuple(model.inputs[0].shape[1:]),
                               num_classes=model.outputs[0].shape[-1], small_input=small_input,
                               grouped_conv="native")
    # A preserving scheme only matters while training; saved models use the default one.
    config = dataclasses.replace(config, preserve=None) if config else None
    native = quantize_model(float_model, config)
    _transfer_qat_weights(model, native)
    return native


def _leaf(weight):
    """`quant_x/kernel_min:0` → `kernel_min`; unique within one wrapper."""
    return weight.name.split(":")[0].rsplit("/", 1)[-1]


def _transfer_qat_weights(source, target):
    by_name = {layer.name: layer for layer in source.layers}
    for layer in target.layers:
        if not layer.weights:
            continue
        if isinstance(layer, quantize_layer.QuantizeLayer):  # the input quantizer
            twin = next(l for l in source.layers if isinstance(l, quantize_layer.QuantizeLayer))
            layer.set_weights(twin.get_weights())
            continue
        if layer.name in by_name:
            sources, fallback = [by_name[layer.name]], None
        else:
            base, suffix = ((layer.name[:-3], "_bn") if layer.name.endswith("_bn") else
                            (layer.name[:-5], "_relu") if layer.name.endswith("_relu") else
                            (layer.name, ""))
            sources = []
            while f"{base}_g{len(sources)}{suffix}" in by_name:
                sources.append(by_name[f"{base}_g{len(sources)}{suffix}"])
            # Branches that feed a concatenation are not range-tracked; the concatenation is.
            fallback = by_name.get(f"{base}_concat")
        if not sources:
            raise UserError(f"no trained weights for layer {layer.name!r}")
        values = []
        for weight in layer.weights:
            leaf = _leaf(weight)
            parts = [w.numpy() for part in sources for w in part.weights if _leaf(w) == leaf]
            if not parts and fallback is not None:
                parts = [w.numpy() for w in fallback.weights if _leaf(w) == leaf]
            if not parts:
                raise UserError(f"no trained {leaf!r} for layer {layer.name!r}")
            values.append(_merge(leaf, parts))
        layer.set_weights(values)


def _merge(key, parts):
    if len(parts) == 1:
        return parts[0]
    if np.ndim(parts[0]) == 0:
        if key.endswith("_min"):
            return np.min(parts)
        if key.endswith("_max"):
            return np.max(parts)
        return parts[0]
    return np.concatenate(parts, axis=-1)
