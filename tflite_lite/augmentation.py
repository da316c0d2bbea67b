"""Training augmentations by name, for any dataset: `load_dataset(..., augment=("flip", ...))`.

- `flip`: random left-right flip.
- `translate`: pad by 1/8 of a side, random crop.

And what a camera sends instead of a dataset's clean image, for objects on a dark background
(Fashion-MNIST, MNIST), where the pixel value is read as how much of the object covers it:

- `polarity`: half the images become a dark object on a light background (clothes on a table),
  the rest stay light on dark.
- `background`: the background is not black: a random level, a gradient and a smooth texture.
- `contrast`: contrast x0.6-1.4 and brightness ±40.
- `blur`: a Gaussian blur of 0-1.2 px.
- `noise`: Gaussian sensor noise of 0-8 levels.
- `rotate`: a rotation of up to ±15°.
- `scale`: the object shrunk to 60-100% of the side and moved within the frame (the framing
  jitter of a hand-held camera).

Each works on one 0-255 float image (H, W, C) at the model's size with a stateless seed, so a
run's augmentation is repeatable; `augment_image` applies them in a fixed order (geometry,
composition, optics, sensor).
"""

import math

from tflite_lite._keras import tf
from tflite_lite.errors import UserError

CAMERA_AUGMENTATIONS = ("polarity", "background", "contrast", "blur", "noise", "rotate", "scale")
AUGMENTATIONS = ("flip", "translate", *CAMERA_AUGMENTATIONS)
DEFAULT_AUGMENTATIONS = ("flip", "translate")  # what training uses unless told otherwise


def validate_augmentations(augment):
    """`augment` (names, or one comma-separated string; "none" is dropped) as a tuple.

    Raises:
      UserError: an unknown name.
    """
    if isinstance(augment, str):
        augment = [part.strip() for part in augment.split(",") if part.strip()]
    augment = tuple(a for a in augment if a != "none")
    unknown = sorted(set(augment) - set(AUGMENTATIONS))
    if unknown:
        raise UserError(f"unknown augmentation {', '.join(unknown)}; "
                        f"choose from {', '.join(AUGMENTATIONS)}")
    return augment


def _uniform(seed, low, high, shape=()):
    return tf.random.stateless_uniform(shape, seed, low, high)


def _geometry(image, seed, rotate, scale):
    """Rotation about the centre, then a shrink and a shift that keep the object inside."""
    height, width = image.shape[0], image.shape[1]
    angle = _uniform(seed, -15.0, 15.0) * (math.pi / 180) if rotate else tf.constant(0.0)
    zoom = _uniform(seed + 1, 0.6, 1.0) if scale else tf.constant(1.0)
    room = (1.0 - zoom) / 2
    shift_x = _uniform(seed + 2, -1.0, 1.0) * room * width if scale else tf.constant(0.0)
    shift_y = _uniform(seed + 3, -1.0, 1.0) * room * height if scale else tf.constant(0.0)
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # Output (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): the inverse mapping.
    ox, oy = cx + shift_x, cy + shift_y
    transform = tf.stack([cos, sin, cx - cos * ox - sin * oy,
                          -sin, cos, cy + sin * ox - cos * oy, 0.0, 0.0])
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=image[tf.newaxis], transforms=transform[tf.newaxis],
        output_shape=[height, width], fill_value=0.0, interpolation="BILINEAR",
        fill_mode="CONSTANT")[0]


def _composite(image, seed, polarity, background):
    """The object (its pixel values as coverage) laid over a new background."""
    height, width, channels = image.shape
    coverage = image / 255.0
    light_object = _uniform(seed, 0.0, 1.0) >= 0.5 if polarity else tf.constant(True)
    levels = _uniform(seed + 1, 0.0, 1.0, (2,))
    object_level = tf.where(light_object, 160.0 + 95.0 * levels[0], 100.0 * levels[0])
    if background:
        ground = tf.where(light_object, 110.0 * levels[1], 140.0 + 115.0 * levels[1])
        ys, xs = tf.meshgrid(tf.linspace(-0.5, 0.5, height), tf.linspace(-0.5, 0.5, width),
                             indexing="ij")
        tilt = _uniform(seed + 2, -40.0, 40.0, (2,))
        texture = tf.image.resize(tf.random.stateless_normal((4, 4, 1), seed + 3),
                                  (height, width), method="bicubic")[..., 0]
        strength = _uniform(seed + 4, 0.0, 20.0)
        ground = ground + tilt[0] * xs + tilt[1] * ys + strength * texture
        ground = ground[..., tf.newaxis]
    else:
        ground = tf.where(light_object, 0.0, 255.0)
    return ground * (1.0 - coverage) + object_level * coverage


def _blur(image, seed):
    sigma = _uniform(seed, 0.0, 1.2) + 1e-3
    taps = tf.range(-2.0, 3.0)
    kernel = tf.exp(-0.5 * (taps / sigma) ** 2)
    kernel = kernel / tf.reduce_sum(kernel)
    channels = image.shape[-1]
    rows = tf.tile(tf.reshape(kernel, (5, 1, 1, 1)), (1, 1, channels, 1))
    columns = tf.tile(tf.reshape(kernel, (1, 5, 1, 1)), (1, 1, channels, 1))
    padded = tf.pad(image[tf.newaxis], [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    return tf.nn.depthwise_conv2d(out, columns, [1, 1, 1, 1], "VALID")[0]


def augment_image(image, seed, augment):
    """One 0-255 float image (H, W, C) augmented by the names in `augment`, with the stateless
    `seed` (shape (2,), int); returns float32 clipped to 0-255."""
    if "flip" in augment:
        image = tf.image.stateless_random_flip_left_right(image, seed)
    if "translate" in augment:
        height, width, _ = image.shape
        pad_h, pad_w = max(1, height // 8), max(1, width // 8)
        padded = tf.pad(image, [[pad_h, pad_h], [pad_w, pad_w], [0, 0]])
        image = tf.image.stateless_random_crop(padded, tf.shape(image), seed + 1)
    if "rotate" in augment or "scale" in augment:
        image = _geometry(image, seed + 2, "rotate" in augment, "scale" in augment)
    if "polarity" in augment or "background" in augment:
        image = _composite(image, seed + 10, "polarity" in augment, "background" in augment)
    if "blur" in augment:
        image = _blur(image, seed + 20)
    if "contrast" in augment:
        image = tf.image.stateless_random_contrast(image, 0.6, 1.4, seed + 30)
        image = image + _uniform(seed + 31, -40.0, 40.0)
    if "noise" in augment:
        sigma = _uniform(seed + 40, 0.0, 8.0)
        image = image + sigma * tf.random.stateless_normal(tf.shape(image), seed + 41)
    return tf.clip_by_value(image, 0.0, 255.0)
