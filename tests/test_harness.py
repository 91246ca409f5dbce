"""`check_model` takes every input kind the model families use (token ids in tests/models; images
and dicts of named features with no targets here) and names what breaks."""

import keras
import numpy as np
import pytest

from tests.harness import check_model


def image_classifier():
    # The last layer computes in float32, so logits stay float32 under mixed precision.
    return keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, dtype="float32"),
        ]
    )


@keras.saving.register_keras_serializable(package="tests")
class PairScorer(keras.Model):
    """A retrieval-style model: features are a dict, and it trains on positive pairs alone
    (in-batch softmax), so `fit` gets no targets."""

    def __init__(self, users=5, items=7, dim=4, **kwargs):
        super().__init__(**kwargs)
        self.users, self.items, self.dim = users, items, dim
        self.user_embedding = keras.layers.Embedding(users, dim)
        self.item_embedding = keras.layers.Embedding(items, dim)

    def call(self, features):
        users = self.user_embedding(features["user"])  # (B, dim)
        items = self.item_embedding(features["item"])  # (B, dim)
        return keras.ops.cast(keras.ops.matmul(users, keras.ops.transpose(items)), "float32")  # (B, B)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        labels = keras.ops.arange(keras.ops.shape(y_pred)[0])  # each user's own item is the positive
        return keras.ops.mean(keras.losses.sparse_categorical_crossentropy(labels, y_pred, from_logits=True))

    def get_config(self):
        return {**super().get_config(), "users": self.users, "items": self.items, "dim": self.dim}


def test_images_with_labels():
    images = np.random.default_rng(0).normal(size=(4, 8, 8, 1)).astype("float32")
    checked = check_model(
        image_classifier,
        images,
        np.array([0, 1, 2, 0], "int32"),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        expected_output_shape=(4, 3),
        precision="mixed_float16",  # the other policy: float16 with loss scaling
    )
    assert checked.outputs.shape == (4, 3)


def test_a_dict_of_features_without_targets():
    features = {"user": np.array([0, 1, 2, 3], "int32"), "item": np.array([6, 5, 4, 3], "int32")}
    checked = check_model(PairScorer, features, expected_output_shape=(4, 4))
    assert isinstance(checked.restored, PairScorer) and checked.restored.get_config()["items"] == 7


def test_names_an_output_left_in_bfloat16():
    def leaky():  # the last layer follows the policy: bfloat16 logits
        return keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])

    x = np.ones((2, 3), "float32")
    with pytest.raises(AssertionError, match=r"outputs under mixed_bfloat16 are \['bfloat16'\], not float32"):
        check_model(leaky, x, np.zeros((2, 2), "float32"), loss="mse")
