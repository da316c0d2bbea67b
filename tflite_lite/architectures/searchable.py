"""A searchable family: MobileNet V2's inverted-residual stages, each with its own width, depth,
kernel size and expansion (the per-stage space of MCUNet's TinyNAS, Lin et al., NeurIPS 2020).

    architecture = {"stem_width": 8, "stem_stride": 2, "head_width": 0,
                    "stages": [{"width": 8, "depth": 1, "kernel": 3, "expansion": 1, "stride": 1},
                               {"width": 16, "depth": 2, "kernel": 5, "expansion": 4, "stride": 2}]}
    model = create_model("searchable_ir", input_shape=(32, 32, 1), num_classes=10,
                         architecture=architecture)

The architecture dict is a search candidate's whole description (with its input size and
channel-pruning fraction, `pipeline.search_space.Candidate`): the same dict rebuilds the same
layers under the same names, `stage<s>_block<b>_{expand,dw,project,add}`.
"""

from tflite_lite._keras import keras
from tflite_lite.architectures import _blocks
from tflite_lite.architectures._registry import register_model
from tflite_lite.errors import UserError

_PAPER = "MCUNet: Tiny Deep Learning on IoT Devices (TinyNAS space over MobileNetV2 stages)"
KERNEL_SIZES = (3, 5, 7)
STAGE_KEYS = ("width", "depth", "kernel", "expansion", "stride")
ARCHITECTURE_KEYS = ("stem_width", "stem_stride", "head_width", "stages")

# The registered entry point: a small MCUNet-like network for 32-px inputs.
DEFAULT_ARCHITECTURE = {
    "stem_width": 16, "stem_stride": None, "head_width": 0,
    "stages": [{"width": 16, "depth": 1, "kernel": 3, "expansion": 1, "stride": 1},
               {"width": 24, "depth": 2, "kernel": 3, "expansion": 4, "stride": 2},
               {"width": 40, "depth": 2, "kernel": 5, "expansion": 4, "stride": 2},
               {"width": 64, "depth": 2, "kernel": 3, "expansion": 4, "stride": 2},
               {"width": 96, "depth": 1, "kernel": 3, "expansion": 4, "stride": 1}]}


def _positive_int(value, where):
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UserError(f"architecture: {where} must be a positive integer, got {value!r}")
    return value


def check_architecture(architecture):
    """Returns the architecture with every key filled in; `UserError` naming an unknown key or
    an impossible value."""
    architecture = dict(DEFAULT_ARCHITECTURE, **(architecture or {}))
    unknown = sorted(set(architecture) - set(ARCHITECTURE_KEYS))
    if unknown:
        raise UserError(f"architecture: unknown key {unknown[0]!r}; known: "
                        f"{', '.join(ARCHITECTURE_KEYS)}")
    _positive_int(architecture["stem_width"], "stem_width")
    if architecture["stem_stride"] not in (None, 1, 2):
        raise UserError(f"architecture: stem_stride must be 1 or 2, got "
                        f"{architecture['stem_stride']!r}")
    if architecture["head_width"] != 0:
        _positive_int(architecture["head_width"], "head_width (0 = no head convolution)")
    stages = architecture["stages"]
    if not isinstance(stages, (list, tuple)) or not stages:
        raise UserError("architecture: stages must be a non-empty list of stages")
    architecture["stages"] = [_check_stage(stage, index) for index, stage in enumerate(stages)]
    return architecture


def _check_stage(stage, index):
    where = f"stage {index}"
    if not isinstance(stage, dict):
        raise UserError(f"architecture: {where} must be a dict with {', '.join(STAGE_KEYS)}")
    unknown, missing = sorted(set(stage) - set(STAGE_KEYS)), sorted(set(STAGE_KEYS) - set(stage))
    if unknown or missing:
        raise UserError(f"architecture: {where} has {'unknown' if unknown else 'no'} key "
                        f"{(unknown or missing)[0]!r}; a stage has {', '.join(STAGE_KEYS)}")
    for key in ("width", "depth", "expansion"):
        _positive_int(stage[key], f"{where} {key}")
    if stage["kernel"] not in KERNEL_SIZES:
        raise UserError(f"architecture: {where} kernel must be one of "
                        f"{', '.join(map(str, KERNEL_SIZES))}, got {stage['kernel']!r}")
    if stage["stride"] not in (1, 2):
        raise UserError(f"architecture: {where} stride must be 1 or 2, got {stage['stride']!r}")
    return dict(stage)


def SearchableNet(input_shape=(224, 224, 3), num_classes=1000, architecture=None,
                  include_top=True, dropout=0.0, classifier_activation="softmax",
                  small_input=None, name="searchable_ir"):
    """Builds an inverted-residual network whose stages are all chosen by `architecture`.

    Args:
      input_shape: (height, width, channels), sides of 28 or more. Defaults to (224, 224, 3).
      num_classes: classifier size. Defaults to 1000.
      architecture: a dict with `stem_width`, `stem_stride` (None: 1 for a small input, else
        2), `head_width` (a 1x1 convolution before pooling; 0 for none) and `stages`, each
        {width, depth, kernel (3, 5 or 7), expansion, stride (1 or 2)}; missing keys take
        `DEFAULT_ARCHITECTURE`'s. Defaults to None (the default architecture).
      include_top: whether to add pooling and the classifier. Defaults to True.
      dropout: dropout rate before the classifier. Defaults to 0.0.
      classifier_activation: "softmax", "sigmoid" or None (logits). Defaults to "softmax".
      small_input: stem stride 1 when `stem_stride` is None. None chooses by input size.
      name: model name. Defaults to "searchable_ir".

    Returns:
      A tf_keras functional `Model`.

    Raises:
      UserError: an impossible architecture (the key named), input or classifier.
    """
    input_shape = _blocks.validate_args(name, input_shape, num_classes)
    _blocks.validate_classifier_activation(classifier_activation)
    architecture = check_architecture(architecture)
    small_input = _blocks.resolve_small_input(small_input, input_shape)
    stem_stride = architecture["stem_stride"] or (1 if small_input else 2)

    inputs = keras.Input(shape=input_shape, name="input")
    x = _blocks.conv_bn(inputs, architecture["stem_width"], 3, "stem_conv", strides=stem_stride,
                        activation="relu6")
    for index, stage in enumerate(architecture["stages"]):
        for block in range(stage["depth"]):
            x = _blocks.inverted_residual(
                x, stage["expansion"], stage["width"], stage["stride"] if block == 0 else 1,
                f"stage{index}_block{block}", kernel_size=stage["kernel"])
    if architecture["head_width"]:
        x = _blocks.conv_bn(x, architecture["head_width"], 1, "head_conv", activation="relu6")
    if include_top:
        x = _blocks.classifier(x, num_classes, dropout, classifier_activation)
    return keras.Model(inputs, x, name=name)


@register_model(family="searchable", paper=_PAPER)
def searchable_ir(**kwargs):
    """The searchable inverted-residual family; `architecture=` chooses every stage."""
    return SearchableNet(**kwargs)
