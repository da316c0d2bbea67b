"""Layers the builders need beyond Keras' own: MobileNet V3's hard sigmoid and hard swish.

Each is one layer, not a Lambda or a chain of TF ops, so that tfmot can quantize it (the QAT
stage gives each an output quantizer, `compression.qat`) and a `.keras` file reloads it in
safe mode. The converter turns `HardSwish` into TFLite's own HARD_SWISH kernel, and
`HardSigmoid` into an ADD with a fused RELU6 and a MUL.
"""

from tflite_lite._keras import keras, tf


@keras.utils.register_keras_serializable(package="tflite_lite")
class HardSigmoid(keras.layers.Layer):
    """relu6(x + 3) / 6: a piecewise-linear sigmoid (Howard et al. 2019)."""

    def call(self, inputs):
        return tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


@keras.utils.register_keras_serializable(package="tflite_lite")
class HardSwish(keras.layers.Layer):
    """x * relu6(x + 3) / 6: a piecewise-polynomial swish (Howard et al. 2019)."""

    def call(self, inputs):
        return inputs * tf.nn.relu6(inputs + 3.0) * (1.0 / 6.0)

    def compute_output_shape(self, input_shape):
        return input_shape


CUSTOM_OBJECTS = {"HardSigmoid": HardSigmoid, "HardSwish": HardSwish}
