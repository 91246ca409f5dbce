"""Vision recipes: a convnet (keras.io's MNIST convnet, or a small ResNet), a Vision
Transformer, and transfer learning on a keras.applications backbone, all classifying images
`(N, H, W, C)`.

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
>>> transfer = get_recipe("transfer")
>>> transfer.fine_tune_for(weights="imagenet")  # keras.io: the top 20 layers at 1e-5 after 5 epochs
{'after_epochs': 5, 'unfreeze': 20, 'learning_rate': 1e-05}
>>> transfer.fine_tune_for(weights=None)  # untrained: the whole backbone, soon, at the base rate
{'after_epochs': 2, 'unfreeze': None, 'learning_rate': 0.001}
"""

from __future__ import annotations

from pathlib import Path

from nbmodels.checks import ConfigError, fail
from nbmodels.config import TrainConfig
from nbmodels.data.images.augmentation import PRESETS, augmentation
from nbmodels.recipes.base import Recipe, register
from nbmodels.recipes.text import TransformerRecipe

IMAGE_DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "marker", "image_folder")
DIGITS_SHAPE = {"input_shape": (8, 8, 1), "num_classes": 10}  # the offline default's, for estimates

# What augmentation="auto" picks per dataset. Digits and clothing are shapes whose mirror image
# is another class (a flipped 2 is no 2) or an unusual view: small rotations, zooms and shifts
# only. Photos and a user's own images are natural scenes, which flips and contrast keep. The
# marker set gets none: its class is one exact pattern at a grid-aligned place (ground truth for
# the explanation tests), which rotating, shifting or mixing would move or blur. A dataset not
# named here (your own Dataset) gets none: we do not know which transforms keep its classes.
AUTO_AUGMENTATION = {"digits": "shapes", "mnist": "shapes", "fashion_mnist": "shapes", "cifar10": "natural",
                     "image_folder": "natural", "marker": "none"}


class ImageRecipe(Recipe):
    """What the vision recipes share: image datasets (any classification Dataset of images
    (N, H, W, C) or grayscale (N, H, W), or a path to an image folder), with digits as images
    rather than rows, and augmentation on the device during training (`augmentation=`, a name in
    `nbmodels.data.images.augmentation.PRESETS`, or "auto": chosen per dataset, AUTO_AUGMENTATION).

    Subclasses add their own options with `{**ImageRecipe.train_options, ...}`.
    """

    datasets = IMAGE_DATASETS
    default_dataset = "digits"
    shape_without_data = DIGITS_SHAPE
    train_options = {"augmentation": "auto"}
    option_choices = {"augmentation": ("auto", *PRESETS)}

    def train(self, size=None, dataset=None, config=None, **kwargs):
        """As `Recipe.train`; `dataset` may also be a folder of images, one subfolder per class
        (a `Path`, a str with a path separator, or the name of an existing folder that is no
        dataset's): it loads as "image_folder" with that `path`, recorded in the run so
        `recipes.resume(run)` reads the same folder."""
        if self._names_a_folder(dataset):
            options = {**(kwargs.pop("dataset_options", None) or {}), "path": str(Path(dataset).expanduser().resolve())}
            return super().train(size, "image_folder", config, dataset_options=options, **kwargs)
        return super().train(size, dataset, config, **kwargs)

    def _names_a_folder(self, dataset) -> bool:
        if isinstance(dataset, Path):
            return True
        return isinstance(dataset, str) and ("/" in dataset or "\\" in dataset or (
            dataset not in self.datasets and Path(dataset).is_dir()))

    def training_arguments(self, size, data, options):
        preset = options["augmentation"]
        if preset == "auto":
            preset = AUTO_AUGMENTATION.get(data.name, "none")
        elif preset not in PRESETS:
            fail(f"{self.name}.train", "augmentation", preset,
                 f"choose 'auto' (picked per dataset) or one of {', '.join(map(repr, PRESETS))} "
                 "(nbmodels.data.images.augmentation.PRESETS says what each does)")
        stack = augmentation(preset, image_shape=data.input_shape, num_classes=data.num_classes)
        return {} if stack is None else {"augment": stack}

    def data_options(self, size, dataset):
        return {"flatten": False} if dataset == "digits" else {}  # (N, 8, 8, 1), not (N, 64)

    def data_shape(self, data):
        shape = tuple(data.input_shape)
        if len(shape) == 2:  # grayscale (N, H, W): the models take these as one channel
            shape = (*shape, 1)
        if len(shape) != 3:
            raise ValueError(
                f"The {self.name} recipe takes images shaped (N, height, width, channels) or (N, height, width); "
                f"dataset {data.name or ''!r} gives examples of shape {shape}"
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


@register
class TransferRecipe(ImageRecipe):
    """keras.io's transfer learning: a keras.applications backbone, frozen, with a new head; after
    `fine_tune["after_epochs"]` the backbone's top layers are unfrozen and trained on at a low
    learning rate, in the same run (`nbmodels.training.FineTune`), and `recipes.resume(run)`
    continues across the switch. Options: `weights` (None: untrained, offline; "imagenet"),
    `image_size` (what images are resized to; None: 224 with ImageNet weights, else 32) and
    `fine_tune` (FineTune's fields as JSON, None to train the head only, or "auto": see
    `fine_tune_for`)."""

    name = "transfer"
    title = "Transfer learning on images"
    description = ("A keras.applications backbone (MobileNetV3, EfficientNetV2, ResNet50V2), frozen, with a new "
                   "head; then its top layers are unfrozen and fine-tuned in the same run. Images are resized (to "
                   "32x32; 224x224 with ImageNet weights) and grey ones repeated to RGB. Trains offline on 8x8 digits "
                   "from untrained weights.")
    sizes = ("tiny", "mobilenet_v3_small", "mobilenet_v3_large", "efficientnet_v2_b0", "resnet50_v2")
    default_size = "mobilenet_v3_small"
    # Adam at keras.io's 1e-3 for the head; fine-tuning as `fine_tune_for` the weights says.
    config = TrainConfig(epochs=12, batch_size=32, learning_rate=1e-3)
    train_options = {**ImageRecipe.train_options, "weights": None, "image_size": None,
                     "fine_tune": "auto"}
    option_choices = {**ImageRecipe.option_choices, "weights": (None, "imagenet")}

    def make_model_config(self, size, shape):
        from nbmodels.models.vision.transfer import TransferConfig

        return TransferConfig.preset(size, **shape)

    def build_model(self, model_config, data, name):
        from nbmodels.models import TransferClassifier

        return TransferClassifier(model_config, name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        # Every backbone layer's output at image_size (all kept once the backbone is unfrozen).
        return batch_size * model_config.activation_values() * value_bytes

    def model_overrides(self, options):
        weights, image_size = options["weights"], options["image_size"]
        if image_size is None:
            # ImageNet features need images near the 224 px they were learned at; an untrained
            # backbone learns as well at 32 px, many times faster (a CPU's pace).
            image_size = 224 if weights == "imagenet" else 32
        return {"weights": weights, "image_size": image_size}  # checked by TransferConfig

    @staticmethod
    def fine_tune_for(weights) -> dict:
        """The fine-tuning `"auto"` means for these `weights`.

        ImageNet weights: keras.io's recipe — the head alone for 5 epochs, then the top 20 layers
        at 1e-5, so the pretrained features are only nudged. Untrained (`None`): there are no
        features to protect and random frozen ones teach the head little, so the whole backbone
        trains after a 2-epoch warm-up of the head, at the base rate (measured on 600 generated
        32x32 shapes, 3 classes: 0.79 validation accuracy after 12 epochs this way; chance with
        the ImageNet schedule).
        """
        if weights == "imagenet":
            return {"after_epochs": 5, "unfreeze": 20, "learning_rate": 1e-5}
        return {"after_epochs": 2, "unfreeze": None, "learning_rate": 1e-3}

    def training_arguments(self, size, data, options):
        from nbmodels.training.fine_tune import check_fine_tune

        arguments = super().training_arguments(size, data, options)
        fine_tune = options["fine_tune"]
        if fine_tune == "auto":
            fine_tune = self.fine_tune_for(options["weights"])
        fine_tune = check_fine_tune(f"{self.name}.train", fine_tune)
        return arguments if fine_tune is None else {**arguments, "fine_tune": fine_tune}
