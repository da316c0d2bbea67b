"""Average pooling as a depthwise convolution, so that an int8 graph stays in one XNNPACK
partition.

XNNPACK, LiteRT's CPU delegate, runs AVERAGE_POOL_2D in float only: an int8 one stays on
LiteRT's own kernels and cuts the delegated graph (ShuffleNet V1, whose stride-2 units pool
their shortcut, ran as 4 partitions). A k x k average pool is a depthwise convolution whose
weights are all 1/k², times, with "same" padding, a constant map that undoes the zeros the
padding adds at the borders (9/6 on an edge of a 3 x 3 pool, 9/4 in a corner). XNNPACK runs
both int8 ops (DEPTHWISE_CONV_2D, MUL). The float function is the same; `as_depthwise` builds
the form only for conversion, the model itself is unchanged.
"""

import numpy as np

from tflite_lite._keras import is_keras3_model, keras


def as_depthwise(model):
    """`model`, or, when it is a float tf_keras functional model with 2-D average pooling, a
    copy of it with each pool traced as a depthwise convolution (and border scale)."""
    layers = getattr(model, "layers", [])
    pools = [layer for layer in layers if type(layer) is keras.layers.AveragePooling2D]
    quantized = any(type(layer).__name__.startswith("Quantize") for layer in layers)
    if not pools or quantized or is_keras3_model(model) or not hasattr(model, "inputs"):
        return model  # a QAT graph's ranges are trained for its own ops
    from tflite_lite import _graph  # noqa: PLC0415

    def transform(layer, inputs):
        if type(layer) is keras.layers.AveragePooling2D:
            return _depthwise_pool(layer, inputs)
        return layer(inputs)

    return _graph.rebuild(model, transform)


def _depthwise_pool(pool, x):
    config = pool.get_config()
    if config.get("data_format") not in (None, "channels_last"):
        return pool(x)
    (kh, kw), strides = config["pool_size"], config["strides"] or config["pool_size"]
    channels = int(x.shape[-1])
    conv = keras.layers.DepthwiseConv2D((kh, kw), strides=strides, padding=config["padding"],
                                        use_bias=False, name=f"{pool.name}_as_depthwise")
    y = conv(x)
    conv.set_weights([np.full((kh, kw, channels, 1), 1.0 / (kh * kw), np.float32)])
    if config["padding"] != "same":
        return y
    scale = border_scale(tuple(int(d) for d in x.shape[1:3]), (kh, kw), tuple(strides))
    return y if np.all(scale == 1.0) else y * scale[None, :, :, None]


def border_scale(size, pool_size, strides):
    """(out_h, out_w) map of k² / (the number of input pixels each "same"-padded window
    covers): what turns the depthwise sum / k² into the average over real pixels."""
    return np.outer(*(_window_counts(n, k, s) for n, k, s in zip(size, pool_size, strides))
                    ).astype(np.float32) ** -1 * (pool_size[0] * pool_size[1])


def _window_counts(size, kernel, stride):
    """Per output position along one axis: how many of the kernel's taps land inside."""
    outputs = -(-size // stride)
    pad_before = max((outputs - 1) * stride + kernel - size, 0) // 2
    starts = np.arange(outputs) * stride - pad_before
    return np.clip(starts + kernel, 0, size) - np.clip(starts, 0, size)
