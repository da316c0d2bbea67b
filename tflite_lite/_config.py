"""The base of tflite_lite's config dataclasses, in the manner of tfmot's config objects:
`get_config()` gives plain JSON data, `from_config(config)` gives back an equal object, an
unknown key is one `UserError` line that lists the known ones, and a config is validated when
it is built (`validate()`, which each class defines), so a bad value fails where it is written.

    @dataclasses.dataclass
    class PruningConfig(Config):
        _kind = "pruning"
        final_sparsity: float = 0.5
"""

import dataclasses

from tflite_lite.errors import UserError


def _is_tuple_field(field):
    return field.type in (tuple, "tuple")


class Config:
    """Mixed into a dataclass: symmetric `get_config` / `from_config`, the unknown-key check
    and validation when built.

    `_kind` names the options in messages ("unknown pruning option(s): ...").
    """

    _kind = "config"

    def __post_init__(self):
        for field in dataclasses.fields(self):
            if _is_tuple_field(field) and isinstance(getattr(self, field.name), list):
                setattr(self, field.name, tuple(getattr(self, field.name)))
        self.validate()

    def validate(self):
        """Raises `UserError` naming the first invalid field (none here)."""

    def get_config(self):
        """The fields as JSON data (tuples as lists)."""
        config = dataclasses.asdict(self)
        for field in dataclasses.fields(self):
            if isinstance(config[field.name], tuple):
                config[field.name] = list(config[field.name])
        return config

    @classmethod
    def from_config(cls, config):
        """The object `get_config` described; lists become tuples where a field is a tuple.

        Raises:
          UserError: a key that is not a field.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(config) - set(fields))
        if unknown:
            raise UserError(f"unknown {cls._kind} option(s): {', '.join(unknown)}; known: "
                            f"{', '.join(fields)}")
        return cls(**config)
