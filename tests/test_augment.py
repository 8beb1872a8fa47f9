"""The augmentation layer: Keras' four transforms, drawn and composed, one resampling."""

import copy
import math
import pickle

import numpy as np
import pytest

from skfashion import FashionMLP
from skfashion import _augment as augment

tf, keras = augment.tf, augment.keras
SHAPE = (28, 28)
IDENTITY = {"flip": False, "shift_x": 0.0, "shift_y": 0.0, "angle": 0.0, "zoom": 1.0}


@pytest.fixture(scope="module")
def images(fashion_train):
    """Eight real images, float32, flattened."""
    return fashion_train.data[:8].astype(np.float32)


def _parameters(n, **changes):
    """Parameters of ``n`` images: the identity but ``changes`` (scalars or arrays)."""
    return {
        key: tf.broadcast_to(tf.constant(value, dtype=tf.bool if key == "flip" else tf.float32),
                             (n,))
        for key, value in {**IDENTITY, **changes}.items()
    }


def _transform(images, **changes):
    """Resample ``images`` with one transform for all of them (the identity but ``changes``)."""
    matrices = augment.affine_matrices(_parameters(len(images), **changes), SHAPE)
    return augment.resample(images, matrices, SHAPE).numpy()


def _square(flat):
    return np.asarray(flat).reshape(-1, *SHAPE)


# ----------------------------------------------------------------------------- the draws
def test_drawn_transforms_follow_the_documented_distribution():
    n = 20_000
    drawn = {k: v.numpy() for k, v in augment.ImageAugmentation(seed=0).draw_parameters(n).items()}
    assert abs(drawn["flip"].mean() - augment.FLIP_PROBABILITY) < 0.015  # 4 standard errors
    bounds = {
        "shift_x": augment.SHIFT * 28,  # 2.8 pixels
        "shift_y": augment.SHIFT * 28,
        "angle": augment.ROTATION * 2 * math.pi,  # 0.188 rad = 10.8 degrees
    }
    zoom = drawn.pop("zoom") - 1.0
    for name, values in [*((k, drawn[k]) for k in bounds), ("zoom", zoom)]:
        bound = bounds.get(name, augment.ZOOM)
        assert values.min() >= -bound and values.max() <= bound, name
        assert values.min() < -0.99 * bound and values.max() > 0.99 * bound, name
        assert abs(values.mean()) < 0.02 * bound, name  # uniform: mean 0 ...
        assert values.std() == pytest.approx(bound / math.sqrt(3), rel=0.02), name  # ... flat
    columns = np.stack([drawn["flip"], *(drawn[k] for k in bounds), zoom])
    correlations = np.corrcoef(columns)[np.triu_indices(len(columns), 1)]
    assert np.abs(correlations).max() < 0.04  # independent parameters


def test_each_batch_draws_anew_and_a_seed_repeats_its_draws():
    a, b = augment.ImageAugmentation(seed=3), augment.ImageAugmentation(seed=3)
    first, second = (a.draw_parameters(64)["angle"].numpy() for _ in range(2))
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(b.draw_parameters(64)["angle"].numpy(), first)
    other = augment.ImageAugmentation(seed=4).draw_parameters(64)["angle"].numpy()
    assert not np.array_equal(other, first)


# ----------------------------------------------------------------------------- known transforms
def test_identity_flip_and_shifts_of_real_images_are_exact(images):
    square = _square(images)
    np.testing.assert_array_equal(_transform(images), images)
    np.testing.assert_array_equal(_square(_transform(images, flip=True)), square[:, :, ::-1])
    right = np.roll(square, 1, axis=2)
    right[:, :, 0] = 0
    np.testing.assert_array_equal(_square(_transform(images, shift_x=1.0)), right)
    up = np.roll(square, -2, axis=1)
    up[:, -2:, :] = 0
    np.testing.assert_array_equal(_square(_transform(images, shift_y=-2.0)), up)


def test_quarter_turn_is_rot90_and_half_pixel_shift_averages_neighbours(images):
    square = _square(images)
    turned = _square(_transform(images, angle=math.pi / 2))
    np.testing.assert_allclose(turned, np.rot90(square, 1, axes=(1, 2)), atol=1e-3)
    half = _square(_transform(images, shift_x=0.5))
    padded = np.pad(square, ((0, 0), (0, 0), (1, 0)))
    np.testing.assert_allclose(half, (padded[:, :, :-1] + padded[:, :, 1:]) / 2, rtol=1e-6)


@pytest.mark.parametrize(
    "keras_layer, ours",
    [
        (lambda: keras.layers.RandomFlip("horizontal", seed=1),
         lambda t: {"flip": t["flips"].numpy().ravel()}),
        (lambda: keras.layers.RandomTranslation(0.1, 0.1, fill_mode="constant", seed=1),
         lambda t: {"shift_x": t["translations"][:, 0], "shift_y": t["translations"][:, 1]}),
        (lambda: keras.layers.RandomRotation(0.03, fill_mode="constant", seed=1),
         lambda t: {"angle": t["angle"] * math.pi / 180}),
        (lambda: keras.layers.RandomZoom(0.1, fill_mode="constant", seed=1),
         lambda t: {"zoom": t["height_zoom"][:, 0]}),
    ],
    ids=["flip", "translation", "rotation", "zoom"],
)
def test_each_transform_has_the_conventions_of_its_keras_layer(images, keras_layer, ours):
    """Keras' layer, given its own random transform, resamples as we do with its parameters."""
    layer = keras_layer()
    batch = images.reshape(-1, *SHAPE, 1)
    transformation = layer.get_random_transformation(batch, training=True)
    expected = layer.transform_images(batch, transformation, training=True).numpy()
    got = _transform(images, **ours(transformation))
    np.testing.assert_allclose(got, expected.reshape(len(images), -1), atol=2e-3)


def test_transforms_compose_in_keras_order_flip_shift_rotation_zoom():
    drawn = {k: v[:5] for k, v in augment.ImageAugmentation(seed=2).draw_parameters(5).items()}

    def matrix(**only):
        row = augment.affine_matrices(_parameters(5, **only), SHAPE).numpy()
        return np.concatenate([row.reshape(5, 2, 3), np.tile([[[0, 0, 1]]], (5, 1, 1))], axis=1)

    flip, zoom, angle = (matrix(**{k: drawn[k]}) for k in ("flip", "zoom", "angle"))
    shift = matrix(shift_x=drawn["shift_x"], shift_y=drawn["shift_y"])
    composed = flip @ shift @ angle @ zoom  # output -> input: zoom's output samples rotation's
    np.testing.assert_allclose(matrix(**drawn)[:, :2], composed[:, :2], rtol=1e-5, atol=1e-5)


def test_resampling_equals_tensorflows_image_transform(images):
    layer = augment.ImageAugmentation(seed=5)
    matrices = augment.affine_matrices(layer.draw_parameters(len(images)), SHAPE)
    expected = keras.ops.image.affine_transform(
        images.reshape(-1, *SHAPE, 1), tf.concat([matrices, tf.zeros((len(images), 2))], axis=1),
        interpolation="bilinear", fill_mode="constant",
    )
    got = augment.resample(images, matrices, SHAPE).numpy()
    np.testing.assert_allclose(got, np.reshape(expected, got.shape), rtol=0, atol=1e-4)


# ----------------------------------------------------------------------------- the layer
def test_inference_is_the_identity_and_training_transforms(images):
    layer = augment.ImageAugmentation(seed=0)
    pixels = images.astype(np.uint8)
    np.testing.assert_array_equal(layer(pixels, training=False).numpy(), images)
    np.testing.assert_array_equal(layer(pixels).numpy(), images)
    assert not np.array_equal(layer(pixels, training=True).numpy(), images)


def test_same_seed_same_bits(images):
    a, b = augment.ImageAugmentation(seed=7), augment.ImageAugmentation(seed=7)
    for _ in range(2):
        np.testing.assert_array_equal(a(images, training=True).numpy(),
                                      b(images, training=True).numpy())


def test_xla_compiled_and_eager_agree(images):
    """The same random bits; transforms and pixels to float rounding (XLA fuses arithmetic)."""
    eager, compiled = augment.ImageAugmentation(seed=9), augment.ImageAugmentation(seed=9)
    bits = tf.function(lambda: augment._uniform(compiled.generator, (256, 5)), jit_compile=True)
    np.testing.assert_array_equal(bits().numpy(), augment._uniform(eager.generator, (256, 5)))
    run = tf.function(lambda x: compiled(x, training=True), jit_compile=True)
    for _ in range(2):  # the seed state advances alike
        np.testing.assert_allclose(run(images).numpy(), eager(images, training=True).numpy(),
                                   rtol=1e-5, atol=1e-3)
    np.testing.assert_array_equal(compiled.generator.state.numpy(),
                                  eager.generator.state.numpy())


def test_config_round_trip_and_keras_file(tmp_path, images):
    layer = augment.ImageAugmentation(seed=11, name="augmentation")
    again = augment.ImageAugmentation.from_config(layer.get_config())
    assert (again.seed, again.image_shape, again.name) == (11, SHAPE, "augmentation")
    inputs = keras.Input((784,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras")
    assert isinstance(loaded.layers[1], augment.ImageAugmentation)
    np.testing.assert_array_equal(loaded(images, training=True).numpy(),
                                  model(images, training=True).numpy())


# ----------------------------------------------------------------------------- the estimator
AUGMENTED = dict(hidden_layer_sizes=(16,), augment=True, batch_size=64, validation_fraction=0.2,
                 random_state=0)

def test_augmented_estimator_warm_starts_through_pickle_bitwise(small_xy, monkeypatch):
    X, y = small_xy[0][:300], small_xy[1][:300]
    once = FashionMLP(**AUGMENTED, epochs=4).fit(X, y)
    twice = FashionMLP(**AUGMENTED, epochs=2, warm_start=True).fit(X, y)
    data, deep = pickle.dumps(twice), copy.deepcopy(twice)
    # As in a fresh process: the class is found without Keras' global registry.
    monkeypatch.delitem(keras.saving.get_custom_objects(), "skfashion>ImageAugmentation")
    for restored in (pickle.loads(data), deep):  # each keeps the random stream's position
        assert isinstance(restored.model_.get_layer("augmentation"), augment.ImageAugmentation)
        restored.fit(X, y)
        assert restored.history_ == once.history_
        np.testing.assert_array_equal(restored.predict_proba(X), once.predict_proba(X))


def test_augmented_partial_fit_is_a_fit(small_xy):
    X, y = small_xy[0][:300], small_xy[1][:300]
    params = {**AUGMENTED, "validation_fraction": 0.0}
    clf = FashionMLP(**params)
    for _ in range(2):
        clf.partial_fit(X, y, classes=np.arange(10))
    fitted = FashionMLP(**params, epochs=2).fit(X, y)
    assert clf.history_ == fitted.history_
    np.testing.assert_array_equal(clf.predict_proba(X), fitted.predict_proba(X))


def test_networks_with_keras_image_layers_train_without_xla(small_xy):
    """A network pickled before this layer existed holds Keras' four image layers, which XLA
    cannot compile: its (warm) fits train without XLA, as they did then."""
    from skfashion import _programs, build_network

    X, y = small_xy[0][:64], small_xy[1][:64].astype(np.int32)
    inputs = keras.Input((784,))
    x = keras.layers.Reshape((28, 28, 1))(inputs)
    x = keras.layers.RandomRotation(0.03, fill_mode="constant", seed=0)(x)
    x = keras.layers.Dense(10, activation="softmax")(keras.layers.Flatten()(x))
    legacy = keras.Model(inputs, x)
    legacy.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    assert not _programs.xla_compiles(legacy)
    assert _programs.xla_compiles(build_network(784, 10, augment=True))
    epoch = _programs.SharedEpoch(legacy, X, y, np.ones(64, np.float32), batch_size=32, xla=True,
                                  steps_per_call=8)
    logs = epoch(np.arange(64, dtype=np.int32), lambda *_: None)
    assert np.isfinite(logs["loss"]) and int(legacy.optimizer.iterations) == 2
