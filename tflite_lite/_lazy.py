"""Package faces that import their submodules on first use (PEP 562).

`import tflite_lite.convert` must not load TensorFlow: reading or running a `.tflite` needs
only LiteRT. A face lists what it exports and from which submodule; the submodule is imported
the first time one of its names is read.
"""

import importlib


def attach(package, exports, submodules=()):
    """Returns `(__getattr__, __dir__, __all__)` for a package that exports `exports`.

    Args:
      package: the package's `__name__`.
      exports: {submodule (relative to the package): [names it provides]}.
      submodules: submodules read as attributes of the package (`compression.ptq`), imported
        on first read. Defaults to ().
    """
    where = {name: module for module, names in exports.items() for name in names}

    def __getattr__(name):
        if name in submodules:
            return importlib.import_module(f"{package}.{name}")
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(importlib.import_module(package), name, value)  # later reads skip this
        return value

    def __dir__():
        return sorted(set(vars(importlib.import_module(package))) | set(where) | set(submodules))

    return __getattr__, __dir__, sorted(where)


class Proxy:
    """A module-level name whose object is imported on first use: `tf = Proxy("tflite_lite._keras",
    "tf")` lets a module that only calls TensorFlow inside its functions be imported without it."""

    def __init__(self, module, name):
        self._where = (module, name)

    def __getattr__(self, attribute):
        module, name = self._where
        return getattr(getattr(importlib.import_module(module), name), attribute)
