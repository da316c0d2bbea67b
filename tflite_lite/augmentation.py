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
- `scale`: the object shrunk to 45-100% of the side and moved within the frame (the framing
  jitter of a hand-held camera).

`augment_batch` works on a batch of 0-255 float images (B, H, W, C) at the model's size, with
one stateless seed per batch and its own random values per image, so a run's augmentation is
repeatable; it applies them in a fixed order (geometry, composition, optics, sensor). One batch
at a time, not one image at a time, keeps the augmentation a small part of a training step.

`nothing_images` draws what a camera sees with no object in front of it (a flat, tilted or
textured surface, or sensor noise): the examples of the "nothing" class that
`load_dataset(..., nothing_fraction=...)` adds, so that a model can say "nothing here".
`load_dataset(..., plain_fraction=...)` leaves a share of the images with the dataset's own
look (flip and translate only), so that a camera model still learns the clean test images.
"""

import math

from tflite_lite import _lazy
from tflite_lite.errors import UserError

tf = _lazy.Proxy("tflite_lite._keras", "tf")  # the option names and checks load without it

CAMERA_AUGMENTATIONS = ("polarity", "background", "contrast", "blur", "noise", "rotate", "scale")
AUGMENTATIONS = ("flip", "translate", *CAMERA_AUGMENTATIONS)
DEFAULT_AUGMENTATIONS = ("flip", "translate")  # what training uses unless told otherwise
NOTHING_CLASS = "nothing"  # the class name of garment-free frames


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


def check_fraction(name, value):
    """Raises `UserError` unless `value` is a number in [0, 1)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
        raise UserError(f"{name} must be in [0, 1), got {value!r}")



def _uniform(seed, low, high, shape=()):
    return tf.random.stateless_uniform(shape, seed, low, high)


def _per_image(values):
    """(B,) values shaped to broadcast over (B, H, W, C)."""
    return values[:, tf.newaxis, tf.newaxis, tf.newaxis]


def _grid(height, width):
    """Pixel coordinates from -0.5 to 0.5, shaped (1, H, W, 1)."""
    ys, xs = tf.meshgrid(tf.linspace(-0.5, 0.5, height), tf.linspace(-0.5, 0.5, width),
                         indexing="ij")
    return ys[tf.newaxis, ..., tf.newaxis], xs[tf.newaxis, ..., tf.newaxis]


def _geometry(images, seed, translate, rotate, scale):
    """Per image: a rotation about the centre, a shrink and a shift that keep the object inside,
    and a whole-pixel translation of up to 1/8 of a side (zeros come in)."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    zeros = tf.zeros((batch,))
    angle = _uniform(seed, -15.0, 15.0, (batch,)) * (math.pi / 180) if rotate else zeros
    zoom = _uniform(seed + 1, 0.45, 1.0, (batch,)) if scale else zeros + 1.0
    room = (1.0 - zoom) / 2
    shift_x = _uniform(seed + 2, -1.0, 1.0, (batch,)) * room * width if scale else zeros
    shift_y = _uniform(seed + 3, -1.0, 1.0, (batch,)) * room * height if scale else zeros
    if translate:
        pad_h, pad_w = max(1, height // 8), max(1, width // 8)
        shift_x += tf.floor(_uniform(seed + 4, -pad_w, pad_w + 1.0, (batch,)))
        shift_y += tf.floor(_uniform(seed + 5, -pad_h, pad_h + 1.0, (batch,)))
    cx, cy = (width - 1) / 2, (height - 1) / 2
    cos, sin = tf.cos(angle) / zoom, tf.sin(angle) / zoom
    # Output (x, y) reads input (a0 x + a1 y + a2, b0 x + b1 y + b2): the inverse mapping.
    ox, oy = cx + shift_x, cy + shift_y
    transforms = tf.stack([cos, sin, cx - cos * ox - sin * oy,
                           -sin, cos, cy + sin * ox - cos * oy, zeros, zeros], axis=1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=[height, width], fill_value=0.0,
        interpolation="BILINEAR", fill_mode="CONSTANT")


def _texture(seed, batch, height, width, max_strength):
    """Per image, smooth random shading of up to `max_strength` levels (a 4x4 noise field,
    upsampled), shaped (B, H, W, 1)."""
    field = tf.image.resize(tf.random.stateless_normal((batch, 4, 4, 1), seed), (height, width),
                            method="bicubic")
    return _per_image(_uniform(seed + 1, 0.0, max_strength, (batch,))) * field


def _composite(images, seed, polarity, background):
    """Per image: the object (its pixel values as coverage) laid over a new background."""
    batch, height, width = tf.shape(images)[0], images.shape[1], images.shape[2]
    coverage = images / 255.0
    light = (_uniform(seed, 0.0, 1.0, (batch,)) >= 0.5 if polarity
             else tf.ones((batch,), tf.bool))
    level, ground_level = _uniform(seed + 1, 0.0, 1.0, (batch,)), _uniform(seed + 5, 0.0, 1.0,
                                                                           (batch,))
    if background:
        # The ground anywhere but the far end of the object's side; the object 60+ levels
        # beyond it (a light garment on grey cloth, a navy one on a beige table).
        dark_ground = 150.0 * ground_level
        ground = tf.where(light, dark_ground, 255.0 - dark_ground)
        step = 60.0 + (255.0 - 60.0 - dark_ground) * level
        object_level = _per_image(tf.where(light, ground + step, ground - step))
        ys, xs = _grid(height, width)
        tilt_x, tilt_y = (_per_image(_uniform(seed + k, -40.0, 40.0, (batch,))) for k in (2, 6))
        ground = (_per_image(ground) + tilt_x * xs + tilt_y * ys
                  + _texture(seed + 3, batch, height, width, 20.0))
    else:
        object_level = _per_image(tf.where(light, 160.0 + 95.0 * level, 100.0 * level))
        ground = _per_image(tf.where(light, 0.0, 255.0))
    return ground * (1.0 - coverage) + object_level * coverage


def _blur(images, seed):
    """Per image, a Gaussian blur of 0-1.2 px (5 taps, separable; edges mirrored)."""
    batch, height, width, channels = (tf.shape(images)[0], images.shape[1], images.shape[2],
                                      images.shape[3])
    sigma = _uniform(seed, 0.0, 1.2, (batch,)) + 1e-3
    taps = tf.range(-2.0, 3.0)
    kernels = tf.exp(-0.5 * (taps[tf.newaxis] / sigma[:, tf.newaxis]) ** 2)  # (B, 5)
    kernels = kernels / tf.reduce_sum(kernels, axis=1, keepdims=True)
    kernels = tf.reshape(tf.repeat(kernels, channels, axis=0), (-1, 5))  # (B * C, 5)
    # Each image's channels become channels of one image, so a depthwise convolution gives
    # every image its own kernel.
    stacked = tf.reshape(tf.transpose(images, (1, 2, 0, 3)), (1, height, width, -1))
    padded = tf.pad(stacked, [[0, 0], [2, 2], [2, 2], [0, 0]], mode="SYMMETRIC")
    rows = tf.transpose(kernels)[:, tf.newaxis, :, tf.newaxis]  # (5, 1, B * C, 1)
    columns = tf.transpose(kernels)[tf.newaxis, :, :, tf.newaxis]  # (1, 5, B * C, 1)
    out = tf.nn.depthwise_conv2d(padded, rows, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, columns, [1, 1, 1, 1], "VALID")
    return tf.transpose(tf.reshape(out, (height, width, batch, channels)), (2, 0, 1, 3))


def _contrast(images, seed):
    """Per image, contrast x0.6-1.4 about its mean and brightness +-40."""
    batch = tf.shape(images)[0]
    mean = tf.reduce_mean(images, axis=(1, 2, 3), keepdims=True)
    factor = _per_image(_uniform(seed, 0.6, 1.4, (batch,)))
    return (images - mean) * factor + mean + _per_image(_uniform(seed + 1, -40.0, 40.0, (batch,)))


def nothing_images(seed, shape):
    """Frames with no object in them, 0-255 float of `shape` (B, H, W, C), from the stateless
    `seed`: a surface of any brightness, tilted and shaded, and for one in four a sensor noise
    of up to 40 levels (what an area reduction leaves of a noisy or finely textured frame)."""
    batch, height, width, channels = shape
    ys, xs = _grid(height, width)
    tilt_x, tilt_y = (_per_image(_uniform(seed + k, -60.0, 60.0, (batch,))) for k in (0, 7))
    surface = (_per_image(_uniform(seed + 1, 0.0, 255.0, (batch,))) + tilt_x * xs + tilt_y * ys
               + _texture(seed + 2, batch, height, width, 30.0))
    noisy = tf.cast(_uniform(seed + 4, 0.0, 1.0, (batch,)) < 0.25, tf.float32)
    sigma = _per_image(noisy * _uniform(seed + 5, 0.0, 40.0, (batch,)))
    noise = sigma * tf.random.stateless_normal((batch, height, width, 1), seed + 6)
    return tf.clip_by_value(tf.tile(surface + noise, (1, 1, 1, channels)), 0.0, 255.0)


def augment_batch(images, seed, augment, nothing=None, plain_fraction=0.0):
    """A batch of 0-255 float images (B, H, W, C) augmented by the names in `augment`, each
    image with its own random values drawn from the stateless `seed` (shape (2,), int).

    Args:
      images: float32 (B, H, W, C), 0-255.
      seed: the batch's stateless seed.
      augment: names from `AUGMENTATIONS`.
      nothing: None, or `(labels, class_index, fraction)`: that fraction of the images become
        `nothing_images` (before the optics and sensor augmentations) labelled `class_index`.
      plain_fraction: this fraction of the other images keep the dataset's own look: flip
        and translate only, whatever else `augment` names.

    Returns:
      float32 images clipped to 0-255; with `nothing`, `(images, labels)`.
    """
    images = tf.convert_to_tensor(images, tf.float32)
    shape = tf.shape(images)
    if "flip" in augment:
        flip = _per_image(_uniform(seed, 0.0, 1.0, (shape[0],))) < 0.5
        images = tf.where(flip, images[:, :, ::-1, :], images)
    plain = images
    if "translate" in augment and plain_fraction:
        plain = _geometry(images, seed + 2, True, False, False)
    if {"translate", "rotate", "scale"} & set(augment):
        images = _geometry(images, seed + 2, "translate" in augment, "rotate" in augment,
                           "scale" in augment)
    if "polarity" in augment or "background" in augment:
        images = _composite(images, seed + 10, "polarity" in augment, "background" in augment)
    if nothing is not None:
        labels, class_index, fraction = nothing
        picked = _uniform(seed + 50, 0.0, 1.0, (shape[0],)) < fraction
        blank = nothing_images(seed + 60, (shape[0], *images.shape[1:]))
        images = tf.where(_per_image(picked), blank, images)
        labels = tf.where(picked, tf.cast(class_index, labels.dtype), labels)
    if "blur" in augment:
        images = _blur(images, seed + 20)
    if "contrast" in augment:
        images = _contrast(images, seed + 30)
    if "noise" in augment:
        sigma = _per_image(_uniform(seed + 40, 0.0, 8.0, (shape[0],)))
        images = images + sigma * tf.random.stateless_normal(shape, seed + 41)
    if plain_fraction:
        keep = _uniform(seed + 70, 0.0, 1.0, (shape[0],)) < plain_fraction
        if nothing is not None:
            keep = keep & ~picked
        images = tf.where(_per_image(keep), plain, images)
    images = tf.clip_by_value(images, 0.0, 255.0)
    return images if nothing is None else (images, labels)
