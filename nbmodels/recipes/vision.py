"""Vision recipes: a convnet (keras.io's MNIST convnet, or a small ResNet) and a Vision
Transformer, both classifying images `(N, H, W, C)`.

Each recipe reads top to bottom: what a picker shows, the default `TrainConfig`, then how a
size and a dataset become a model config and a model. The data decide the image shape and the
number of classes; Keras loads only when a model config or a model is first made.

Example:
>>> from nbmodels.recipes import get_recipe
>>> convnet = get_recipe("convnet")
>>> convnet.sizes, convnet.default_dataset
(('tiny', 'mnist', 'resnet_small'), 'digits')
>>> convnet.model_config("mnist").padding  # 8x8 digits are too small for keras.io's "valid" stack
'same'
>>> f"{get_recipe('vit').parameter_count('digits'):,}"
'69,194'
"""

from __future__ import annotations

from nbmodels.checks import ConfigError
from nbmodels.config import TrainConfig
from nbmodels.recipes.base import Recipe, register
from nbmodels.recipes.text import TransformerRecipe

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "marker", "image_folder")
DIGITS_SHAPE = {"input_shape": (8, 8, 1), "num_classes": 10}  # the offline default's, for estimates


class ImageRecipe(Recipe):
    """What the vision recipes share: image datasets, with digits as images rather than rows."""

    datasets = IMAGE_DATASETS
    default_dataset = "digits"
    shape_without_data = DIGITS_SHAPE

    def data_options(self, size, dataset):
        return {"flatten": False} if dataset == "digits" else {}  # (N, 8, 8, 1), not (N, 64)

    def data_shape(self, data):
        shape = tuple(data.input_shape)
        if len(shape) != 3:
            raise ValueError(
                f"The {self.name} recipe takes images shaped (N, height, width, channels); dataset "
                f"{data.name or ''!r} gives examples of shape {shape}"
                + (" (load digits with flatten=False)." if len(shape) == 1 else ".")
            )
        return {"input_shape": shape, "num_classes": data.num_classes}


@register
class ConvNetRecipe(ImageRecipe):
    name = "convnet"
    title = "Convnet on images"
    description = ("keras.io's Simple MNIST convnet (two conv/pool stages, dropout, dense) or a small ResNet. "
                   "Trains on scikit-learn's 8x8 digits offline, or MNIST, Fashion-MNIST and CIFAR-10.")
    sizes = ("tiny", "mnist", "resnet_small")
    default_size = "mnist"
    # Adam at 3e-3 with a short warm-up and cosine decay: the keras.io model reaches ~98% on
    # digits in 15 epochs (seconds on a CPU).
    config = TrainConfig(epochs=15, batch_size=32, learning_rate=3e-3, lr_schedule="warmup_cosine", warmup_steps=20)

    def make_model_config(self, size, shape):
        from nbmodels.models.vision.convnet import ConvNetConfig

        try:
            return ConvNetConfig.preset(size, **shape)
        except ConfigError as error:
            if error.field != "padding":
                raise
            # Images too small for "valid" convolutions (8x8 digits): the same stack keeps its
            # size through each convolution, so only the pools shrink it.
            return ConvNetConfig.preset(size, **shape, padding="same")

    def build_model(self, model_config, data, name):
        from nbmodels.models import ConvNet

        return ConvNet(model_config, name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        return batch_size * model_config.activation_values() * value_bytes


@register
class ViTRecipe(ImageRecipe, TransformerRecipe):
    name = "vit"
    title = "Vision Transformer on images"
    description = ("A ViT: image patches, a class token and the shared transformer blocks; its attention "
                   "shows which patches decided. Trains on 8x8 digits offline, or MNIST, Fashion-MNIST, CIFAR-10.")
    # ViTConfig's "vit_b16" is left out: 224x224 images are what its patches of 16 are for.
    sizes = ("tiny", "digits", "small")
    default_size = "digits"
    config = TrainConfig(epochs=20, batch_size=32, learning_rate=3e-3, lr_schedule="warmup_cosine", warmup_steps=20)

    def make_model_config(self, size, shape):
        from nbmodels.models.vision.vit import ViTConfig

        height, width, channels = shape["input_shape"]
        if height != width:
            raise ValueError(f"The vit recipe takes square images; these are {height}x{width}.")
        return ViTConfig.preset(size, image_size=height, channels=channels, num_classes=shape["num_classes"])

    def build_model(self, model_config, data, name):
        from nbmodels.models import ViT

        return ViT(model_config, name=name)

    # activation_bytes: TransformerRecipe's count over the class token and the patches
    # (ViTConfig.sequence_length); the logits are a few classes per image.
