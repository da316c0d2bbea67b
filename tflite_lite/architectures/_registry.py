"""Model registry: builders recorded under string names, each with a default config."""

import dataclasses
import fnmatch

from tflite_lite.errors import UserError


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """Defaults that travel with a registered model.

    Attributes:
      name: the registered name, e.g. `mobilenet_v2_035`.
      family: the architecture family, e.g. `mobilenet_v2`.
      paper: the paper the builder follows.
      input_shape: the input the paper used.
      mean: per-channel mean subtracted from raw 0-255 pixels (one value = all channels).
      std: per-channel divisor applied after the mean.
    """

    name: str
    family: str
    paper: str
    input_shape: tuple = (224, 224, 3)
    mean: tuple = (127.5,)
    std: tuple = (127.5,)

    def get_config(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        for key in ("input_shape", "mean", "std"):
            config[key] = tuple(config[key])
        return cls(**config)


_BUILDERS = {}
_CONFIGS = {}


def register_model(family, paper, **defaults):
    """Decorator that records a model entry point under its function name.

    Args:
      family: the architecture family.
      paper: the paper the builder follows.
      **defaults: any other `ModelConfig` field.
    """

    def decorator(fn):
        name = fn.__name__
        if name in _BUILDERS:
            raise ValueError(f"model {name!r} is registered twice")
        _BUILDERS[name] = fn
        _CONFIGS[name] = ModelConfig(name=name, family=family, paper=paper, **defaults)
        return fn

    return decorator


def list_models(pattern="*"):
    """Returns the sorted registered names that match a shell-style `pattern`."""
    return sorted(name for name in _BUILDERS if fnmatch.fnmatch(name, pattern))


def list_families():
    """Returns {family: its registered names, in registration order}. Each family file
    registers its smallest entry point first."""
    families = {}
    for name, config in _CONFIGS.items():
        families.setdefault(config.family, []).append(name)
    return families


def unknown_model_message(name):
    """`unknown model 'x'` with the closest registered names, not the whole registry."""
    import difflib

    names = list_models()
    close = difflib.get_close_matches(str(name), names, n=3, cutoff=0.6) or [
        n for n in names if n.split("_")[0] == str(name).split("_")[0]][:3]
    hint = f"did you mean {', '.join(close)}? " if close else ""
    return (f"unknown model {name!r}; {hint}{len(names)} models are registered "
            "(`--model list`, or list_models())")


def _check_name(name):
    if name not in _BUILDERS:
        raise UserError(unknown_model_message(name))


def get_model_config(name):
    """Returns the `ModelConfig` of a registered model."""
    _check_name(name)
    return _CONFIGS[name]


KERAS_VERSIONS = (2, 3)


def create_model(name, input_shape=(224, 224, 3), num_classes=1000, weights=None, keras=2,
                 **kwargs):
    """Builds a registered model.

    Args:
      name: a name from `list_models()`.
      input_shape: (height, width, channels). Defaults to (224, 224, 3).
      num_classes: size of the classifier. Defaults to 1000.
      weights: None (fresh weights), "imagenet" (Keras' published ImageNet weights) or the
        path of a `keras.applications` weights or model file (`architectures.weights`).
        Defaults to None.
      keras: 2 for a tf_keras model (trains through tfmot), 3 for a Keras 3 model (the
        `keras` package) with the same layer names, weights, parameters and MACs. Defaults
        to 2.
      **kwargs: passed to the builder (`small_input`, `dropout`, `include_top`, ...).

    Returns:
      A functional `Model` named `name`, tf_keras or Keras 3 as `keras` asks.

    Raises:
      UserError: for an unknown name, invalid arguments, or weights that do not fit.
    """
    _check_name(name)
    if keras not in KERAS_VERSIONS:
        raise UserError(f"keras must be 2 (tf_keras) or 3 (the keras package), got {keras!r}")
    model = _BUILDERS[name](input_shape=input_shape, num_classes=num_classes, name=name, **kwargs)
    if weights is not None:
        from tflite_lite.architectures.weights import load_weights

        load_weights(model, name, _CONFIGS[name].family, weights)
    if keras == 3:
        from tflite_lite.architectures.keras3 import to_keras3

        return to_keras3(model)
    return model
