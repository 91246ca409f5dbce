"""ConvNet: keras.io's "Simple MNIST convnet", and a deeper residual variant with BatchNorm.

`ConvNetConfig` holds the sizes (named in `CONVNET_SIZES`); `ConvNet(config)` is the model:
images `(B, H, W, C)` in, float32 class logits out. With `residual_blocks=0` each stage is
keras.io's `Conv2D(filters, 3, relu)` then `MaxPooling2D(2)`, and the head flattens the last
feature map; with `residual_blocks > 0` each stage widens with a convolution and BatchNorm, runs
that many residual blocks (conv-BN-relu-conv-BN plus the input), and stages are joined by a
2x2 max pool; the head averages the last feature map over space.
"""

from __future__ import annotations

import dataclasses
import math

import keras
from keras import ops

from nbmodels.checks import ConfigError, Fields, check_int, preset_fields
from nbmodels.models._base import ConfiguredModel
from nbmodels.models.vision._images import check_image_batch, with_channel_axis

PADDINGS = ("valid", "same")


def _fits(sizes) -> bool:
    return all(min(size) >= 1 for size in sizes)


def _whole_numbers(values) -> tuple[int, ...] | None:
    """`values` as a tuple of ints >= 1 (numpy ints, and 28.0 from JSON or a form, included), else None."""
    try:
        return tuple(check_int("", "", value, minimum=1, whole_floats=True) for value in values)
    except ConfigError:
        return None


@dataclasses.dataclass(frozen=True)
class ConvNetConfig:
    """Sizes of a `ConvNet`, checked on construction.

    A bad value raises `ValueError` naming the field, the value and what is allowed.
    `ConvNetConfig.preset(name, **overrides)` gives the sizes in `CONVNET_SIZES`; the data
    decides `input_shape` and `num_classes`.

    Small images: every plain stage pools by 2, and with `padding="valid"` each 3x3 convolution
    also trims 2 pixels, so keras.io's two stages need images of at least 10x10 (28x28 MNIST
    leaves 5x5). On 8x8 digits use `padding="same"` (8 -> 4 -> 2), as the "tiny" size does;
    a stack that shrinks an image to nothing is a `ConfigError` on `padding`.

    Example:
    >>> from nbmodels.models import ConvNetConfig
    >>> ConvNetConfig.preset("mnist").parameter_count()  # keras.io's model summary says 34,826
    34826
    >>> ConvNetConfig.preset("mnist", input_shape=(8, 8, 1))
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: ConvNetConfig.padding='valid' is not allowed: input_shape=(8, 8, 1) shrinks to nothing after stage 2 (feature maps 6x6, 3x3, 1x1, 0x0); use padding='same' or fewer filters stages.
    """

    input_shape: tuple[int, int, int] = (28, 28, 1)  # (height, width, channels) of one image
    num_classes: int = 10
    # One stage per entry: its number of filters. keras.io's MNIST convnet has two, 32 and 64.
    filters: tuple[int, ...] = (32, 64)
    kernel_size: int = 3
    # "valid" is keras.io's (each 3x3 convolution trims a border); "same" keeps the size, so
    # only the pools shrink the image: what small images need. Residual stages always use "same".
    padding: str = "valid"
    # 0: keras.io's plain stages. n > 0: n residual blocks with BatchNorm per stage (ResNet).
    residual_blocks: int = 0
    dropout: float = 0.5  # before the classifier, as keras.io; 0 in tests (deterministic steps)

    def __post_init__(self):
        fields = Fields(self)
        shape = self.input_shape
        if not isinstance(shape, (tuple, list)) or len(shape) != 3:
            fields.fail("input_shape", "it must be (height, width, channels), e.g. (28, 28, 1)")
        if _whole_numbers(shape) is None:
            fields.fail("input_shape", "its sizes must be whole numbers >= 1, e.g. (28, 28, 1)")
        object.__setattr__(self, "input_shape", _whole_numbers(shape))
        fields.int("num_classes", minimum=2)
        if not isinstance(self.filters, (tuple, list)) or not self.filters:
            fields.fail("filters", "it must be a non-empty list of filter counts, one per stage, e.g. (32, 64)")
        if _whole_numbers(self.filters) is None:
            fields.fail("filters", "each stage's filter count must be a whole number >= 1")
        object.__setattr__(self, "filters", _whole_numbers(self.filters))
        fields.int("kernel_size", minimum=1)
        fields.choice("padding", PADDINGS)
        fields.int("residual_blocks", minimum=0)
        fields.rate("dropout")
        if not _fits(self.feature_map_sizes()):
            sizes = self.feature_map_sizes()
            shown = ", ".join(f"{h}x{w}" for h, w in sizes)
            stage = next(i for i, (h, w) in enumerate(sizes) if min(h, w) < 1) // 2 + 1
            shrinks = f"input_shape={self.input_shape} shrinks to nothing after stage {stage} (feature maps {shown})"
            if self.padding == "valid" and not self.residual and _fits(self.feature_map_sizes(padding="same")):
                fields.fail("padding", f"{shrinks}; use padding='same' or fewer filters stages")
            fields.fail("filters", f"{shrinks}; use fewer stages or larger images")

    @classmethod
    def preset(cls, name: str, **overrides) -> ConvNetConfig:
        """The named sizes of `CONVNET_SIZES`, with any field replaced by `overrides`."""
        return cls(**{**preset_fields(cls, CONVNET_SIZES, name), **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def residual(self) -> bool:
        return self.residual_blocks > 0

    def feature_map_sizes(self, padding: str | None = None) -> list[tuple[int, int]]:
        """(height, width) after each convolution and each pool, in order (with `padding`
        instead of the config's, to see whether another would fit)."""
        height, width = self.input_shape[:2]
        trim = self.kernel_size - 1 if (padding or self.padding) == "valid" and not self.residual else 0
        sizes = []
        for stage in range(len(self.filters)):
            height, width = height - trim, width - trim
            sizes.append((height, width))
            if not self.residual or stage < len(self.filters) - 1:  # residual stages pool between stages
                height, width = height // 2, width // 2
                sizes.append((height, width))
        return sizes

    def activation_values(self) -> int:
        """Values per image the backward pass keeps: each convolution's output (in residual
        stages also its BatchNorm's and relu's), each pool's, and the logits."""
        sizes, position, values = self.feature_map_sizes(), 0, self.num_classes
        last = len(self.filters) - 1
        for stage, filters in enumerate(self.filters):
            height, width = sizes[position]
            position += 1
            convolutions = 1 + 2 * self.residual_blocks if self.residual else 1
            kept_per_convolution = 3 if self.residual else 1  # conv, BatchNorm, relu; plain: the relu'd conv
            values += convolutions * kept_per_convolution * height * width * filters
            if not self.residual or stage < last:  # the pool after the stage
                height, width = sizes[position]
                position += 1
                values += height * width * filters
        return values

    def parameter_count(self) -> int:
        """Parameters of `ConvNet(self)` (BatchNorm's moving statistics included), without building it."""
        k2 = self.kernel_size**2
        channels, count = self.input_shape[2], 0
        for filters in self.filters:
            if self.residual:
                batch_norm = 4 * filters  # gamma, beta, moving mean and variance
                count += k2 * channels * filters + batch_norm  # the widening convolution (no bias)
                count += self.residual_blocks * 2 * (k2 * filters * filters + batch_norm)
            else:
                count += (k2 * channels + 1) * filters
            channels = filters
        height, width = self.feature_map_sizes()[-1]
        features = channels if self.residual else height * width * channels  # averaged, or flattened
        return count + (features + 1) * self.num_classes


# Named sizes. "tiny" is for tests and 8x8 digits (same padding keeps both pools); "mnist" is
# keras.io's Simple MNIST convnet exactly (28x28x1, 34,826 parameters); "resnet_small" is a
# small ResNet: three stages of two residual blocks, 16 to 64 filters.
CONVNET_SIZES = {
    "tiny": dict(input_shape=(8, 8, 1), filters=(8, 16), padding="same", dropout=0.0),
    "mnist": dict(input_shape=(28, 28, 1), filters=(32, 64), padding="valid", dropout=0.5),
    "resnet_small": dict(input_shape=(32, 32, 3), filters=(16, 32, 64), padding="same", residual_blocks=2,
                         dropout=0.2),
}


@keras.saving.register_keras_serializable(package="nbmodels")
class ConvNet(ConfiguredModel):
    """A convolutional image classifier (keras.io's MNIST convnet, or a small ResNet).

    Args:
        config: a `ConvNetConfig` (or its dict, as `get_config` stores it).
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: `(B, H, W, C)` float tensor of `config.input_shape` (a one-channel model also
            takes grayscale `(B, H, W)`); another shape or channel count is a `ValueError`
            naming both shapes.
        training: bool. Whether dropout is active and BatchNorm uses the batch's statistics.

    Returns:
        Logits `(B, num_classes)` in float32 (also under mixed precision).

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import ConvNet, ConvNetConfig
    >>> model = ConvNet(ConvNetConfig.preset("tiny"))
    >>> logits = model(np.zeros((2, 8, 8, 1), "float32"))
    >>> tuple(logits.shape), model.count_params() == model.config.parameter_count()
    ((2, 10), True)
    """

    def __init__(self, config: ConvNetConfig | dict, **kwargs):
        kwargs.setdefault("name", "convnet")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, ConvNetConfig) else ConvNetConfig(**config)
        config, policy = self.config, self.dtype_policy
        self.stages = [self._make_stage(i, filters) for i, filters in enumerate(config.filters)]
        self.pool = keras.layers.MaxPooling2D(2, dtype=policy, name="pool")
        self.dropout = keras.layers.Dropout(config.dropout, dtype=policy, name="dropout")
        # float32 like every model's logits, so the loss's softmax is computed in full precision.
        self.classifier = keras.layers.Dense(config.num_classes, dtype="float32", name="classifier")
        # Built now, like a functional model: count_params() and summary() work before any call.
        self.build((None, *config.input_shape))

    def _make_stage(self, index: int, filters: int) -> list:
        config, policy = self.config, self.dtype_policy
        name = f"stage_{index}"
        if not config.residual:
            return [keras.layers.Conv2D(filters, config.kernel_size, padding=config.padding, activation="relu",
                                        dtype=policy, name=f"{name}_conv")]

        def conv(suffix):
            return keras.layers.Conv2D(filters, config.kernel_size, padding="same", use_bias=False, dtype=policy,
                                       name=f"{name}_{suffix}")

        def norm(suffix):
            return keras.layers.BatchNormalization(dtype=policy, name=f"{name}_{suffix}")

        layers = [conv("widen"), norm("widen_norm")]
        for block in range(config.residual_blocks):
            layers += [conv(f"block_{block}_conv_a"), norm(f"block_{block}_norm_a"),
                       conv(f"block_{block}_conv_b"), norm(f"block_{block}_norm_b")]
        return layers

    def build(self, input_shape):
        if self.built:  # built in __init__
            return
        self.call(keras.KerasTensor(tuple(input_shape)))  # symbolic: builds every layer on its input shape
        self.built = True

    def call(self, images, training=None):
        images = with_channel_axis(images, self.config.input_shape)  # grayscale (B, H, W) too
        check_image_batch(self, images, self.config.input_shape)
        x = images  # (B, H, W, C)
        last = len(self.stages) - 1
        for index, stage in enumerate(self.stages):
            if self.config.residual:
                x = self._residual_stage(stage, x, training)  # (B, H', W', filters)
                if index < last:
                    x = self.pool(x)  # (B, H'/2, W'/2, filters)
            else:
                x = self.pool(stage[0](x))  # (B, H'/2, W'/2, filters)
        if self.config.residual:
            x = ops.mean(x, axis=(1, 2))  # (B, filters): global average pooling
        else:
            x = ops.reshape(x, (-1, math.prod(x.shape[1:])))  # (B, H' * W' * filters): keras.io's Flatten
        return self.classifier(self.dropout(x, training=training))  # (B, num_classes) float32

    @staticmethod
    def _residual_stage(layers, x, training):
        widen, widen_norm, *blocks = layers
        x = ops.relu(widen_norm(widen(x), training=training))  # (B, H, W, filters)
        for conv_a, norm_a, conv_b, norm_b in zip(*[iter(blocks)] * 4):
            branch = ops.relu(norm_a(conv_a(x), training=training))
            x = ops.relu(x + norm_b(conv_b(branch), training=training))  # (B, H, W, filters)
        return x
