"""The vision recipes' own options and inputs: augmentation per dataset ("auto" or a preset),
grayscale datasets without a channel axis, and an image folder named by its path — each
trained through the recipe and, for the folder, resumed exactly from disk."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from nbmodels import Run, TrainConfig, data, recipes
from nbmodels.checks import ConfigError
from nbmodels.recipes.vision import AUTO_AUGMENTATION, ImageRecipe


def layer_names(arguments):
    return [type(layer).__name__ for layer in arguments["augment"].layers] if arguments else []


@pytest.fixture(scope="module")
def grey_digits():
    """Digits as (N, 8, 8) arrays, the layout MNIST-like arrays often come in."""
    digits = data.load("digits", flatten=False)
    (x, y), (vx, vy) = digits.train, digits.validation
    return data.Dataset(task="classification", train=(x[..., 0], y), validation=(vx[..., 0], vy), num_classes=10)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """A two-class image folder: dark squares with a bright bar, horizontal or vertical."""
    root = tmp_path_factory.mktemp("bars")
    rng = np.random.default_rng(0)
    for label in ("horizontal", "vertical"):
        (root / label).mkdir()
        for i in range(24):
            pixels = rng.integers(0, 60, (8, 8, 1)).astype("uint8")
            line = rng.integers(1, 7)
            if label == "horizontal":
                pixels[line] = 255
            else:
                pixels[:, line] = 255
            tf.io.write_file(str(root / label / f"{i}.png"), tf.io.encode_png(pixels))
    return root


def test_auto_augmentation_is_chosen_per_dataset():
    convnet = recipes.get_recipe("convnet")
    assert convnet.train_options == {"augmentation": "auto"}
    assert convnet.option_choices["augmentation"] == ("auto", "none", "shapes", "natural", "randaugment", "mixup",
                                                      "cutmix")
    marker = data.load("marker", n=40, image_size=8, patch_size=2, num_classes=3)
    assert convnet.training_arguments("tiny", marker, {"augmentation": "auto"}) == {}  # the marker stays put
    digits = convnet.data()
    expected = {"none": [], "shapes": ["RandomRotation", "RandomTranslation"]}
    assert layer_names(convnet.training_arguments("tiny", digits, {"augmentation": "auto"})) == \
        expected[AUTO_AUGMENTATION["digits"]]
    assert layer_names(convnet.training_arguments("tiny", digits, {"augmentation": "cutmix"})) == ["CutMix"]
    # A subclass (the transfer recipe) extends the options this way.
    assert {**ImageRecipe.train_options, "fine_tune": None} == {"augmentation": "auto", "fine_tune": None}


def test_an_unknown_augmentation_is_a_config_error_naming_the_presets(runs_root):
    with pytest.raises(ConfigError, match=r"vit.train.augmentation='flip' is not allowed: choose 'auto' \(picked per "
                                          r"dataset\) or one of 'none', 'shapes', 'natural'"):
        recipes.get_recipe("vit").train("tiny", augmentation="flip", verbose=False)


@pytest.mark.parametrize("recipe_name, augmentation", [("convnet", "shapes"), ("vit", "mixup")])
def test_grayscale_images_without_a_channel_axis_train_and_predict(recipe_name, augmentation, grey_digits,
                                                                   runs_root):
    recipe = recipes.get_recipe(recipe_name)
    assert recipe.model_config("tiny", grey_digits).num_classes == 10
    run = recipe.train("tiny", data=grey_digits, config=TrainConfig(steps=2, batch_size=16), verbose=False,
                       augmentation=augmentation)
    assert run.status == "finished", run.message
    assert run.info["options"] == {"augmentation": augmentation}
    x, _ = grey_digits.validation
    assert run.model.predict(x, verbose=0).shape == (len(x), 10)  # the arrays it trained on, as they are


def test_an_image_folder_path_trains_and_resumes_exactly_from_disk(folder, runs_root):
    convnet = recipes.get_recipe("convnet")
    config = TrainConfig(steps=12, batch_size=8, validate_every=6, checkpoint_every=4, seed=2)
    reference = convnet.train("tiny", str(folder), config, verbose=False)
    assert reference.status == "finished", reference.message
    assert (reference.info["dataset"], reference.info["dataset_options"]) == ("image_folder", {"path": str(folder)})
    assert reference.info["options"] == {"augmentation": "auto"}  # "natural" for a folder of your own images
    assert isinstance(reference.job.augment.layers[0], keras.layers.RandomFlip)

    assert convnet._names_a_folder(folder) and not convnet._names_a_folder("digits")  # a Path works too
    run = convnet.train("tiny", folder, config, verbose=False, background=True)
    run.request_stop()  # stops at its first flush, with a checkpoint
    assert run.wait(300) == "stopped", run.message
    loaded = Run.load(run.id, root=runs_root)  # as another kernel: the recipe reloads the folder
    assert loaded.step < 12
    resumed = recipes.resume(loaded, verbose=False)
    assert resumed.status == "finished" and resumed.step == 12, resumed.message
    for got, want in zip(resumed.model.variables, reference.model.variables, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_a_missing_folder_is_a_clear_error(tmp_path, runs_root):
    with pytest.raises(ValueError, match="image_folder"):
        recipes.get_recipe("convnet").train("tiny", str(tmp_path / "nothing here"), verbose=False)
