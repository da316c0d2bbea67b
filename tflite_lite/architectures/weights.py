"""Pretrained weights from `keras.applications` models, loaded into the registry's builders.

    model = create_model("mobilenet_v2_100", input_shape=(160, 160, 3), num_classes=5,
                         weights="imagenet")          # or a file: .h5, .weights.h5, .keras

A file is read as data (HDF5 / zip), never executed, in any of the formats Keras writes:
- `.h5` from tf_keras (`save_weights` or `save`): arrays by layer name;
- `.weights.h5` from Keras 3 or tf_keras: arrays by layer class and position (`conv2d_7`);
- `.keras` from Keras 3 or tf_keras: the same, with the layer names in its `config.json`.

Layers are matched through a documented map from our names to Keras' (`keras_layer_name`),
not by order: MobileNet V1 `block3_dw` ← `conv_dw_3`, V2 `block3_expand_bn` ←
`block_3_expand_BN`, V3 `block3_se_reduce` ← `expanded_conv_3/squeeze_excite/Conv` (Keras 3:
`expanded_conv_3_squeeze_excite_conv`), and so on.
A one-channel model gets the stem filters summed over RGB (gray input = the three channels
at once); a model with another class count, or a file saved without its top
(`include_top=False`), keeps its own fresh classifier.
"""

import dataclasses
import json
import os
import re
import zipfile

import numpy as np

from tflite_lite._keras import keras
from tflite_lite.errors import UserError

_KERAS_BASE = "https://storage.googleapis.com/tensorflow/keras-applications/"
_V1_WIDTHS = {"025": "2_5", "050": "5_0", "075": "7_5", "100": "1_0"}
_V3_HASHES = {"large_224_0.75_float": "765b44a33ad4005b3ac83185abf1d0eb",
              "large_224_1.0_float": "59e551e166be033d707958cf9e29a6a7",
              "small_224_0.75_float": "cb65d4e5be93758266aa0a7f2c6708b7",
              "small_224_1.0_float": "8768d4c2e7dee89b9d02b2d03d65d862"}
MAPPED_FAMILIES = ("mobilenet_v1", "mobilenet_v2", "mobilenet_v3")
# Layers a file saved with include_top=False lacks: they keep their fresh weights.
_CLASSIFIER = ("logits", "head_fc")


@dataclasses.dataclass
class LoadedWeights:
    """What `load_pretrained` did: the source, how many layers it set, and the adaptations."""

    source: str
    layers_loaded: int
    stem_summed_over_rgb: bool
    new_classifier: bool

    def get_config(self):
        return dataclasses.asdict(self)


def keras_layer_name(family, name):
    """The `keras.applications` layer whose weights our layer `name` takes, or None."""
    if family == "mobilenet_v1":
        fixed = {"stem_conv": "conv1", "stem_conv_bn": "conv1_bn", "logits": "conv_preds"}
        match = re.fullmatch(r"block(\d+)_(dw|pw)(_bn)?", name)
        if match:
            return f"conv_{match[2]}_{match[1]}{match[3] or ''}"
    elif family == "mobilenet_v2":
        fixed = {"stem_conv": "Conv1", "stem_conv_bn": "bn_Conv1", "head_conv": "Conv_1",
                 "head_conv_bn": "Conv_1_bn", "logits": "predictions"}
        match = re.fullmatch(r"block(\d+)_(expand|dw|project)(_bn)?", name)
        if match:
            block = "expanded_conv" if match[1] == "0" else f"block_{match[1]}"
            part = "depthwise" if match[2] == "dw" else match[2]
            return f"{block}_{part}{'_BN' if match[3] else ''}"
    elif family == "mobilenet_v3":
        fixed = {"stem_conv": "Conv", "stem_conv_bn": "Conv/BatchNorm", "head_conv": "Conv_1",
                 "head_conv_bn": "Conv_1/BatchNorm", "head_fc": "Conv_2", "logits": "Logits"}
        match = re.fullmatch(r"block(\d+)_(expand|dw|project|se_reduce|se_expand)(_bn)?", name)
        if match:
            block = "expanded_conv" if match[1] == "0" else f"expanded_conv_{match[1]}"
            part = {"dw": "depthwise", "se_reduce": "squeeze_excite/Conv",
                    "se_expand": "squeeze_excite/Conv_1"}.get(match[2], match[2])
            return f"{block}/{part}{'/BatchNorm' if match[3] else ''}"
    else:
        return None
    return fixed.get(name)


def _keras3_name(name):
    """Keras 3's spelling of a tf_keras application layer name (no "/": `Conv/BatchNorm` →
    `conv_bn`)."""
    return name.replace("/BatchNorm", "_bn").replace("/", "_").lower()


def _keras_class(layer, keras_name):
    """The snake-cased class Keras saves `keras_name` under (its heads are 1x1 Conv2D where
    ours are Dense)."""
    if keras_name in ("conv_preds", "Conv_2", "Logits"):
        return "conv2d"
    for kind, key in ((keras.layers.DepthwiseConv2D, "depthwise_conv2d"),
                      (keras.layers.Conv2D, "conv2d"),
                      (keras.layers.BatchNormalization, "batch_normalization"),
                      (keras.layers.Dense, "dense")):
        if isinstance(layer, kind):
            return key
    raise UserError(f"layer {layer.name!r} ({type(layer).__name__}) has no weights map")


def imagenet_file(model_name, family):
    """(file name, URL, md5 or None) of the ImageNet weights Keras publishes for a model."""
    width = model_name.rsplit("_", 1)[-1]
    if family == "mobilenet_v1" and width in _V1_WIDTHS:
        name = f"mobilenet_{_V1_WIDTHS[width]}_224_tf.h5"
        return name, f"{_KERAS_BASE}mobilenet/{name}", None
    if family == "mobilenet_v2":
        name = f"mobilenet_v2_weights_tf_dim_ordering_tf_kernels_{int(width) / 100}_224.h5"
        return name, f"{_KERAS_BASE}mobilenet_v2/{name}", None
    if family == "mobilenet_v3":
        key = f"{model_name.split('_')[2]}_224_{int(width) / 100}_float"
        if key in _V3_HASHES:
            name = f"weights_mobilenet_v3_{key}.h5"
            return name, f"{_KERAS_BASE}mobilenet_v3/{name}", _V3_HASHES[key]
    raise UserError(f"Keras publishes no ImageNet weights for {model_name}")


def fetch_imagenet(model_name, family):
    """The path of the model's ImageNet file in Keras' cache (~/.keras/models), downloaded
    there first if missing.

    Raises:
      UserError: no published file, or no network (naming the file to put in the cache).
    """
    name, url, md5 = imagenet_file(model_name, family)
    cached = os.path.join(os.path.expanduser("~"), ".keras", "models", name)
    if os.path.isfile(cached):
        return cached
    try:
        return keras.utils.get_file(name, url, cache_subdir="models", file_hash=md5)
    except Exception as error:  # noqa: BLE001  (Keras raises plain Exception on a failed fetch)
        raise UserError(f"cannot download {url} ({type(error).__name__}); put that file in "
                        f"{os.path.dirname(cached)}/{name} and run again") from None


def load_weights(model, model_name, family, weights):
    """`load_pretrained` from `weights`: a file path, or "imagenet" (Keras' published file,
    through its cache)."""
    if not isinstance(weights, (str, os.PathLike)):
        raise UserError(f"weights must be a file path or \"imagenet\", got {weights!r}")
    path = fetch_imagenet(model_name, family) if weights == "imagenet" else os.fspath(weights)
    return load_pretrained(model, family, path)


def read_weights_file(path):
    """Arrays of a Keras weights or model file: `({layer name: [arrays]}, None)` when the file
    names its layers, else `(None, {"conv2d_3": [arrays], ...})` (a `.weights.h5`, keyed as
    Keras saves it).

    Raises:
      UserError: a missing, truncated or corrupt file, or one that is not Keras weights.
    """
    import h5py

    if not os.path.isfile(path):
        raise UserError(f"{path}: no such weights file")
    try:
        if zipfile.is_zipfile(path):
            return _read_keras_archive(path), None
        with h5py.File(path, "r") as f:
            if "layer_names" in f.attrs or "model_weights" in f:
                return _read_legacy_h5(f), None
            if "layers" in f:
                return None, _read_vars(f["layers"])
    except UserError:
        raise
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as error:
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:120]
        raise UserError(f"{path}: not a readable Keras weights file ({reason})") from None
    raise UserError(f"{path}: not a Keras weights file (no layers in it)")


def _decode(value):
    return value.decode() if isinstance(value, bytes) else str(value)


def _read_legacy_h5(f):
    group = f["model_weights"] if "model_weights" in f else f
    arrays = {}
    for layer in (_decode(n) for n in group.attrs["layer_names"]):
        names = [_decode(n) for n in group[layer].attrs.get("weight_names", [])]
        if names:
            arrays[layer] = [np.asarray(group[layer][n]) for n in names]
    return arrays


def _read_vars(layers_group):
    arrays = {}
    for key, item in layers_group.items():
        if "vars" in item and len(item["vars"]):
            arrays[key] = [np.asarray(item["vars"][str(i)]) for i in range(len(item["vars"]))]
    return arrays


def _read_keras_archive(path):
    """A `.keras` zip: layer names (in order) from config.json, arrays from its weights."""
    import h5py

    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        if not {"config.json", "model.weights.h5"} <= names:
            raise UserError(f"{path}: not a Keras model archive (no config.json and weights)")
        config = json.loads(archive.read("config.json"))
        layers = (config.get("config") or {}).get("layers") or []
        shapes = [(layer.get("config") or {}).get("batch_shape")
                  or (layer.get("config") or {}).get("batch_input_shape")
                  for layer in layers if layer.get("class_name") == "InputLayer"]
        if len(shapes) != 1 or not shapes[0] or len(shapes[0]) != 4:
            raise UserError(f"{path}: not an image model (its input is not height x width x "
                            "channels)")
        with archive.open("model.weights.h5") as raw, h5py.File(raw, "r") as f:
            by_key = _read_vars(f["layers"]) if "layers" in f else {}
    arrays, seen = {}, {}
    for layer in layers:
        kind = _snake(layer.get("class_name", ""))
        count = seen.get(kind, 0)
        seen[kind] = count + 1
        key = kind if count == 0 else f"{kind}_{count}"
        if key in by_key:
            arrays[layer["config"]["name"]] = by_key[key]
    return arrays


def _snake(name):
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def load_pretrained(model, family, path):
    """Sets `model`'s weights from a `keras.applications` weights or model file.

    Args:
      model: a model from `create_model` of a family in `MAPPED_FAMILIES`.
      family: its registry family.
      path: the file (see the module docstring).

    Returns:
      A `LoadedWeights`.

    Raises:
      UserError: an unmapped family, an unreadable file, or a file for another architecture
        or width (naming the first layer that does not fit).
    """
    if family not in MAPPED_FAMILIES:
        raise UserError(f"no keras.applications weights map for the {family} family; "
                        f"pretrained weights load into {', '.join(MAPPED_FAMILIES)}")
    by_name, by_key = read_weights_file(path)
    seen, loaded, summed, new_head = {}, 0, False, False
    for layer in model.layers:
        if not layer.weights:
            continue
        source = keras_layer_name(family, layer.name)
        if source is None:
            raise UserError(f"layer {layer.name!r} has no keras.applications counterpart")
        if by_key is not None:  # a .weights.h5: Keras' class-and-position keys
            kind = _keras_class(layer, source)
            count = seen.get(kind, 0)
            seen[kind] = count + 1
            arrays = by_key.get(kind if count == 0 else f"{kind}_{count}")
        else:
            arrays = by_name.get(source, by_name.get(_keras3_name(source)))
        if arrays is None and layer.name in _CLASSIFIER:  # a file saved without its top
            new_head = True
            continue
        if arrays is None:
            raise UserError(f"{path}: has no layer {source!r} for {layer.name!r} (weights for "
                            "another architecture?)")
        values, adapted = _fit(layer, arrays, path, source)
        if adapted == "new_head":
            new_head = True
            continue
        summed |= adapted == "summed"
        layer.set_weights(values)
        loaded += 1
    if by_key is not None and len(by_key) > sum(seen.values()):
        raise UserError(f"{path}: holds {len(by_key)} weighted layers, {model.name} has "
                        f"{sum(seen.values())} (weights for another architecture?)")
    return LoadedWeights(source=path, layers_loaded=loaded, stem_summed_over_rgb=summed,
                         new_classifier=new_head)


def _fit(layer, arrays, path, source):
    """The arrays reshaped for `layer`; also "summed" (stem over RGB), "new_head" (another
    class count: left as built) or None."""
    wanted = [tuple(w.shape) for w in layer.weights]
    values = [np.reshape(a, wanted[i]) if a.ndim == 4 and len(wanted[i]) == 2
              and a.shape[:2] == (1, 1) else a for i, a in enumerate(arrays[:len(wanted)])]
    got = [tuple(v.shape) for v in values]
    if len(arrays) == len(wanted) and got == wanted:
        return values, None
    if layer.name == "logits" and len(got) == len(wanted) and got[0][0] == wanted[0][0]:
        return None, "new_head"
    if (layer.name == "stem_conv" and len(got) == len(wanted) and wanted[0][2] == 1
            and got[0][2] == 3 and got[0][:2] + got[0][3:] == wanted[0][:2] + wanted[0][3:]):
        return [values[0].sum(axis=2, keepdims=True), *values[1:]], "summed"
    raise UserError(f"{path}: layer {source!r} has weights {got} where {layer.name!r} needs "
                    f"{wanted} (weights for another architecture or width?)")
