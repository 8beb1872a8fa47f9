"""Data augmentation as one Keras layer that resamples each image once, compiled by XLA.

:class:`ImageAugmentation` draws, per image, the transforms of the four Keras
layers skfashion used before (``RandomFlip("horizontal")``,
``RandomTranslation(0.1, 0.1)``, ``RandomRotation(0.03)``, ``RandomZoom(0.1)``,
constant fill), with their distributions and conventions, composes them in
that order into one affine map and resamples the image once (bilinear, 0
outside). Four resamplings blurred the image four times and used an image
operation that XLA cannot compile; the gathers here compile, so augmented
networks train with XLA like the others.

This module imports TensorFlow: it is imported where a network is built or
loaded, never by ``import skfashion``.
"""

import math

import numpy as np

from ._tf import import_tensorflow

tf, keras = import_tensorflow()

FLIP_PROBABILITY = 0.5
"""Chance that an image is mirrored left to right."""

SHIFT = 0.1
"""Largest shift, as a fraction of the height (up and down) and of the width (sideways)."""

ROTATION = 0.03
"""Largest rotation, as a fraction of a full turn (0.03 * 360 = 10.8 degrees) either way."""

ZOOM = 0.1
"""Largest change of scale either way, the same for height and width."""

_INT32_MAX = 2**31 - 1

PARAMETERS = ("flip", "shift_x", "shift_y", "angle", "zoom")
"""The transform parameters drawn per image, in the columns of one uniform draw."""


@keras.saving.register_keras_serializable(package="skfashion")
class ImageAugmentation(keras.layers.Layer):
    """Random flip, shift, rotation and zoom of flattened images, in training only.

    Per image: a left-right flip with probability :data:`FLIP_PROBABILITY`; a
    shift uniform in ``+-SHIFT`` of the width (x) and of the height (y); a
    rotation uniform in ``+-ROTATION * 2 * pi`` radians about the image centre;
    a zoom factor uniform in ``1 +- ZOOM`` about the centre, the same for both
    axes. These are Keras' conventions for ``RandomFlip``, ``RandomTranslation``,
    ``RandomRotation`` and ``RandomZoom`` (``width_factor=None``), composed in
    that order; the image is resampled once, bilinear, with 0 outside it.

    Random numbers come from one ``keras.random.SeedGenerator`` (its state is
    a variable named ``seed_generator_state``, like a Dropout layer's), one
    Philox draw per batch, so a seed gives the same transforms bit for bit,
    compiled by XLA or not.

    Parameters
    ----------
    image_shape : tuple of int, default=(28, 28)
        Height and width of the images, whose pixels arrive flattened row by row.
    seed : int, default=None
        Seed of the layer's random stream.
    **kwargs
        Passed to ``keras.layers.Layer`` (``name``, ``dtype``...).

    Examples
    --------
    >>> import numpy as np
    >>> layer = ImageAugmentation(seed=0)
    >>> images = np.arange(2 * 784, dtype="float32").reshape(2, 784)
    >>> bool(np.array_equal(layer(images, training=False), images))
    True
    >>> layer(images, training=True).shape
    TensorShape([2, 784])
    """

    def __init__(self, image_shape=(28, 28), seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(int(size) for size in image_shape)
        self.seed = seed
        self.generator = keras.random.SeedGenerator(seed)

    def call(self, inputs, training=False):
        images = tf.cast(inputs, self.compute_dtype)
        if not training:
            return images
        parameters = self.draw_parameters(tf.shape(images)[0])
        return resample(images, affine_matrices(parameters, self.image_shape), self.image_shape)

    def draw_parameters(self, n):
        """The transforms of ``n`` images, one draw of the layer's random stream.

        Returns
        -------
        parameters : dict of str to Tensor of shape (n,)
            ``flip`` (bool), ``shift_x`` and ``shift_y`` (pixels: the image
            content moves right and down by these), ``angle`` (radians),
            ``zoom`` (above 1 shrinks the content).
        """
        u = _uniform(self.generator, (n, len(PARAMETERS)))
        flip, shift_x, shift_y, angle, zoom = tf.unstack(u, axis=1)
        height, width = self.image_shape
        return {
            "flip": flip < FLIP_PROBABILITY,
            "shift_x": _symmetric(shift_x, SHIFT * width),
            "shift_y": _symmetric(shift_y, SHIFT * height),
            "angle": _symmetric(angle, ROTATION * 2 * math.pi),
            "zoom": 1.0 + _symmetric(zoom, ZOOM),
        }

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape, "seed": self.seed}


def _uniform(generator, shape):
    """Uniform floats on [0, 1) from 32 random bits each, the same compiled by XLA or not.

    TensorFlow's float draws differ under XLA (another algorithm when chosen
    automatically, another bits-to-float conversion even for Philox), while
    Philox's integer bits agree: the top 24 bits, scaled, are the float.
    """
    seed = tf.cast(tf.math.floormod(generator.next(), _INT32_MAX), tf.int32)
    bits = tf.random.stateless_uniform(
        shape, seed=seed, minval=None, maxval=None, dtype=tf.uint32, alg="philox"
    )
    return tf.cast(tf.bitwise.right_shift(bits, 8), tf.float32) * 2.0**-24


def _symmetric(u, bound):
    """Uniform on ``[-bound, bound)`` from uniform on ``[0, 1)``."""
    return (2.0 * u - 1.0) * bound


def affine_matrices(parameters, image_shape):
    """The maps from output to input pixel coordinates of the drawn transforms.

    Keras' order: the output of zoom ``Z`` samples the rotated image at
    ``Z p``, which samples the shifted one at ``R Z p``, and so on back to the
    original image at ``F T R Z p`` (flip ``F``, shift ``T``, rotation ``R``).

    Returns
    -------
    matrices : Tensor of shape (n, 6)
        Rows ``[a0, a1, a2, b0, b1, b2]``: output pixel (x, y) (column, row)
        samples the input at ``(a0 x + a1 y + a2, b0 x + b1 y + b2)``, as in
        ``keras.ops.image.affine_transform``.
    """
    height, width = image_shape
    cx, cy = (width - 1) / 2, (height - 1) / 2
    sign = tf.where(parameters["flip"], -1.0, 1.0)
    cos = parameters["zoom"] * tf.cos(parameters["angle"])
    sin = parameters["zoom"] * tf.sin(parameters["angle"])
    a0, a1, b0, b1 = sign * cos, -sign * sin, sin, cos
    a2 = cx - a0 * cx - a1 * cy - sign * parameters["shift_x"]
    b2 = cy - b0 * cx - b1 * cy - parameters["shift_y"]
    return tf.stack([a0, a1, a2, b0, b1, b2], axis=1)


def resample(images, matrices, image_shape):
    """Bilinear resampling of flattened images at affine coordinates, 0 outside.

    Each output pixel reads its four neighbours with gathers (which XLA
    compiles), weighted as TensorFlow's ``ImageProjectiveTransformV3`` does.

    Parameters
    ----------
    images : Tensor of shape (n, height * width), float32
    matrices : Tensor of shape (n, 6)
        See :func:`affine_matrices`.
    image_shape : tuple of int
        ``(height, width)``.
    """
    height, width = image_shape
    rows, columns = (c.ravel() for c in np.indices(image_shape, dtype=np.float32))
    a0, a1, a2, b0, b1, b2 = (m[:, None] for m in tf.unstack(matrices, axis=1))
    x = a0 * columns + a1 * rows + a2
    y = b0 * columns + b1 * rows + b2
    x_floor, y_floor = tf.floor(x), tf.floor(y)
    x_left, y_top = tf.cast(x_floor, tf.int32), tf.cast(y_floor, tf.int32)

    def pixel(row, column):
        inside = (row >= 0) & (row < height) & (column >= 0) & (column < width)
        index = tf.where(inside, row * width + column, 0)
        return tf.where(inside, tf.gather(images, index, batch_dims=1), 0.0)

    def line(row):
        left, right = pixel(row, x_left), pixel(row, x_left + 1)
        return (x_floor + 1.0 - x) * left + (x - x_floor) * right

    return (y_floor + 1.0 - y) * line(y_top) + (y - y_floor) * line(y_top + 1)
