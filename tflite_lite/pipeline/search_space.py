"""The per-stage search space and its evolutionary search, importable without TensorFlow.

    space = load_space("models/micro_fashion/space_32kb.json")
    evolution = Evolution(space, population=8, children=4, seed=0)
    proposals = evolution.propose(history)   # [(candidate, fitness or None), ...] so far

A space file is JSON: the input sizes, channel-pruning fractions and stem choices, and one
entry per stage with its widths, depths, kernels (3/5/7) and expansions, and its stride:

    {"input_sizes": [32, 28], "channel_fractions": [0, 0.25], "stem_widths": [8, 16],
     "stem_strides": [1, 2], "head_widths": [0],
     "stages": [{"widths": [8, 16], "depths": [1, 2], "kernels": [3, 5, 7],
                 "expansions": [3, 4, 6], "stride": 2}, ...]}

A candidate is a small JSON dict (`input_size`, `channel_fraction`, `architecture`) that
rebuilds its model exactly: `create_model("searchable_ir", architecture=...)`.
Evolution is batch-synchronous regularized evolution (Real et al., 2019): each generation's
children are a pure function of the seed and the history in proposal order, so the search
proposes the same candidates whether its trials ran in one process or on a cluster, and
after a resume.
"""

import dataclasses
import json
import random

from tflite_lite._config import Config
from tflite_lite.errors import UserError

KERNEL_SIZES = (3, 5, 7)  # architectures.searchable.KERNEL_SIZES (that module imports TensorFlow)
MIN_INPUT_SIZE = 28  # architectures._blocks.MIN_INPUT_SIZE
SEARCHABLE_MODEL = "searchable_ir"


def _positive_ints(values, where):
    if (not isinstance(values, (list, tuple)) or not values
            or any(isinstance(v, bool) or not isinstance(v, int) or v < 1 for v in values)):
        raise UserError(f"search space: {where} must be a non-empty list of positive integers, "
                        f"got {values!r}")


@dataclasses.dataclass
class StageChoices(Config):
    """One stage's choices.

    Attributes:
      widths: output channels to choose from.
      depths: blocks to choose from. Defaults to (1, 2).
      kernels: depthwise kernel sizes, from 3, 5 and 7. Defaults to (3, 5, 7).
      expansions: expansion ratios. Defaults to (3, 4, 6).
      stride: the stage's first stride, 1 or 2 (fixed, not searched). Defaults to 1.
    """

    _kind = "search-space stage"

    widths: tuple
    depths: tuple = (1, 2)
    kernels: tuple = KERNEL_SIZES
    expansions: tuple = (3, 4, 6)
    stride: int = 1

    def validate(self):
        for key in ("widths", "depths", "expansions", "kernels"):
            _positive_ints(getattr(self, key), f"stage {key}")
        bad = [k for k in self.kernels if k not in KERNEL_SIZES]
        if bad:
            raise UserError(f"search space: kernel {bad[0]} is impossible; kernels are "
                            f"{', '.join(map(str, KERNEL_SIZES))}")
        if self.stride not in (1, 2):
            raise UserError(f"search space: stage stride must be 1 or 2, got {self.stride!r}")


@dataclasses.dataclass
class SearchSpace(Config):
    """Every choice a candidate makes.

    Attributes:
      stages: one `StageChoices` (or its dict) per stage.
      input_sizes: square input sides, at least 28. Defaults to (32,).
      channel_fractions: channel-pruning fractions in [0, 1). Defaults to (0.0,).
      stem_widths: the stem convolution's channels. Defaults to (8, 16).
      stem_strides: the stem's stride, 1 or 2. Defaults to (1, 2).
      head_widths: a 1x1 convolution before pooling (0 = none). Defaults to (0,).
    """

    _kind = "search-space"

    stages: tuple
    input_sizes: tuple = (32,)
    channel_fractions: tuple = (0.0,)
    stem_widths: tuple = (8, 16)
    stem_strides: tuple = (1, 2)
    head_widths: tuple = (0,)

    def __post_init__(self):
        if not isinstance(self.stages, (list, tuple)) or not self.stages:
            raise UserError("search space: stages must be a non-empty list of stages")
        self.stages = tuple(StageChoices.from_config(s) if isinstance(s, dict) else s
                            for s in self.stages)
        super().__post_init__()

    def validate(self):
        _positive_ints(self.input_sizes, "input_sizes")
        small = [s for s in self.input_sizes if s < MIN_INPUT_SIZE]
        if small:
            raise UserError(f"search space: input size {small[0]} is below the smallest, "
                            f"{MIN_INPUT_SIZE}")
        fractions = self.channel_fractions
        if (not isinstance(fractions, (list, tuple)) or not fractions or any(
                isinstance(f, bool) or not isinstance(f, (int, float)) or not 0 <= f < 1
                for f in fractions)):
            raise UserError(f"search space: channel_fractions must be in [0, 1), got "
                            f"{fractions!r}")
        _positive_ints(self.stem_widths, "stem_widths")
        if not self.stem_strides or any(s not in (1, 2) for s in self.stem_strides):
            raise UserError(f"search space: stem_strides must be 1 or 2, got "
                            f"{self.stem_strides!r}")
        if not self.head_widths or any(isinstance(h, bool) or not isinstance(h, int) or h < 0
                                       for h in self.head_widths):
            raise UserError(f"search space: head_widths must be integers >= 0 (0 = none), got "
                            f"{self.head_widths!r}")

    def get_config(self):
        return dict(super().get_config(), stages=[s.get_config() for s in self.stages])

    def genes(self):
        """[(where, choices)] of every searched choice, in a fixed order."""
        genes = [(("input_size",), self.input_sizes),
                 (("channel_fraction",), self.channel_fractions),
                 (("architecture", "stem_width"), self.stem_widths),
                 (("architecture", "stem_stride"), self.stem_strides),
                 (("architecture", "head_width"), self.head_widths)]
        for index, stage in enumerate(self.stages):
            for key, choices in (("width", stage.widths), ("depth", stage.depths),
                                 ("kernel", stage.kernels), ("expansion", stage.expansions)):
                genes.append((("architecture", "stages", index, key), choices))
        return genes

    def size(self):
        """How many distinct candidates the space holds."""
        total = 1
        for _, choices in self.genes():
            total *= len(set(choices))
        return total


def load_space(path):
    """The `SearchSpace` of a JSON file; `UserError` naming the file and the problem."""
    try:
        with open(path) as f:
            data = json.load(f)
    except OSError as error:
        raise UserError(f"search space {path}: {error.strerror or error}") from None
    except ValueError as error:
        raise UserError(f"search space {path}: not JSON ({error})") from None
    if not isinstance(data, dict):
        raise UserError(f"search space {path}: must be a JSON object")
    try:
        return SearchSpace.from_config(data)
    except UserError as error:
        raise UserError(f"{path}: {error}") from None
    except TypeError as error:  # a missing required key
        raise UserError(f"search space {path}: {error}") from None


def _get(candidate, where):
    value = candidate
    for key in where:
        value = value[key]
    return value


def _set(candidate, where, value):
    target = candidate
    for key in where[:-1]:
        target = target[key]
    target[where[-1]] = value


def sample(space, rng):
    """A random candidate of `space`."""
    candidate = {"input_size": None, "channel_fraction": None, "architecture": {
        "stem_width": None, "stem_stride": None, "head_width": None,
        "stages": [{"width": None, "depth": None, "kernel": None, "expansion": None,
                    "stride": stage.stride} for stage in space.stages]}}
    for where, choices in space.genes():
        _set(candidate, where, rng.choice(list(choices)))
    return candidate


def mutate(candidate, space, rng):
    """A copy of `candidate` with one searched choice changed (where it has another value)."""
    child = json.loads(json.dumps(candidate))
    genes = [(where, choices) for where, choices in space.genes() if len(set(choices)) > 1]
    if not genes:
        return child
    where, choices = rng.choice(genes)
    _set(child, where, rng.choice([c for c in choices if c != _get(child, where)]))
    return child


def activation_bytes_bound(candidate, channels=1):
    """A lower bound of the candidate's int8 TFLM arena in bytes, from its shapes alone: the
    largest input plus output of any one layer (TFLM holds both while the layer runs). It
    rejects most of a tight budget's proposals without building them."""
    size, arch = candidate["input_size"], candidate["architecture"]
    keep = 1 - candidate["channel_fraction"]

    def thinned(width):
        return max(1, int(width * keep))

    side = -(-size // arch["stem_stride"])
    width = thinned(arch["stem_width"])
    largest = size * size * channels + side * side * width
    for stage in arch["stages"]:
        for block in range(stage["depth"]):
            stride = stage["stride"] if block == 0 else 1
            hidden = width * stage["expansion"] if stage["expansion"] != 1 else width
            out_side = -(-side // stride)
            pairs = [(side * side * hidden, out_side ** 2 * hidden),  # depthwise
                     (out_side ** 2 * hidden, out_side ** 2 * thinned(stage["width"]))]
            if stage["expansion"] != 1:
                pairs.append((side * side * width, side * side * hidden))
            # a residual block's input stays in the arena until its add
            shortcut = side * side * width if stride == 1 and width == thinned(
                stage["width"]) else 0
            largest = max(largest, *(a + b + shortcut for a, b in pairs))
            side, width = out_side, thinned(stage["width"])
    return largest


def candidate_id(candidate):
    """A short name that says the whole candidate, e.g.
    `ir32c00-s8x2-8d1k3e3_16d2k5e4-h0`."""
    arch = candidate["architecture"]
    stages = "_".join(f"{s['width']}d{s['depth']}k{s['kernel']}e{s['expansion']}"
                      for s in arch["stages"])
    return (f"ir{candidate['input_size']}c{round(candidate['channel_fraction'] * 100):02d}-"
            f"s{arch['stem_width']}x{arch['stem_stride']}-{stages}-h{arch['head_width']}")


class Evolution:
    """Batch-synchronous regularized evolution over a `SearchSpace`.

    Generation 0 samples `population` distinct candidates. Each later generation makes
    `children` by tournament (`tournament` random picks among the last `population` scored
    candidates; the best is mutated). A candidate already proposed is never proposed again.
    """

    def __init__(self, space, population=8, children=4, tournament=3, seed=0):
        if population < 2 or children < 1 or tournament < 1:
            raise UserError("evolution needs population >= 2, children >= 1, tournament >= 1")
        self.space, self.population, self.children = space, population, children
        self.tournament, self.seed = tournament, seed

    def generation_of(self, count):
        """The generation the `count`-th proposal (from 0) belongs to."""
        if count < self.population:
            return 0
        return 1 + (count - self.population) // self.children

    def propose(self, history, accept=None):
        """The next generation's candidates, given every earlier proposal in order as
        (candidate, fitness or None); [] when the space has no new candidate left.

        `accept(candidate)` (e.g. "fits the budget") filters proposals as they are made: one
        it refuses is never proposed again and does not count. It must depend on the
        candidate only, so that the same history gives the same proposals."""
        generation = self.generation_of(len(history))
        rng = random.Random(f"{self.seed}/{generation}")
        seen = {candidate_id(c) for c, _ in history}
        wanted = self.population if generation == 0 else self.children
        scored = [(c, f) for c, f in history if f is not None][-self.population:]
        proposals = []
        for _ in range(wanted * 200):
            if len(proposals) == wanted:
                break
            if generation == 0 or not scored:
                candidate = sample(self.space, rng)
            else:
                picks = [scored[rng.randrange(len(scored))] for _ in range(self.tournament)]
                candidate = mutate(max(picks, key=lambda pick: pick[1])[0], self.space, rng)
            if candidate_id(candidate) not in seen:
                seen.add(candidate_id(candidate))
                if accept is None or accept(candidate):
                    proposals.append(candidate)
        return proposals
