"""AdaRound (Nagel et al. 2020, "Up or Down? Adaptive Rounding for Post-Training
Quantization"): each kernel rounded up or down, per weight, so that the layer's output on the
calibration images stays closest to float, instead of to the nearest int8 value.

Per linear layer, in topological order, with its inputs X on the calibration images (from the
model whose earlier layers are already rounded, so each layer also absorbs their error):
W_soft = s * clip(floor(W / s) + h(V), -127, 127), h(V) = clip(sigmoid(V) * 1.2 - 0.1, 0, 1),
V initialized so that W_soft = W. Adam minimizes ||W_soft * X - W * X||^2 (mean) plus
lambda * sum(1 - |2 h(V) - 1|^beta), the regularizer that pushes each h(V) to 0 or 1, off for
the first 20% of the iterations and with beta annealed linearly from 20 to 2 (the paper's
schedule, lambda = 0.01).
The kernel becomes s * (floor(W / s) + [h(V) >= 0.5]), or the nearest rounding where that is
no worse on the calibration inputs: on TFLite's own int8 grid (scale
max |w| / 127 per output channel, or per tensor), which the converter then keeps exactly.
"""

import time

import numpy as np

from tflite_lite._keras import keras, tf
from tflite_lite.compression.ptq.folding import is_linear_layer, linear_map
from tflite_lite.compression.ptq.grid import quantized_kernel, weight_scale
from tflite_lite.errors import UserError

MIN_IMAGES = 64  # fewer calibration images over-fit the rounding to them
_ZETA, _GAMMA = 1.1, -0.1
_LAMBDA = 0.01
_WARMUP = 0.2
_BETA = (20.0, 2.0)
_BATCH = 32
_LEARNING_RATE = 1e-2
_PROBE_STEPS = 5
_MIN_ITERATIONS = 50
_CHECK_IMAGES = 64  # the report's output errors
_INPUT_FLOATS = 2 ** 26  # a layer's stored inputs at most (256 MB): fewer images at 224 px


def _rectified_sigmoid(v):
    return tf.clip_by_value(tf.sigmoid(v) * (_ZETA - _GAMMA) + _GAMMA, 0.0, 1.0)


def check_calibration(images):
    """Raises `UserError` for fewer than `MIN_IMAGES` calibration images."""
    if len(images) < MIN_IMAGES:
        raise UserError(f"AdaRound needs at least {MIN_IMAGES} calibration images, got "
                        f"{len(images)} (raise representative_examples)")


def unsupported_reason(layer):
    """Why AdaRound leaves `layer` as it is, or None for a layer it rounds."""
    if not is_linear_layer(layer):
        return "grouped convolution" if getattr(layer, "groups", 1) != 1 else "not linear"
    if layer.get_config().get("data_format", "channels_last") != "channels_last":
        return "channels_first"
    return None


def round_layer(layer, inputs, per_tensor=False, max_iterations=1000, seconds=10.0, seed=0):
    """Sets `layer`'s kernel to its adaptive rounding on `inputs`; returns its report.

    Args:
      layer: a linear layer in canonical form (see `folding`).
      inputs: its float inputs on the calibration images, numpy (N, ...).
      per_tensor: one scale per tensor. Defaults to False.
      max_iterations: optimization steps at most. Defaults to 1,000.
      seconds: the time budget: fewer iterations (same schedule) where steps are slow.
        Defaults to 10.
      seed: batch sampling seed. Defaults to 0.

    Returns:
      {"iterations", "seconds", "flipped" (share of weights rounded away from nearest),
       "output_mse_nearest", "output_mse_adaround" (on up to 64 of the inputs), "kept"
       ("adaround", or "nearest" where that was no worse)}.
    """
    started = time.perf_counter()
    kernel, bias = layer.get_weights()
    scale = weight_scale(layer, kernel, per_tensor)
    floor = np.floor(kernel / scale)
    fraction = np.clip(kernel / scale - floor, 0.01, 0.99)
    # h(V) = fraction at the start: V = logit((fraction - gamma) / (zeta - gamma)).
    p = (fraction - _GAMMA) / (_ZETA - _GAMMA)
    v = tf.Variable(np.log(p / (1 - p)).astype(np.float32))
    linear = linear_map(layer)
    w_float, s, w_floor = (tf.constant(a, tf.float32) for a in (kernel, scale, floor))
    x_all = tf.constant(inputs, tf.float32)
    optimizer = keras.optimizers.Adam(_LEARNING_RATE)
    rng = np.random.default_rng(seed)

    nearest = quantized_kernel(layer, kernel, per_tensor)
    x_check = x_all[:_CHECK_IMAGES]
    reference = linear(x_check, w_float)

    def output_mse(weights):
        return float(tf.reduce_mean(tf.square(linear(x_check, weights) - reference)))

    # The output error in units of nearest rounding's, so that lambda means the same in every
    # layer whatever its scale; the regularizer averaged over the weights.
    unit = max(output_mse(nearest), 1e-30)

    @tf.function
    def step(x, beta, weight):
        with tf.GradientTape() as tape:
            soft = s * tf.clip_by_value(w_floor + _rectified_sigmoid(v), -127.0, 127.0)
            error = tf.reduce_mean(tf.square(linear(x, soft) - linear(x, w_float))) / unit
            h = _rectified_sigmoid(v)
            regular = tf.reduce_mean(1.0 - tf.pow(tf.abs(2.0 * h - 1.0), beta))
            loss = error + weight * _LAMBDA * regular
        optimizer.apply_gradients([(tape.gradient(loss, v), v)])
        return error

    def batch():
        return tf.gather(x_all, rng.integers(0, len(inputs), min(_BATCH, len(inputs))))

    # Trace the step, time a few (warm-up steps, no regularizer), then fit the schedule into
    # what is left of the budget.
    beta, weight = tf.constant(_BETA[0]), tf.constant(0.0)
    step(batch(), beta, weight)
    probe_started = time.perf_counter()
    for _ in range(_PROBE_STEPS):
        step(batch(), beta, weight)
    per_step = (time.perf_counter() - probe_started) / _PROBE_STEPS
    left = seconds - (time.perf_counter() - started)
    iterations = int(np.clip(left / max(per_step, 1e-6), _MIN_ITERATIONS, max_iterations))
    warmup = int(_WARMUP * iterations)
    for i in range(_PROBE_STEPS, iterations):
        if i >= warmup:  # the regularizer on, beta from 20 down to 2 linearly
            progress = (i - warmup) / max(1, iterations - warmup)
            beta = tf.constant(_BETA[0] + (_BETA[1] - _BETA[0]) * progress, tf.float32)
            weight = tf.constant(1.0)
        step(batch(), beta, weight)
    up = (_rectified_sigmoid(v).numpy() >= 0.5).astype(np.float32)
    rounded = (scale * np.clip(floor + up, -127, 127)).astype(kernel.dtype)

    report = {"iterations": iterations,
              "flipped": float(np.mean(rounded != nearest)),
              "output_mse_nearest": output_mse(nearest),
              "output_mse_adaround": output_mse(rounded)}
    # Where the learned rounding is no better on the images it saw, nearest stays.
    report["kept"] = ("adaround" if report["output_mse_adaround"] < report["output_mse_nearest"]
                      else "nearest")
    layer.set_weights([rounded if report["kept"] == "adaround" else nearest, bias])
    report["seconds"] = time.perf_counter() - started
    return report


def adaround(model, images, per_tensor=False, seconds_per_layer=10.0, max_iterations=1000):
    """Rounds every linear layer of a canonical-form model (`fold_batch_norms`) adaptively, in
    place, in topological order, each on its inputs from `images` (earlier layers rounded).

    Raises:
      UserError: fewer than `MIN_IMAGES` calibration images.

    Returns:
      {"layers": {name: report (see `round_layer`)}, "skipped": {name: reason}}.
    """
    check_calibration(images)
    layers, skipped = [], {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or not layer.weights:
            continue
        reason = unsupported_reason(layer)
        if reason is None:
            layers.append(layer)
        elif isinstance(layer, (keras.layers.Conv2D, keras.layers.Dense)):
            skipped[layer.name] = reason
    report = {"layers": {}, "skipped": skipped}
    for layer in layers:
        probe = keras.Model(model.inputs, layer.input)
        per_image = int(np.prod(layer.input_shape[1:]))
        count = min(len(images), max(MIN_IMAGES, _INPUT_FLOATS // per_image))
        inputs = np.concatenate([probe(images[i:min(i + 64, count)], training=False).numpy()
                                 for i in range(0, count, 64)])
        report["layers"][layer.name] = round_layer(layer, inputs, per_tensor, max_iterations,
                                                   seconds_per_layer)
    return report
