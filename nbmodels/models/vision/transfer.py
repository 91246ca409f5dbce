"""Transfer learning: a keras.applications backbone with a new classification head.

keras.io's recipe (https://keras.io/guides/transfer_learning/): take a backbone trained on
ImageNet without its top, freeze it, train a new head on it, then unfreeze the backbone's top
layers and fine-tune with a low learning rate. `TransferClassifier` is that model:

- images of any size and channel count are resized to the backbone's `image_size` (>= 32 px),
  grey ones repeated to 3 channels, and scaled from the [0, 1] our image datasets deliver to
  what the backbone expects (MobileNetV3 and EfficientNetV2 rescale inside themselves from
  [0, 255]; ResNet50V2 takes [-1, 1]);
- the backbone is frozen, and always called with `training=False`, so its BatchNorm layers keep
  their ImageNet statistics even after unfreezing (keras.io: updating them would wreck what the
  backbone learned);
- `unfreeze(top)` makes the top layers trainable (BatchNorm layers stay frozen); recompile after
  it (`nbmodels.train(..., fine_tune=FineTune(...))` does, at a chosen step, in one run).

`weights=None` (the default) builds the backbone untrained and works offline; `"imagenet"`
downloads its weights once into Keras's cache, and a failed download is a `DownloadError` that
names `weights=None` as the offline choice.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import socket

import keras
from keras import ops

from nbmodels.checks import Fields, check_int, preset_fields
from nbmodels.models._base import ConfiguredModel
from nbmodels.models.vision._images import check_image_batch


@dataclasses.dataclass(frozen=True)
class Backbone:
    """What the model needs to know about one keras.applications backbone."""

    application: str  # the keras.applications function
    scale: float  # [0, 1] images times this plus `offset`: the range the backbone takes
    offset: float
    parameters: int  # at alpha=1 without top (input size does not change it)
    features: int  # the pooled feature vector's length
    activations_per_pixel: float  # values its layers output per input pixel (measured at 224x224)


BACKBONES = {
    # MobileNetV3 and EfficientNetV2 include their own preprocessing, from [0, 255].
    "mobilenet_v3_small": Backbone("MobileNetV3Small", 255.0, 0.0, 939_120, 576, 103.7),
    "mobilenet_v3_large": Backbone("MobileNetV3Large", 255.0, 0.0, 2_996_352, 960, 304.4),
    "efficientnet_v2_b0": Backbone("EfficientNetV2B0", 255.0, 0.0, 5_919_312, 1280, 319.2),
    # keras.applications.resnet_v2.preprocess_input is mode "tf": [0, 255] -> [-1, 1].
    "resnet50_v2": Backbone("ResNet50V2", 2.0, -1.0, 23_564_800, 2048, 622.4),
}
# Other MobileNetV3 widths, counted once on built ones: (backbone, alpha, minimalistic) ->
# (parameters, features). Others are counted by building the backbone (about a second).
VARIANTS = {("mobilenet_v3_small", 0.25, True): (47_560, 144)}
WEIGHTS = (None, "imagenet")
POOLINGS = ("avg", "max")
MOBILENETS = ("mobilenet_v3_small", "mobilenet_v3_large")
# How fast an untrained backbone's BatchNorm statistics follow training (see TransferClassifier).
_UNTRAINED_BATCHNORM_MOMENTUM = 0.9

# Seconds without an answer before a weights download gives up (keras.utils.get_file sets none).
DOWNLOAD_TIMEOUT = 60.0


@dataclasses.dataclass(frozen=True)
class TransferConfig:
    """A `TransferClassifier`'s backbone and head, checked on construction.

    A bad value raises `ConfigError` (a `ValueError`) naming the field, the value and what is
    allowed. `TransferConfig.preset(name, **overrides)` gives the backbones in `TRANSFER_SIZES`;
    the data decide `input_shape` and `num_classes`.

    Example:
    >>> from nbmodels.models import TransferConfig
    >>> config = TransferConfig.preset("mobilenet_v3_small", input_shape=(8, 8, 1))
    >>> config.image_size, config.weights, f"{config.parameter_count():,}"
    (32, None, '944,890')
    >>> TransferConfig(alpha=0.5, weights="imagenet")
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: TransferConfig.alpha=0.5 is not allowed: ImageNet weights exist for alpha 0.75 and 1.0 (1.0 when minimalistic); use one of those or weights=None.
    """

    backbone: str = "mobilenet_v3_small"  # a key of BACKBONES
    input_shape: tuple[int, int, int] = (32, 32, 3)  # (height, width, channels) of the data's images
    num_classes: int = 10
    # The size images are resized to for the backbone: small trains fast on a CPU; ImageNet
    # weights see most at the 224 they were trained at.
    image_size: int = 32
    weights: str | None = None  # None: untrained, offline; "imagenet": downloaded once
    pooling: str = "avg"  # how the backbone's last feature map becomes one vector
    dropout: float = 0.2  # before the new head, as keras.io
    alpha: float = 1.0  # MobileNetV3's width multiplier
    minimalistic: bool = False  # MobileNetV3 without squeeze-excite, hard-swish and 5x5 kernels
    # Whether the backbone's BatchNorm layers train (batch statistics, learned scale and shift),
    # also while its convolutions are frozen. None: only without pretrained weights. Pretrained
    # statistics are kept in inference mode (keras.io), but an untrained backbone has none to
    # keep: with its initial statistics a random MobileNetV3's features are ~1e-11, and nothing
    # learns (measured: chance accuracy however long it trains).
    train_batchnorm: bool | None = None

    def __post_init__(self):
        fields = Fields(self)
        fields.choice("backbone", BACKBONES)
        shape = self.input_shape
        if not isinstance(shape, (tuple, list)) or len(shape) != 3:
            fields.fail("input_shape", "it must be (height, width, channels), e.g. (28, 28, 1)")
        object.__setattr__(self, "input_shape", tuple(
            check_int(self, "input_shape", size, minimum=1, whole_floats=True) for size in shape))
        fields.int("num_classes", minimum=2)
        fields.int("image_size", minimum=32)  # keras.applications' smallest input
        if self.weights not in WEIGHTS:
            fields.fail("weights", "choose None (untrained, offline) or 'imagenet' (downloaded once)")
        fields.choice("pooling", POOLINGS)
        fields.rate("dropout")
        fields.float("alpha", low=0, low_open=True)
        fields.bool("minimalistic")
        if self.train_batchnorm is not None:
            fields.bool("train_batchnorm")
        if self.backbone not in MOBILENETS and (self.alpha != 1.0 or self.minimalistic):
            field = "alpha" if self.alpha != 1.0 else "minimalistic"
            fields.fail(field, f"only MobileNetV3 backbones have it; leave it at its default for {self.backbone}")
        if self.weights == "imagenet" and self.alpha not in ((1.0,) if self.minimalistic else (0.75, 1.0)):
            fields.fail("alpha", "ImageNet weights exist for alpha 0.75 and 1.0 (1.0 when minimalistic); "
                                 "use one of those or weights=None")

    @classmethod
    def preset(cls, name: str, **overrides) -> TransferConfig:
        """The named backbone of `TRANSFER_SIZES`, with any field replaced by `overrides`."""
        return cls(**{**preset_fields(cls, TRANSFER_SIZES, name), **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def spec(self) -> Backbone:
        return BACKBONES[self.backbone]

    def backbone_size(self) -> tuple[int, int]:
        """(parameters, features) of the backbone: from the tables, else counted on a built one."""
        if self.alpha == 1.0 and not self.minimalistic:
            return self.spec.parameters, self.spec.features
        key = (self.backbone, self.alpha, self.minimalistic)
        return VARIANTS[key] if key in VARIANTS else _built_backbone_size(*key)

    @property
    def trains_batchnorm(self) -> bool:
        """`train_batchnorm` resolved: True for an untrained backbone unless set."""
        return self.weights is None if self.train_batchnorm is None else self.train_batchnorm

    def parameter_count(self) -> int:
        """Parameters of `TransferClassifier(self)`: the backbone's (BatchNorm statistics
        included), an adapter for channel counts other than 1 and 3, and the head."""
        parameters, features = self.backbone_size()
        channels = self.input_shape[2]
        adapter = 0 if channels in (1, 3) else (channels + 1) * 3
        return parameters + adapter + (features + 1) * self.num_classes

    def activation_values(self) -> int:
        """Values per image the backward pass may keep: every backbone layer's output at
        `image_size` (all of them once the backbone is unfrozen), plus the resized input."""
        pixels = self.image_size**2
        return int(self.spec.activations_per_pixel * pixels + 2 * 3 * pixels)


# Named backbones. Each resizes to 32x32 by default, small enough to train on a CPU; pass
# image_size=224 (and weights="imagenet") for what the ImageNet weights were trained on. "tiny"
# is a minimalistic MobileNetV3Small at a quarter width (about 48k parameters): for tests.
TRANSFER_SIZES = {
    "tiny": dict(backbone="mobilenet_v3_small", alpha=0.25, minimalistic=True, dropout=0.0),
    "mobilenet_v3_small": dict(backbone="mobilenet_v3_small"),
    "mobilenet_v3_large": dict(backbone="mobilenet_v3_large"),
    "efficientnet_v2_b0": dict(backbone="efficientnet_v2_b0"),
    "resnet50_v2": dict(backbone="resnet50_v2"),
}


def _make_backbone(config: TransferConfig):
    """The keras.applications model without its top, pooled to one feature vector per image."""
    options = dict(input_shape=(config.image_size, config.image_size, 3), include_top=False,
                   weights=config.weights, pooling=config.pooling)
    if config.backbone in MOBILENETS:
        options.update(alpha=config.alpha, minimalistic=config.minimalistic)
    application = getattr(keras.applications, config.spec.application)
    if config.weights is None:
        return application(**options)
    from nbmodels.data.network import network_errors

    what = f"the ImageNet weights of {config.spec.application}"
    offline = "pass weights=None to train the backbone from scratch offline."
    with network_errors(what, alternative=offline), _socket_timeout(DOWNLOAD_TIMEOUT):
        return application(**options)


@contextlib.contextmanager
def _socket_timeout(seconds: float):
    # keras.utils.get_file downloads with urlretrieve, which takes no timeout: without this a
    # silent server would hang the notebook. The default applies to sockets opened meanwhile.
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


@functools.cache
def _built_backbone_size(backbone: str, alpha: float, minimalistic: bool) -> tuple[int, int]:
    built = _make_backbone(TransferConfig(backbone=backbone, alpha=alpha, minimalistic=minimalistic))
    return built.count_params(), int(built.output.shape[-1])


@keras.saving.register_keras_serializable(package="nbmodels")
class TransferClassifier(ConfiguredModel):
    """A frozen keras.applications backbone with a new dense head (keras.io's transfer learning).

    Args:
        config: a `TransferConfig` (or its dict, as `get_config` stores it).
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        images: `(B, H, W, C)` float tensor in [0, 1] of `config.input_shape`; another shape or
            channel count is a `ValueError` naming both shapes.
        training: bool. Whether the head's dropout is active. A pretrained backbone always runs
            in inference mode (its BatchNorm keeps its statistics); an untrained one's BatchNorm
            layers learn theirs (`TransferConfig.train_batchnorm`).

    Returns:
        Logits `(B, num_classes)` in float32 (also under mixed precision).

    Attributes:
        backbone: the keras.applications model (frozen until `unfreeze`).
        unfrozen: how many of its top layers `unfreeze` made trainable (0: frozen; None: all).

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import TransferClassifier, TransferConfig
    >>> config = TransferConfig.preset("tiny", input_shape=(8, 8, 1), train_batchnorm=False)  # as if pretrained
    >>> model = TransferClassifier(config)
    >>> tuple(model(np.zeros((2, 8, 8, 1), "float32")).shape), len(model.trainable_weights)  # the head only
    ((2, 10), 2)
    >>> model.unfreeze(10)  # then compile again, with a low learning rate
    >>> len(model.trainable_weights) > 2
    True
    """

    def __init__(self, config: TransferConfig | dict, unfrozen: int | None = 0, **kwargs):
        kwargs.setdefault("name", "transfer_classifier")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, TransferConfig) else TransferConfig(**config)
        config, policy = self.config, self.dtype_policy
        size, channels = config.image_size, config.input_shape[2]
        self.resize = keras.layers.Resizing(size, size, dtype=policy, name="resize")
        # Neither grey nor RGB (2 or 4+ channels): a learned 1x1 convolution mixes them into three.
        self.adapter = (None if channels in (1, 3)
                        else keras.layers.Conv2D(3, 1, dtype=policy, name="channel_adapter"))
        self.rescale = keras.layers.Rescaling(config.spec.scale, config.spec.offset, dtype=policy, name="rescale")
        self.backbone = _make_backbone(config)
        if config.trains_batchnorm:
            # keras.applications' BatchNorm averages its statistics with momentum 0.99-0.999, for
            # ImageNet's millions of steps: after a few hundred an untrained backbone's averages
            # are still mostly their initial values, and evaluation (which uses them) is at
            # chance while training fits (measured). 0.9 follows the weights as they learn.
            for layer in self.backbone.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = min(layer.momentum, _UNTRAINED_BATCHNORM_MOMENTUM)
        self._freeze_backbone(top=0)
        self.dropout = keras.layers.Dropout(config.dropout, dtype=policy, name="dropout")
        # float32 like every model's logits, so the loss's softmax is computed in full precision.
        self.classifier = keras.layers.Dense(config.num_classes, dtype="float32", name="classifier")
        self.unfrozen = 0
        self.build((None, *config.input_shape))
        if unfrozen != 0:  # a saved model that was being fine-tuned
            self.unfreeze(unfrozen)

    def build(self, input_shape):
        if self.built:  # built in __init__
            return
        self.call(keras.KerasTensor(tuple(input_shape)))  # symbolic: builds every layer on its input shape
        self.built = True

    def call(self, images, training=None):
        check_image_batch(self, images, self.config.input_shape)
        x = self.resize(images)  # (B, S, S, C) with S = image_size
        if self.adapter is not None:
            x = self.adapter(x)  # (B, S, S, 3)
        elif self.config.input_shape[2] == 1:
            x = ops.repeat(x, 3, axis=-1)  # (B, S, S, 3): grey as RGB
        x = self.rescale(x)  # the range the backbone takes
        # Pretrained: training=False always, so BatchNorm stays in inference mode, also once
        # unfrozen (keras.io). Untrained: its BatchNorm layers learn their statistics in training.
        features = self.backbone(x, training=training if self.config.trains_batchnorm else False)  # (B, features)
        return self.classifier(self.dropout(features, training=training))  # (B, num_classes) float32

    def unfreeze(self, top: int | None = None) -> None:
        """Make the backbone's top `top` layers (all when None) trainable; BatchNorm layers keep
        their `train_batchnorm` setting (frozen for pretrained weights).

        Compile the model again afterwards (Keras fixes what trains when it compiles), with a
        low learning rate (keras.io uses 1e-5) so the pretrained features are only nudged.
        """
        layers = self.backbone.layers[1:]  # without the InputLayer
        if top is not None:
            top = check_int(self, "unfreeze", top, minimum=1, maximum=len(layers),
                            fix=f"give how many of the {len(layers)} backbone layers to train, or None for all")
        self._freeze_backbone(top=len(layers) if top is None else top)
        self.unfrozen = top

    def _freeze_backbone(self, top: int) -> None:
        """Train only the backbone's top `top` layers, and its BatchNorm layers where the config
        says they train; freeze the rest."""
        layers = self.backbone.layers[1:]  # without the InputLayer
        train_norms = self.config.trains_batchnorm
        # Each layer set explicitly: Keras passes `trainable` down only when the parent's changes.
        self.backbone.trainable = True
        for index, layer in enumerate(layers):
            if isinstance(layer, keras.layers.BatchNormalization):
                layer.trainable = train_norms
            else:
                layer.trainable = index >= len(layers) - top
        if top == 0 and not train_norms:
            self.backbone.trainable = False  # nothing in it trains

    def get_config(self):
        config = super().get_config()
        config.update(unfrozen=self.unfrozen)
        return config

    @classmethod
    def from_config(cls, config):
        # The saved weights replace the backbone's: no need to download ImageNet's again.
        model_config = dict(config["config"], weights=None)
        return cls(**{**config, "config": model_config})
