"""What a budget search searches: `SearchConfig` and the budget's keys, importable without
TensorFlow, so that `scripts/search.py` makes its flags from them and parses them first.
`pipeline.search` runs the search.
"""

import dataclasses

from tflite_lite._config import Config
from tflite_lite.errors import UserError

# Budget keys: (what the candidate's record holds, its unit's multiplier).
BUDGET_KEYS = {"arena_kb": ("arena_bytes", 1024), "flash_kb": ("flash_bytes", 1024),
               "latency_ms": ("latency_ms", 1), "macs": ("macs", 1), "params": ("params", 1)}
LATENCY_TARGETS = ("micro", "host")


def parse_budget(budget):
    """`"arena_kb=64,flash_kb=256"` (or a dict) → {key: float}; `UserError` for an unknown key
    or a value that is not a positive number."""
    if isinstance(budget, str):
        pairs = [item.split("=", 1) for item in budget.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise UserError(f"budget must be key=value pairs, got {budget!r}")
        budget = {key.strip(): value.strip() for key, value in pairs}
    if not budget:
        raise UserError(f"empty budget; keys: {', '.join(BUDGET_KEYS)}")
    parsed = {}
    for key, value in budget.items():
        if key not in BUDGET_KEYS:
            raise UserError(f"unknown budget key {key!r}; known: {', '.join(BUDGET_KEYS)}")
        try:
            parsed[key] = float(value)
        except (TypeError, ValueError):
            parsed[key] = float("nan")
        if not parsed[key] > 0:
            raise UserError(f"budget {key} must be a positive number, got {value!r}")
    return parsed


@dataclasses.dataclass
class SearchConfig(Config):
    """What to search and how.

    Attributes:
      recipe: the recipe file the winner is trained with (dataset, student epochs and rate,
        QAT, export); its student model is replaced by the winner.
      budget: "key=value,..." or a dict: arena_kb, flash_kb, latency_ms, macs, params.
      families: registered families to search. Defaults to () (all).
      input_sizes: square input sides. Defaults to (32, 28).
      channel_fractions: channel-pruning fractions (0 = the model as built). Defaults to
        (0.0, 0.25, 0.5).
      latency_target: where `latency_ms` is measured: "micro" (TFLM on this host) or "host"
        (LiteRT). Defaults to "micro".
      proxy_epochs: proxy training epochs. Defaults to 1.
      proxy_examples: proxy training images. Defaults to 10000.
      full_train_top: besides the proxy's best, train this many next-best survivors as the
        recipe's student; the best of them by full training wins. Defaults to 0.
      baseline: also train the hand-chosen baseline through the same recipe: the registered
        model with the fewest parameters, its input size, then its width (a uniform channel
        fraction, in steps of 0.05) scaled down until it fits. Defaults to True.
      preset: the recipe's preset. Defaults to None.
      space: a search-space JSON file (`pipeline.search_space`): stage 2 is then an
        evolutionary search over its per-stage choices (the searchable family) instead of the
        registered families. Defaults to None.
      trials: candidates the evolutionary search proposes (each: exact costs, then a proxy
        training if it fits). Defaults to 24.
      population: the evolution's first generation and the scored candidates it keeps.
        Defaults to 8.
      children: candidates per later generation. Defaults to 4.
      search_seed: the evolution's random seed. Defaults to 0.
      seeds: full trainings (seeds 0, 1, ...) of each contender and of the baseline's student;
        the winner has the best validation mean. Defaults to 1.
      workers: trials at a time; above 1 (or with `address`) they run on Ray Tune, one CPU
        each. Defaults to 1 (in this process).
      address: a running Ray cluster's head, host:port, to run the trials on. Defaults to
        None (a local Ray when workers > 1).
    """

    _kind = "search"

    recipe: str
    budget: str
    families: tuple = ()
    input_sizes: tuple = (32, 28)
    channel_fractions: tuple = (0.0, 0.25, 0.5)
    latency_target: str = "micro"
    proxy_epochs: int = 1
    proxy_examples: int = 10000
    full_train_top: int = 0
    baseline: bool = True
    preset: str = None
    space: str = None
    trials: int = 24
    population: int = 8
    children: int = 4
    search_seed: int = 0
    seeds: int = 1
    workers: int = 1
    address: str = None

    def validate(self):
        if not isinstance(self.recipe, str) or not self.recipe:
            raise UserError("a search needs the recipe its winner trains with (recipe, "
                            "--recipe)")
        parse_budget(self.budget)
        if isinstance(self.budget, dict):
            self.budget = ",".join(f"{k}={v}" for k, v in self.budget.items())
        # The registry loads the builders (and TensorFlow): only now, not when flags are made.
        from tflite_lite.architectures import list_models  # noqa: PLC0415
        from tflite_lite.architectures._blocks import MIN_INPUT_SIZE  # noqa: PLC0415

        known = {family(name) for name in list_models()}
        unknown = sorted(set(self.families) - known)
        if unknown:
            raise UserError(f"unknown famil{'ies' if len(unknown) > 1 else 'y'} "
                            f"{', '.join(unknown)}; known: {', '.join(sorted(known))}")
        if not self.input_sizes or any(not isinstance(s, int) or s < MIN_INPUT_SIZE
                                       for s in self.input_sizes):
            raise UserError(f"input sizes must be integers >= {MIN_INPUT_SIZE}, got "
                            f"{list(self.input_sizes)}")
        if not self.channel_fractions or any(not 0 <= f < 1 for f in self.channel_fractions):
            raise UserError("channel fractions must be in [0, 1), got "
                            f"{list(self.channel_fractions)}")
        if self.latency_target not in LATENCY_TARGETS:
            raise UserError(f"latency_target must be one of {', '.join(LATENCY_TARGETS)}, got "
                            f"{self.latency_target!r}")
        for key in ("proxy_epochs", "proxy_examples"):
            if not isinstance(getattr(self, key), int) or getattr(self, key) < 1:
                raise UserError(f"{key} must be a positive integer, got {getattr(self, key)!r}")
        if not isinstance(self.full_train_top, int) or self.full_train_top < 0:
            raise UserError(f"full_train_top must be >= 0, got {self.full_train_top!r}")
        self._validate_evolution()

    def _validate_evolution(self):
        minimum = {"trials": 1, "population": 2, "children": 1, "search_seed": 0, "seeds": 1,
                   "workers": 1}
        for key, smallest in minimum.items():
            value = getattr(self, key)
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise UserError(f"{key} must be an integer >= {smallest}, got {value!r}")
        if self.space is not None:
            from tflite_lite.pipeline.search_space import load_space  # noqa: PLC0415
            load_space(self.space)
        if self.address is not None and (not isinstance(self.address, str)
                                         or not self.address.strip()):
            raise UserError(f"address must be a Ray head's host:port, got {self.address!r}")


def family(name):
    """The family of a registered model name ("mobilenet_v1" for "mobilenet_v1_025")."""
    from tflite_lite.architectures import get_model_config  # noqa: PLC0415  (TensorFlow)

    return get_model_config(name).family
