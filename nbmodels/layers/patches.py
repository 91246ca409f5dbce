"""Images to a sequence of patch embeddings with a class token and learned positions (ViT)."""

from __future__ import annotations

import keras
from keras import ops

from nbmodels.checks import ConfigError, check_int


@keras.saving.register_keras_serializable(package="nbmodels")
class PatchEmbedding(keras.layers.Layer):
    """Cut images into square patches, embed each, prepend a class token, add learned positions.

    A `Conv2D` whose kernel and stride are both the patch size is a linear map of each
    non-overlapping patch (ViT's "linear projection of flattened patches"), computed as one
    convolution. The class token is one more learned vector in front of the patches, and every
    position (the class token's included) has its own learned vector.

    Args:
        image_size: int. Height and width of the (square) images.
        patch_size: int. Height and width of a patch; must divide `image_size`.
        hidden_dim: int. Width of the embeddings.
        **kwargs: other `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: `(B, image_size, image_size, channels)` float tensor.

    Returns:
        `(B, 1 + num_patches, hidden_dim)`: the class token first, then the patches row by row.

    Example:
    >>> import numpy as np
    >>> from nbmodels.layers import PatchEmbedding
    >>> embedding = PatchEmbedding(image_size=8, patch_size=2, hidden_dim=4)
    >>> embedding.num_patches, tuple(embedding(np.zeros((3, 8, 8, 1), "float32")).shape)
    (16, (3, 17, 4))
    >>> PatchEmbedding(image_size=8, patch_size=3, hidden_dim=4)
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: PatchEmbedding.patch_size=3 is not allowed: it must divide image_size=8 (8 / 3 leaves a strip of 2 pixels); try 1, 2, 4 or 8.
    """

    def __init__(self, image_size, patch_size, hidden_dim, **kwargs):
        super().__init__(**kwargs)
        owner = type(self).__name__
        self.image_size = check_int(owner, "image_size", image_size, minimum=1)
        self.patch_size = check_int(owner, "patch_size", patch_size, minimum=1)
        self.hidden_dim = check_int(owner, "hidden_dim", hidden_dim, minimum=1)
        check_patch_size(owner, self.image_size, self.patch_size)
        self.num_patches = (self.image_size // self.patch_size) ** 2

    def build(self, input_shape):
        if len(input_shape) != 4 or tuple(input_shape[1:3]) != (self.image_size, self.image_size):
            raise ValueError(
                f"{type(self).__name__} takes images (batch, {self.image_size}, {self.image_size}, channels); "
                f"got shape {tuple(input_shape)}."
            )
        self.projection = keras.layers.Conv2D(
            self.hidden_dim, self.patch_size, strides=self.patch_size, dtype=self.dtype_policy, name="projection"
        )
        self.projection.build(input_shape)
        # ViT's initialisation of the class token and positions: small normal values.
        initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.class_token = self.add_weight(shape=(1, 1, self.hidden_dim), initializer=initializer,
                                           name="class_token")
        self.positions = self.add_weight(shape=(1, self.num_patches + 1, self.hidden_dim), initializer=initializer,
                                         name="positions")
        self.built = True

    def call(self, images):
        patches = self.projection(images)  # (B, H/P, W/P, C)
        patches = ops.reshape(patches, (-1, self.num_patches, self.hidden_dim))  # (B, N, C), row by row
        class_token = ops.repeat(ops.cast(self.class_token, patches.dtype), ops.shape(patches)[0], axis=0)  # (B, 1, C)
        x = ops.concatenate([class_token, patches], axis=1)  # (B, T, C), T = N + 1
        return x + ops.cast(self.positions, x.dtype)  # (B, T, C)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.num_patches + 1, self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(image_size=self.image_size, patch_size=self.patch_size, hidden_dim=self.hidden_dim)
        return config


def check_patch_size(owner, image_size: int, patch_size: int) -> None:
    """A ConfigError on `patch_size` unless it divides `image_size`, listing the sizes that do."""
    if patch_size > image_size:
        raise ConfigError(owner, "patch_size", patch_size,
                          f"it must divide image_size={image_size}; a patch cannot be larger than the image")
    if image_size % patch_size:
        divisors = [size for size in range(1, image_size + 1) if image_size % size == 0]
        listed = ", ".join(map(str, divisors[:-1])) + f" or {divisors[-1]}" if len(divisors) > 1 else str(divisors[0])
        raise ConfigError(owner, "patch_size", patch_size,
                          f"it must divide image_size={image_size} ({image_size} / {patch_size} leaves a strip of "
                          f"{image_size % patch_size} pixels); try {listed}")
