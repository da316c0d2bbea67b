"""Running absl programs: bad input becomes one line on stderr and exit status 2; flags made
from a config dataclass (`ConfigFlags`)."""

import dataclasses
import logging as std_logging
import re
import sys
import warnings

from absl import app, flags, logging

from tflite_lite.errors import UserError

USER_ERROR_EXIT = 2


def run(main):
    """`absl.app.run(main)`, printing a `UserError` as `error: ...` instead of a traceback."""
    app.run(guarded(main), flags_parser=parse_flags)


def guarded(main):
    """`main` with a `UserError` turned into one `error:` line on stderr and exit status 2."""

    def guarded_main(argv):
        # TensorFlow's INFO lines (checkpoint sharding, converter passes) would bury the output.
        logging.set_verbosity(logging.WARNING)
        # tf.function's retracing advice and similar Python-side warnings are not the user's.
        std_logging.getLogger("tensorflow").setLevel(std_logging.ERROR)
        warnings.formatwarning = _one_line_warning
        try:
            return main(argv)
        except UserError as error:
            print(f"error: {error}", file=sys.stderr)
            sys.exit(USER_ERROR_EXIT)

    return guarded_main


def _one_line_warning(message, category, filename, lineno, line=None):  # noqa: ARG001
    """A warning as the user reads it: `warning: <message>`, without the source line."""
    return f"warning: {message}\n"


def parse_flags(argv):
    """absl's flag parsing, with a bad flag value reported like any other bad input."""
    try:
        return flags.FLAGS(argv)
    except flags.Error as error:
        print(f"error: {error} (see --helpfull)", file=sys.stderr)
        sys.exit(USER_ERROR_EXIT)


def reject_extra_args(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")


_DEFINE = {int: flags.DEFINE_integer, float: flags.DEFINE_float, bool: flags.DEFINE_bool,
           str: flags.DEFINE_string, tuple: flags.DEFINE_list}
_TYPES = {"int": int, "float": float, "bool": bool, "str": str, "tuple": tuple}  # as strings
_AUTO = "auto"


class _SquareSideParser(flags.IntegerParser):
    """An integer flag for a square input's side, which says so when given HxW."""

    def parse(self, argument):
        if isinstance(argument, str) and "x" in argument.lower():
            raise ValueError(f"inputs are square: give one side in pixels (images are resized "
                             f"to it), not {argument!r}")
        return super().parse(argument)


_SQUARE_SIDES = ("input_size",)  # int fields that are a square input's side


def attribute_docs(config_class):
    """{field: its entry in the `Attributes:` section of the class's docstring, or of a base
    class's, on one line}."""
    docs = {}
    for klass in reversed(config_class.__mro__):
        docs.update(_docstring_attributes(klass.__dict__.get("__doc__") or ""))
    return docs


def _docstring_attributes(docstring):
    section = docstring.split("Attributes:", 1)[1] if "Attributes:" in docstring else ""
    docs, name = {}, None
    for line in section.splitlines():
        match = re.match(r"^ {6}(\w+): (.*)$", line)
        if match:
            name, docs[match.group(1)] = match.group(1), match.group(2)
        elif name and line.startswith(" " * 8):
            docs[name] += " " + line.strip()
        elif line.strip():
            name = None
    return docs


class ConfigFlags:
    """absl flags made from a config dataclass: one per field, typed by the field, with the
    field's docstring entry as its help, so the config class stays the one place that defines
    names, defaults and meanings.

        _PRUNING = cli.ConfigFlags(PruningConfig, prefix="prune_", when=("final_sparsity",))
        config = _PRUNING.build()   # None unless --prune_final_sparsity was given

    Args:
      config_class: the dataclass.
      prefix: put before every field's name to make its flag's name. Defaults to "".
      names: {field: flag name} where the prefixed name would not do. Defaults to {}.
      skip: fields that get no flag (the script defines or derives them). Defaults to ().
      choices: {field: allowed values}, which makes the flag an enum. Defaults to {}.
      auto: fields whose None means "choose for me": their enum also takes "auto" (the
        default), and a bool field takes "true" / "false". Defaults to ().
      item_types: {tuple field: the type of its items} (`int`, `float`), which its
        comma-separated flag value is parsed into. Defaults to {} (strings).
      when: for an optional nested config: the fields of which one must be given for the
        config to exist. Its flags then default to "not given", and the class's defaults fill
        in the rest. Defaults to None (a top-level config: flags default to the class's).
    """

    def __init__(self, config_class, *, prefix="", names=None, skip=(), choices=None, auto=(),
                 when=None, item_types=None):
        self.config_class, self.when, self.auto = config_class, when, set(auto)
        self.item_types = item_types or {}
        caller = sys._getframe(1).f_globals["__name__"]  # noqa: SLF001  (absl lists flags by it)
        module = {"module_name": sys.argv[0] if caller == "__main__" else caller}
        docs, names, choices = attribute_docs(config_class), names or {}, choices or {}
        self.holders, self.types = {}, {}
        for field in dataclasses.fields(config_class):
            kind = _TYPES.get(field.type, field.type)
            if field.name in skip or kind not in _DEFINE:
                continue
            name = names.get(field.name, prefix + field.name)
            default = (None if when is not None or field.default is dataclasses.MISSING
                       else field.default)
            help_text = docs.get(field.name, field.name)
            if when is None:  # absl shows the default itself
                help_text = re.sub(r"\s*Defaults to .*?\.$", "", help_text)
            if field.name in self.auto:
                values = choices.get(field.name) or ["true", "false"]
                holder = flags.DEFINE_enum(name, _AUTO, [_AUTO, *map(str, values)], help_text,
                                           **module)
            elif field.name in choices:
                holder = flags.DEFINE_enum(name, default, [c for c in choices[field.name] if c],
                                           help_text, **module)
            else:
                if kind is tuple and default is not None:
                    default = list(default)
                holder = (flags.DEFINE(_SquareSideParser(), name, default, help_text, **module)
                          if field.name in _SQUARE_SIDES and kind is int
                          else _DEFINE[kind](name, default, help_text, **module))
            self.holders[field.name], self.types[field.name] = holder, kind

    def values(self):
        """{field: value} of the flags given (nested) or of every flag (top level)."""
        values = {}
        for field, holder in self.holders.items():
            value = holder.value
            if field in self.auto:
                value = None if value == _AUTO else (value == "true" if self.types[field] is bool
                                                     else self.types[field](value))
            elif self.types[field] is tuple and value is not None:
                value = self._items(field, holder, value)
            if self.when is None or value is not None:
                values[field] = value
        return values

    def _items(self, field, holder, value):
        kind = self.item_types.get(field, str)
        try:
            return tuple(kind(item) for item in value)
        except ValueError:
            raise UserError(f"--{holder.name} must be {kind.__name__}s, got "
                            f"{','.join(value)}") from None

    def build(self):
        """A nested config from the flags given, or None when none of `when` was given.

        Raises:
          UserError: some of its flags were given, but none of `when`.
        """
        values = self.values()
        if not any(key in values for key in self.when):
            if values:
                raise UserError(f"--{self.holders[next(iter(values))].name} applies with "
                                + " or ".join(f"--{self.holders[k].name}" for k in self.when))
            return None
        return self.config_class(**values)
