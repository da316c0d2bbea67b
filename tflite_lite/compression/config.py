"""The compression stage's configs and option names, importable without TensorFlow: the
command-line flags are made from these classes and parsed before TensorFlow loads. Each class
is a small validated `Config` (`get_config` / `from_config`); the modules that apply them
(`qat`, `pruning`, `channel_pruning`, `clustering`, `low_rank`, `distillation`) import them
from here.
"""

import dataclasses
import math
import os

from tflite_lite._config import Config
from tflite_lite.errors import UserError


WEIGHT_QUANTIZERS = ("int8", "uniform", "ternary", "binary")


MIN_BITS, MAX_BITS = 1, 8


def validate_weight_quantizer(method, bits):
    """Raises `UserError` for an unknown method or bits outside what the method allows."""
    if method not in WEIGHT_QUANTIZERS:
        raise UserError(f"unknown weight quantizer {method!r}; choose one of "
                        f"{', '.join(WEIGHT_QUANTIZERS)}")
    if not isinstance(bits, int) or not MIN_BITS <= bits <= MAX_BITS:
        raise UserError(f"weight bits must be an integer from {MIN_BITS} to {MAX_BITS}, "
                        f"got {bits!r}")
    if method == "uniform" and bits < 2:
        raise UserError("uniform weights need at least 2 bits; use the binary quantizer for 1")


def effective_bits(method, bits):
    """Bits a weight needs: log2 of the number of levels, e.g. 1.58 for ternary."""
    return {"binary": 1.0, "ternary": math.log2(3), "int8": 8.0}.get(
        method, math.log2(2 ** bits - 1))


PRESERVE = (None, "sparsity", "clusters")


@dataclasses.dataclass
class QATConfig(Config):
    """How a model is quantized for training.

    Attributes:
      weight_quantizer: "int8" (tfmot's per-channel 8-bit), "uniform" (n-bit), "ternary" or
        "binary". Defaults to "int8".
      weight_bits: bits per weight for "uniform", 2-8. Defaults to 8.
      keep_first_and_last: keep the first conv and the classifier at 8-bit weights when the
        others go low-bit. Defaults to True.
      preserve: with "int8" weights: "sparsity" (tfmot's prune-preserving scheme: zero weights
        stay zero) or "clusters" (cluster-preserving: each kernel keeps its distinct values)
        for fine-tuning a pruned or clustered model. Defaults to None.
      float_layers: names of layers QAT leaves in float (e.g. a custom layer it cannot
        quantize); their export needs `allow_float_ops`. Defaults to ().
    """

    _kind = "QAT"

    weight_quantizer: str = "int8"
    weight_bits: int = 8
    keep_first_and_last: bool = True
    preserve: str = None
    float_layers: tuple = ()

    def validate(self):
        if isinstance(self.float_layers, str) or not all(
                isinstance(name, str) for name in self.float_layers):
            raise UserError(f"QAT float_layers must be a list of layer names, got "
                            f"{self.float_layers!r}")
        validate_weight_quantizer(self.weight_quantizer, self.weight_bits)
        if self.preserve not in PRESERVE:
            raise UserError(f"QAT preserve must be one of {', '.join(PRESERVE[1:])} or None, "
                            f"got {self.preserve!r}")
        if self.preserve and self.weight_quantizer != "int8":
            raise UserError(f"QAT preserve={self.preserve} needs the int8 weight quantizer")

    @property
    def effective_bits(self):
        """Bits per weight of the low-bit layers (log2 of their number of levels)."""
        return effective_bits(self.weight_quantizer, self.weight_bits)


SCHEDULES = ("constant", "polynomial")


def parse_m_by_n(text):
    """"2:4" → (2, 4): m non-zero weights in every block of n."""
    try:
        m, n = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise UserError(f"m_by_n must look like 2:4, got {text!r}") from None
    if not 0 < m < n:
        raise UserError(f"m_by_n {text!r}: need 0 < m < n")
    return m, n


@dataclasses.dataclass
class PruningConfig(Config):
    """A magnitude-pruning schedule (tfmot's ConstantSparsity / PolynomialDecay) or m:n sparsity.

    Attributes:
      final_sparsity: fraction of each pruned kernel set to zero at the end, in [0, 1).
        Defaults to 0.5.
      schedule: "constant" (prune to `final_sparsity` from `begin_step`) or "polynomial"
        (cubic ramp from `initial_sparsity` to `final_sparsity` between `begin_step` and
        `end_step`). Defaults to "polynomial".
      initial_sparsity: polynomial only: sparsity at `begin_step`. Defaults to 0.0.
      begin_step: first training step that prunes. Defaults to 0.
      end_step: last step that raises sparsity; None lets training choose 2/3 of its steps.
        Defaults to None.
      frequency: prune every this many steps. Defaults to 100.
      m_by_n: structured sparsity "m:n" (e.g. "2:4": 2 of every 4 weights along the input
        channels survive) for Conv2D and Dense; replaces the schedule. Defaults to None.
    """

    _kind = "pruning"

    final_sparsity: float = 0.5
    schedule: str = "polynomial"
    initial_sparsity: float = 0.0
    begin_step: int = 0
    end_step: int = None
    frequency: int = 100
    m_by_n: str = None

    def validate(self):
        if self.schedule not in SCHEDULES:
            raise UserError(f"pruning schedule must be one of {', '.join(SCHEDULES)}, "
                            f"got {self.schedule!r}")
        for key in ("final_sparsity", "initial_sparsity"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and 0 <= value < 1):
                raise UserError(f"{key} must be in [0, 1), got {value!r}")
        if self.initial_sparsity > self.final_sparsity:
            raise UserError(f"initial_sparsity {self.initial_sparsity} is above final_sparsity "
                            f"{self.final_sparsity}")
        if not isinstance(self.begin_step, int) or self.begin_step < 0:
            raise UserError(f"begin_step must be a non-negative integer, got {self.begin_step!r}")
        if self.end_step is not None and (not isinstance(self.end_step, int)
                                          or self.end_step <= self.begin_step):
            raise UserError(f"end_step ({self.end_step!r}) must come after begin_step "
                            f"({self.begin_step})")
        if not isinstance(self.frequency, int) or self.frequency < 1:
            raise UserError(f"pruning frequency must be a positive integer, got {self.frequency!r}")
        if self.m_by_n is not None:
            parse_m_by_n(self.m_by_n)

    def with_steps(self, total_steps):
        """A copy whose `end_step` is set (2/3 of `total_steps` when it was None), and whose
        frequency fits between begin and end."""
        end = self.end_step or max(self.begin_step + 1, total_steps * 2 // 3)
        return dataclasses.replace(self, end_step=end,
                                   frequency=min(self.frequency, end - self.begin_step))



CRITERIA = ("l1", "bn_gamma", "activation")


@dataclasses.dataclass
class ChannelPruningConfig(Config):
    """Which channels to remove.

    Attributes:
      criterion: how channels are ranked: "l1" (L1 norm of the filter), "bn_gamma" (|gamma| of
        the batch norm after the conv) or "activation" (mean |activation| on calibration
        images, the surveys' neuron pruning). Defaults to "l1".
      fraction: fraction of each free channel group to remove, in [0, 1). Ignored when
        `target_macs_ratio` is set. Defaults to 0.5.
      target_macs_ratio: find the fraction that leaves at most this share of the MACs, in
        (0, 1]. Defaults to None.
      round_to: kept channel counts are rounded up to a multiple of this. Defaults to 8.
      min_channels: never keep fewer channels than this in a group. Defaults to 8.
    """

    _kind = "channel pruning"

    criterion: str = "l1"
    fraction: float = 0.5
    target_macs_ratio: float = None
    round_to: int = 8
    min_channels: int = 8

    def validate(self):
        if self.criterion not in CRITERIA:
            raise UserError(f"channel pruning criterion must be one of {', '.join(CRITERIA)}, "
                            f"got {self.criterion!r}")
        if not (isinstance(self.fraction, (int, float)) and 0 <= self.fraction < 1):
            raise UserError(f"channel pruning fraction must be in [0, 1), got {self.fraction!r}")
        if self.target_macs_ratio is not None and not 0 < self.target_macs_ratio <= 1:
            raise UserError(f"target_macs_ratio must be in (0, 1], got {self.target_macs_ratio!r}")
        for key in ("round_to", "min_channels"):
            value = getattr(self, key)
            if not isinstance(value, int) or value < 1:
                raise UserError(f"{key} must be a positive integer, got {value!r}")


INITIALIZATIONS = ("kmeans_plus_plus", "linear", "density_based")


@dataclasses.dataclass
class ClusteringConfig(Config):
    """How weights are clustered.

    Attributes:
      number_of_clusters: centroids per kernel, at least 2. Defaults to 16.
      init: centroid initialization: "kmeans_plus_plus", "linear" or "density_based".
        Defaults to "kmeans_plus_plus".
      per_layer: {layer name: number of clusters} overriding `number_of_clusters`; a layer
        mapped to 0 is left unclustered. Defaults to {}.
      preserve_sparsity: keep zero weights at zero (cluster a pruned model). Defaults to False.
    """

    _kind = "clustering"

    number_of_clusters: int = 16
    init: str = "kmeans_plus_plus"
    per_layer: dict = dataclasses.field(default_factory=dict)
    preserve_sparsity: bool = False

    def validate(self):
        for name, clusters in {"number_of_clusters": self.number_of_clusters,
                               **self.per_layer}.items():
            if not isinstance(clusters, int) or clusters < 2 and not (
                    clusters == 0 and name != "number_of_clusters"):
                raise UserError(f"clusters for {name} must be an integer >= 2, got {clusters!r}")
        if self.init not in INITIALIZATIONS:
            raise UserError(f"clustering init must be one of {', '.join(INITIALIZATIONS)}, "
                            f"got {self.init!r}")


@dataclasses.dataclass
class LowRankConfig(Config):
    """Which layers are factorized and to what rank.

    Attributes:
      energy: keep the smallest rank whose singular values carry this share of the squared
        total, in (0, 1]. Defaults to 0.9.
      rank: a fixed rank instead (capped at each layer's full rank). Defaults to None.
      layers: names of the layers to consider; None considers every Dense and 1x1 Conv2D.
        Defaults to None.
    """

    _kind = "low-rank"

    energy: float = 0.9
    rank: int = None
    layers: tuple = None

    def validate(self):
        if not (isinstance(self.energy, (int, float)) and 0 < self.energy <= 1):
            raise UserError(f"low-rank energy must be in (0, 1], got {self.energy!r}")
        if self.rank is not None and (not isinstance(self.rank, int) or self.rank <= 0):
            raise UserError(f"low-rank rank must be a positive integer, got {self.rank!r}")


@dataclasses.dataclass
class DistillationConfig(Config):
    """How a student is distilled from a teacher.

    Attributes:
      teacher: path of the teacher's `.keras` file (float or QAT).
      temperature: softmax temperature T at the first epoch. Defaults to 4.0.
      alpha: weight of the label cross-entropy at the first epoch; the distillation term gets
        1 − alpha. Defaults to 0.5.
      final_temperature: T at the last epoch, reached linearly; None keeps `temperature`.
      final_alpha: alpha at the last epoch, reached linearly; None keeps `alpha`.
      cache_teacher_logits: compute the teacher's logits once, on the un-augmented training
        images, instead of on every augmented batch: faster, but the student then sees an
        augmented view and the teacher's answer for the plain one. Defaults to False.
    """

    _kind = "distillation"

    teacher: str
    temperature: float = 4.0
    alpha: float = 0.5
    final_temperature: float = None
    final_alpha: float = None
    cache_teacher_logits: bool = False

    def validate(self):
        """Raises `UserError` naming the first invalid field."""
        if not isinstance(self.teacher, str) or not self.teacher:
            raise UserError(f"distillation teacher must be a .keras path, got {self.teacher!r}")
        for key in ("temperature", "final_temperature"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, float)) and value > 0
                                          and math.isfinite(value)):
                raise UserError(f"distillation {key} must be a positive number, got {value!r}")
        for key in ("alpha", "final_alpha"):
            value = getattr(self, key)
            if value is not None and not (isinstance(value, (int, float)) and 0 <= value <= 1):
                raise UserError(f"distillation {key} must be in [0, 1], got {value!r}")
        if not isinstance(self.cache_teacher_logits, bool):
            raise UserError("distillation cache_teacher_logits must be true or false, "
                            f"got {self.cache_teacher_logits!r}")

    def check_teacher_file(self):
        if not os.path.isfile(self.teacher):
            raise UserError(f"distillation teacher {self.teacher}: no such model file")

    def values_at(self, epoch, epochs):
        """(temperature, alpha) for a 0-based epoch of `epochs`, linear between the ends."""
        progress = epoch / (epochs - 1) if epochs > 1 else 0.0

        def interpolate(start, end):
            return start if end is None else start + (end - start) * progress

        return (interpolate(self.temperature, self.final_temperature),
                interpolate(self.alpha, self.final_alpha))


# Post-training quantization steps (`compression.ptq`), in the order they run.
PTQ_STEPS = ("cle", "adaround", "bias_correction")


def parse_ptq_steps(steps):
    """`steps` (names, a comma-separated string, or None / "" / "none" for no step) as a tuple
    in `PTQ_STEPS` order.

    Raises:
      UserError: an unknown or repeated step name.
    """
    if steps is None:
        return ()
    names = [s.strip() for s in steps.split(",")] if isinstance(steps, str) else list(steps)
    names = [name for name in names if name and name != "none"]
    for name in names:
        if name not in PTQ_STEPS:
            raise UserError(f"unknown PTQ step {name!r}; choose from {', '.join(PTQ_STEPS)}")
    if len(set(names)) != len(names):
        raise UserError(f"PTQ step repeated in {', '.join(names)}")
    return tuple(step for step in PTQ_STEPS if step in names)
