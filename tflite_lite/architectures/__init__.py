"""Image-classifier builders, found by name in a registry, and their profiler.

    from tflite_lite.architectures import create_model, list_families, list_models, profile
    model = create_model("mobilenet_v2_035", input_shape=(32, 32, 1), num_classes=10)
    print(profile(model)["macs"])
"""

from tflite_lite.architectures._registry import (ModelConfig, create_model, get_model_config,
                                                 list_families, list_models, register_model,
                                                 unknown_model_message)
from tflite_lite.architectures.efficientnet_lite import EfficientNetLite
from tflite_lite.architectures.mobilenet_v1 import MobileNetV1
from tflite_lite.architectures.mobilenet_v2 import MobileNetV2
from tflite_lite.architectures.mobilenet_v3 import MobileNetV3
from tflite_lite.architectures.profiling import format_profile, profile
from tflite_lite.architectures.searchable import SearchableNet
from tflite_lite.architectures.shufflenet_v1 import ShuffleNetV1
from tflite_lite.architectures.shufflenet_v2 import ShuffleNetV2
from tflite_lite.architectures.squeezenet import SqueezeNet
from tflite_lite.architectures.deploy import deploy_form

__all__ = [
    "EfficientNetLite",
    "ModelConfig",
    "MobileNetV1",
    "MobileNetV2",
    "MobileNetV3",
    "SearchableNet",
    "ShuffleNetV1",
    "ShuffleNetV2",
    "SqueezeNet",
    "create_model",
    "deploy_form",
    "format_profile",
    "get_model_config",
    "list_families",
    "list_models",
    "unknown_model_message",
    "profile",
    "register_model",
]
