"""convzoo's layers against Keras 3's (JAX backend, CPU): same arguments, Keras's weights.

Keras differs from PyTorch in its string paddings ("same" with strides, transposed "same"
and "valid" when the stride exceeds the kernel, output_padding relative to them), so those
are checked here against Keras itself, with the weights Keras initialised copied over by
`set_weights(keras_layer.get_weights())` and by `from_keras`.
"""

from __future__ import annotations

import numpy as np
import pytest

keras = pytest.importorskip("keras")

from convzoo import ConvZooError, ConvZooTypeError, layers  # noqa: E402
from convzoo.interop import from_keras, load_keras, load_keras_weights, read_keras_weights  # noqa: E402

CASES = [
    ("Conv1D", (4, 3), dict(padding="causal", dilation_rate=2), (2, 9, 3)),
    ("Conv1D", (4, 4), dict(strides=3, padding="same"), (2, 10, 2)),
    ("Conv2D", (4, 3), dict(strides=2, padding="same", activation="relu"), (2, 7, 6, 3)),
    ("Conv2D", (6, (2, 3)), dict(padding="same", dilation_rate=(2, 1), groups=3), (2, 6, 7, 3)),
    ("Conv2D", (4, 3), dict(strides=(2, 1), data_format="channels_first"), (2, 3, 7, 6)),
    ("Conv3D", (2, 2), dict(strides=2, padding="same"), (1, 5, 4, 3, 2)),
    ("Conv1DTranspose", (3, 3), dict(strides=2, padding="same"), (2, 5, 2)),
    ("Conv1DTranspose", (3, 2), dict(strides=3), (2, 5, 2)),  # "valid" with s > k: Keras pads the end
    ("Conv2DTranspose", (3, 3), dict(strides=2, padding="same", output_padding=1), (2, 4, 5, 2)),
    ("Conv2DTranspose", (3, (1, 2)), dict(strides=(3, 4), padding="same"), (2, 3, 3, 2)),  # k < s
    ("Conv2DTranspose", (2, 3), dict(dilation_rate=2, padding="valid", data_format="channels_first"), (1, 3, 4, 4)),
    ("Conv3DTranspose", (2, 2), dict(strides=2, padding="same"), (1, 3, 2, 3, 2)),
    ("DepthwiseConv1D", (3,), dict(strides=2, dilation_rate=2, padding="same", depth_multiplier=2), (2, 11, 3)),
    ("DepthwiseConv2D", (3,), dict(strides=2, padding="same", activation="sigmoid"), (2, 7, 8, 3)),
    ("DepthwiseConv2D", ((2, 3),), dict(depth_multiplier=3, data_format="channels_first"), (2, 2, 5, 6)),
    ("SeparableConv1D", (4, 3), dict(padding="same", depth_multiplier=2), (2, 8, 3)),
    ("SeparableConv2D", (5, 3), dict(strides=2, dilation_rate=2, padding="same"), (2, 9, 9, 2)),
    ("SeparableConv2D", (5, 2), dict(use_bias=False, data_format="channels_first"), (2, 2, 6, 5)),
]


@pytest.mark.parametrize("name, args, kwargs, shape", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_each_keras_layer_gives_kerass_output_with_kerass_weights(name, args, kwargs, shape):
    x = np.random.default_rng(0).standard_normal(shape).astype("float32")
    keras_layer = getattr(keras.layers, name)(*args, **kwargs)
    expected = np.asarray(keras_layer(x))
    ours = getattr(layers, name)(*args, **kwargs)
    ours.set_weights(keras_layer.get_weights())
    assert [w.shape for w in ours.get_weights()] == [tuple(w.shape) for w in keras_layer.weights]
    assert [w.path.split("/")[-1] for w in keras_layer.weights] == list(ours.weight_names)
    np.testing.assert_allclose(ours(x), expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(from_keras(keras_layer)(x), expected, rtol=1e-5, atol=1e-5)
    assert ours.compute_output_shape((None, *shape[1:])) == tuple(keras_layer.compute_output_shape((None, *shape[1:])))
    assert ours.count_params() == keras_layer.count_params()


def _keras_model():
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((10, 10, 3)),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.SeparableConv2D(8, 3, strides=2, padding="same"),
            keras.layers.LeakyReLU(),
            keras.layers.DepthwiseConv2D(3, depth_multiplier=2),
            keras.layers.Conv2DTranspose(4, 3, strides=2, padding="same"),
            keras.layers.MaxPooling2D(padding="same"),
            keras.layers.AveragePooling2D(2, strides=1, padding="same"),
            keras.layers.Conv2D(4, 3),
            keras.layers.Flatten(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(5, activation="softmax"),
        ]
    )


def _randomise_batch_norm(model):
    norm = next(layer for layer in model.layers if type(layer).__name__ == "BatchNormalization")
    rng = np.random.default_rng(2)
    norm.set_weights([rng.uniform(0.5, 2, 8), rng.uniform(-1, 1, 8), rng.uniform(-1, 1, 8), rng.uniform(0.5, 2, 8)])


def test_a_keras_sequential_model_converts_with_its_summary():
    model = _keras_model()
    _randomise_batch_norm(model)
    x = np.random.default_rng(0).standard_normal((2, 10, 10, 3)).astype("float32")
    ours = from_keras(model)
    np.testing.assert_allclose(ours(x), np.asarray(model(x, training=False)), rtol=1e-5, atol=1e-6)
    lines = []
    ours.summary(print_fn=lines.append)
    rows = [line for line in lines if line.startswith("│")]
    for row, layer in zip(rows, model.layers):
        cells = [cell.strip() for cell in row.strip("│").split("│")]
        assert cells[1] == str(layer.output.shape), layer.name
        assert int(cells[2].replace(",", "")) == layer.count_params(), layer.name
    assert f" Total params: {model.count_params():,}" in lines


def test_a_functional_chain_converts_and_a_branching_model_is_refused():
    inputs = keras.Input((8, 3))
    hidden = keras.layers.Conv1D(4, 3, padding="causal")(inputs)
    outputs = keras.layers.ReLU()(keras.layers.Conv1DTranspose(2, 3, strides=2)(hidden))
    model = keras.Model(inputs, outputs)
    x = np.random.default_rng(0).standard_normal((2, 8, 3)).astype("float32")
    np.testing.assert_allclose(from_keras(model)(x), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    residual = keras.Model(inputs, keras.layers.Add()([inputs, keras.layers.Conv1D(3, 1)(inputs)]))
    with pytest.raises(ConvZooError, match="only chains of layers convert"):
        from_keras(residual)


def test_saved_keras_files_load_without_keras_and_weights_files_by_storage_key(tmp_path):
    model = _keras_model()
    _randomise_batch_norm(model)
    x = np.random.default_rng(0).standard_normal((2, 10, 10, 3)).astype("float32")
    expected = np.asarray(model(x, training=False))
    model.save(tmp_path / "model.keras")
    model.save_weights(tmp_path / "model.weights.h5")
    loaded = load_keras(tmp_path / "model.keras")
    np.testing.assert_allclose(loaded(x), expected, rtol=1e-5, atol=1e-6)
    stored = read_keras_weights(tmp_path / "model.weights.h5")
    assert sorted(stored)[:3] == ["average_pooling2d", "batch_normalization", "conv2d"]
    assert [w.shape for w in stored["conv2d_1"]] == [(3, 3, 4, 4), (4,)]
    fresh = from_keras(_keras_model())  # other random weights
    assert not np.allclose(fresh(x), expected, atol=1e-3)
    load_keras_weights(fresh, tmp_path / "model.weights.h5")
    np.testing.assert_allclose(fresh(x), expected, rtol=1e-5, atol=1e-6)


def test_unknown_keras_layers_and_settings_are_named():
    with pytest.raises(ConvZooTypeError, match=r"Keras layer 'lstm_x' of type LSTM is not supported"):
        from_keras(keras.layers.LSTM(2, name="lstm_x"))
    with pytest.raises(ConvZooError, match=r"Keras layer 'capped' \(ReLU\): max_value must be None"):
        from_keras(keras.layers.ReLU(max_value=6.0, name="capped"))
