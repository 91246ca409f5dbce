"""ViT: the Vision Transformer (Dosovitskiy et al. 2020) on the shared transformer trunk.

`ViTConfig` holds the sizes (named in `VIT_SIZES`, from a "tiny" one for 8x8 digits up to
ViT-B/16); `ViT(config)` cuts images into patches (`nbmodels.layers.PatchEmbedding`: a class
token and learned positions), runs the bidirectional pre-norm blocks every transformer here
shares, and classifies the class token's final, layer-normalised state into float32 logits.
"""

from __future__ import annotations

import dataclasses

import keras

from nbmodels.checks import Fields, preset_fields
from nbmodels.layers import PatchEmbedding
from nbmodels.layers.patches import check_patch_size
from nbmodels.models._transformer import TransformerModel, check_transformer_shape, trunk_parameter_count
from nbmodels.models.vision._images import check_image_batch, with_channel_axis


@dataclasses.dataclass(frozen=True)
class ViTConfig:
    """Sizes of a `ViT`, checked on construction.

    A bad value raises `ValueError` naming the field, the value and what is allowed.
    `ViTConfig.preset(name, **overrides)` gives the sizes in `VIT_SIZES`; the data decides
    `image_size`, `channels` and `num_classes`.

    Example:
    >>> from nbmodels.models import ViTConfig
    >>> config = ViTConfig.preset("vit_b16")
    >>> config.num_patches, f"{config.parameter_count():,}"  # ViT-B/16 with ImageNet-1k's head
    (196, '86,567,656')
    >>> ViTConfig.preset("tiny", patch_size=3)
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: ViTConfig.patch_size=3 is not allowed: it must divide image_size=8 (8 / 3 leaves a strip of 2 pixels); try 1, 2, 4 or 8.
    """

    image_size: int = 224  # height and width of the square images
    patch_size: int = 16  # must divide image_size; (image_size / patch_size)^2 patches
    channels: int = 3
    num_classes: int = 1000
    num_layers: int = 12
    num_heads: int = 12  # must divide hidden_dim
    hidden_dim: int = 768
    intermediate_dim: int | None = None  # None = 4 * hidden_dim, as in ViT-B
    # 0.0 for large data (ViT-B/16 trains on ImageNet-21k with none); ~0.1 on small sets.
    dropout: float = 0.0
    layer_norm_epsilon: float = 1e-6  # ViT's

    def __post_init__(self):
        fields = Fields(self)
        for name in ("image_size", "patch_size", "channels"):
            fields.int(name, minimum=1)
        fields.int("num_classes", minimum=2)
        check_patch_size(self, self.image_size, self.patch_size)
        check_transformer_shape(self)

    @classmethod
    def preset(cls, name: str, **overrides) -> ViTConfig:
        """The named sizes of `VIT_SIZES`, with any field replaced by `overrides`."""
        return cls(**{**preset_fields(cls, VIT_SIZES, name), **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def num_patches(self) -> int:
        return (self.image_size // self.patch_size) ** 2

    @property
    def sequence_length(self) -> int:
        """Positions the trunk sees: the class token and the patches."""
        return self.num_patches + 1

    def parameter_count(self) -> int:
        """Parameters of `ViT(self)`, computed without building it."""
        width = self.hidden_dim
        patches = self.patch_size**2 * self.channels * width + width  # the patch projection
        tokens = width + self.sequence_length * width  # the class token and the positions
        head = width * self.num_classes + self.num_classes
        return patches + tokens + trunk_parameter_count(self) + head


# Named sizes. "tiny" is for tests (8x8 digits, patch 2: 16 patches); "digits" is twice as wide
# and learns the 8x8 digits to ~97% in 20 epochs (under a minute on a CPU); "small" suits 28x28
# MNIST-like images (patch 4: 49 patches); "vit_b16" is ViT-B/16 at 224x224 (86.6M with a
# 1000-class head).
VIT_SIZES = {
    "tiny": dict(image_size=8, patch_size=2, channels=1, num_classes=10, num_layers=2, num_heads=2,
                 hidden_dim=32, intermediate_dim=64),
    "digits": dict(image_size=8, patch_size=2, channels=1, num_classes=10, num_layers=2, num_heads=4,
                   hidden_dim=64, intermediate_dim=128),
    "small": dict(image_size=28, patch_size=4, channels=1, num_classes=10, num_layers=4, num_heads=4,
                  hidden_dim=128, dropout=0.1),
    "vit_b16": dict(image_size=224, patch_size=16, channels=3, num_classes=1000, num_layers=12, num_heads=12,
                    hidden_dim=768, intermediate_dim=3072),
}


@keras.saving.register_keras_serializable(package="nbmodels")
class ViT(TransformerModel):
    """A Vision Transformer classifier whose attention can be read.

    The attention covers `T = num_patches + 1` positions: the class token at index 0, then
    the patches row by row (patch `(i, j)` at index `1 + i * (image_size / patch_size) + j`).

    Args:
        config: a `ViTConfig` (or its dict, as `get_config` stores it).
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: `(B, image_size, image_size, channels)` float tensor (a one-channel model also
            takes grayscale `(B, image_size, image_size)`); another shape or channel count is a
            `ValueError` naming both shapes.
        return_attention_scores: bool. Also return every layer's attention scores, stacked:
            `(num_layers, B, num_heads, T, T)` float32. Without it the fused attention runs.
        training: bool. Whether dropout is active.

    Returns:
        Logits `(B, num_classes)` in float32 (also under mixed precision), or
        `(logits, scores)` when `return_attention_scores=True`.

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import ViT, ViTConfig
    >>> model = ViT(ViTConfig.preset("tiny"))
    >>> logits, scores = model(np.zeros((3, 8, 8, 1), "float32"), return_attention_scores=True)
    >>> tuple(logits.shape), tuple(scores.shape)
    ((3, 10), (2, 3, 2, 17, 17))
    """

    def __init__(self, config: ViTConfig | dict, **kwargs):
        kwargs.setdefault("name", "vit")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, ViTConfig) else ViTConfig(**config)
        config = self.config
        self.patch_embedding = PatchEmbedding(
            config.image_size, config.patch_size, config.hidden_dim, dtype=self.dtype_policy, name="patch_embedding"
        )
        self.make_trunk(config, causal=False)
        # float32 like every model's logits, so the loss's softmax is computed in full precision.
        self.classifier = keras.layers.Dense(config.num_classes, dtype="float32", name="classifier")
        # Built now, like a functional model: count_params() and summary() work before any call.
        self.build((None, config.image_size, config.image_size, config.channels))

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return (self.config.image_size, self.config.image_size, self.config.channels)

    def build(self, input_shape):
        if self.built:  # built in __init__
            return
        batch = input_shape[0]
        self.patch_embedding.build(tuple(input_shape))
        self.build_trunk((batch, self.config.sequence_length, self.config.hidden_dim))
        self.classifier.build((batch, self.config.hidden_dim))
        self.built = True

    def call(self, images, return_attention_scores=False, training=None):
        images = with_channel_axis(images, self.image_shape)  # grayscale (B, H, W) too
        check_image_batch(self, images, self.image_shape)
        x = self.patch_embedding(images)  # (B, T, C), T = num_patches + 1
        x, scores = self.run_trunk(x, return_attention_scores=return_attention_scores,
                                   training=training)  # (B, T, C) after the final norm; scores (L, B, N, T, T)
        logits = self.classifier(x[:, 0])  # the class token: (B, num_classes) float32
        return (logits, scores) if return_attention_scores else logits
