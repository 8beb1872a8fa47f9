"""The network builder on its own: layers, regularisation, augmentation, input scaling."""

import numpy as np
import pytest

from skfashion import PRESETS, FashionMLP, build_network
from skfashion._network import NETWORK_DEFAULTS, input_scaling, resolve_hidden_layer_sizes
from skfashion._seeds import STREAMS, Seeds


def _layers(model, kind):
    return [layer for layer in model.layers if type(layer).__name__ == kind]


def test_tutorial_network_is_the_lectures():
    model = build_network(784, 10, seed=0)
    dense = _layers(model, "Dense")
    assert [layer.units for layer in dense] == [128, 10]
    assert dense[-1].name == "logits" and dense[-1].activation.__name__ == "linear"
    assert model.layers[-1].name == "probabilities"
    assert model.layers[-1].activation.__name__ == "softmax"
    assert model.count_params() == 784 * 128 + 128 + 128 * 10 + 10
    assert model.loss == "sparse_categorical_crossentropy"


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_resolve(name):
    assert resolve_hidden_layer_sizes(name) == PRESETS[name]


def test_dropout_l2_and_batch_norm_layers():
    model = build_network(784, 10, hidden_layer_sizes=(32, 16), dropout=0.3, l2=1e-3,
                          batch_norm=True, seed=0)
    assert [layer.rate for layer in _layers(model, "Dropout")] == [0.3, 0.3]
    assert len(_layers(model, "BatchNormalization")) == 2
    assert all(layer.kernel_regularizer.l2 == pytest.approx(1e-3)
               for layer in _layers(model, "Dense"))
    plain = build_network(784, 10, hidden_layer_sizes=(32, 16), seed=0)
    assert not _layers(plain, "Dropout") and not _layers(plain, "BatchNormalization")


def test_same_seed_same_initial_weights_other_seed_differs():
    a = build_network(784, 10, seed=3).get_weights()
    b = build_network(784, 10, seed=3).get_weights()
    c = build_network(784, 10, seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


def test_augmentation_acts_in_training_only(fashion_train):
    images = fashion_train.data[:16].astype("float32")
    model = build_network(784, 10, augment=True, seed=0)
    inference = [model(images, training=False).numpy() for _ in range(2)]
    np.testing.assert_array_equal(inference[0], inference[1])
    plain = build_network(784, 10, augment=False, seed=0)
    np.testing.assert_allclose(inference[0], plain(images, training=False).numpy(), rtol=1e-6)
    training = model(images, training=True).numpy()
    assert not np.allclose(training, inference[0])


def test_augmentation_is_one_layer_seeded_from_its_stream():
    from skfashion._augment import ImageAugmentation

    model = build_network(784, 10, augment=True, seed=4)
    (layer,) = [layer for layer in model.layers if isinstance(layer, ImageAugmentation)]
    assert model.layers[1] is layer and layer.name == "augmentation"
    assert (layer.seed, layer.image_shape) == (Seeds(4).layer_seeds("augmentation", 1)[0], (28, 28))
    assert not _layers(model, "Reshape") and not _layers(model, "Flatten")


def test_augmentation_needs_784_features():
    with pytest.raises(ValueError, match="784 features"):
        build_network(100, 10, augment=True)


def test_input_scaling_standardises_and_bounds_constant_features(fashion_train):
    X = fashion_train.data[:1000]
    mean, scale = input_scaling(X)
    np.testing.assert_allclose(mean, X.mean(axis=0), rtol=1e-5)
    varying = X.max(axis=0) > X.min(axis=0)
    np.testing.assert_allclose(scale[varying], X.std(axis=0)[varying], rtol=1e-4)
    assert (~varying).any(), "1,000 images leave some border pixel always black"
    typical = np.sqrt(np.mean(np.square(X.std(axis=0)[varying])))
    np.testing.assert_allclose(scale[~varying], typical, rtol=1e-4)
    assert scale.dtype == mean.dtype == np.float32


def test_input_scaling_of_uint8_pixels_is_exact(fashion_train):
    # uint8 pixels take an integer shortcut: the same numbers as float input, to the bit.
    X = fashion_train.data[:5000]  # several 1,024-row chunks and a partial one
    for fast, slow in zip(input_scaling(X), input_scaling(X.astype(np.float32)), strict=True):
        np.testing.assert_array_equal(fast, slow)
    mean, scale = input_scaling(X)
    np.testing.assert_allclose(mean, X.mean(axis=0, dtype=np.float64), rtol=1e-7)


def test_cosine_schedule_needs_steps():
    with pytest.raises(ValueError, match="decay_steps"):
        build_network(784, 10, lr_schedule="cosine")
    import keras

    model = build_network(784, 10, lr_schedule="cosine", decay_steps=100, learning_rate=0.01)
    schedule = model.optimizer._learning_rate
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(50)) == pytest.approx(0.005, rel=1e-4)
    assert float(schedule(100)) == pytest.approx(0.0, abs=1e-9)


def test_network_defaults_are_fashion_mlps():
    # FashionMLP() builds the same network as build_network() with its defaults
    params = FashionMLP().get_params()
    assert {name: params[name] for name in NETWORK_DEFAULTS} == dict(NETWORK_DEFAULTS)
    tutorial = build_network(784, 10, seed=0)
    assert [layer.units for layer in _layers(tutorial, "Dense")] == [*PRESETS["tutorial"], 10]


@pytest.mark.parametrize("name, value", [("jit_compile", True), ("steps_per_execution", 8)])
def test_removed_arguments_warn_and_are_ignored(name, value):
    with pytest.warns(FutureWarning, match=f"{name}.* ignored .* removed in skfashion 0.3"):
        model = build_network(784, 10, seed=0, **{name: value})
    plain = build_network(784, 10, seed=0)
    assert all(np.array_equal(a, b)
               for a, b in zip(model.get_weights(), plain.get_weights(), strict=True))
    with pytest.raises(TypeError, match="unexpected keyword argument 'units'"):
        build_network(784, 10, units=3)


def test_seed_streams_are_independent():
    # Each random part has its own stream: adding dropout or a layer changes no other seed.
    seeds = Seeds(5)
    assert seeds.layer_seeds("initializers", 2) == seeds.layer_seeds("initializers", 3)[:2]
    words = {stream: tuple(seeds.layer_seeds(stream, 4)) for stream in STREAMS}
    assert len(set(words.values())) == len(STREAMS)
    plain = build_network(784, 10, hidden_layer_sizes=(32, 16), seed=5)
    dropout = build_network(784, 10, hidden_layer_sizes=(32, 16), dropout=0.5, seed=5)
    deeper = build_network(784, 10, hidden_layer_sizes=(32, 16, 8), seed=5)

    def kernels(model):
        return [layer.kernel.numpy() for layer in _layers(model, "Dense")]

    for a, b in zip(kernels(plain), kernels(dropout), strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(kernels(plain)[:2], kernels(deeper)[:2], strict=True):
        np.testing.assert_array_equal(a, b)
    first = Seeds(5).batch_order().permutation(10)
    np.testing.assert_array_equal(first, seeds.batch_order().permutation(10))
