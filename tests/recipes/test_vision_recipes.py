"""The vision recipes: listed, counted without building, estimated, and trained through the
same train() as every recipe."""

import doctest

import pytest

from nbmodels import TrainConfig, recipes
from nbmodels.recipes import vision


def test_listed_with_image_datasets_and_digits_by_default():
    names = [recipe.name for recipe in recipes.list_recipes()]
    assert names[2:5] == ["convnet", "vit", "transfer"]  # after the text family, before the recommenders
    for name in ("convnet", "vit"):
        recipe = recipes.get_recipe(name)
        assert recipe.datasets == ("digits", "mnist", "fashion_mnist", "cifar10", "marker", "image_folder")
        assert recipe.default_dataset == "digits" and recipe.data_options(recipe.default_size, "digits") == {
            "flatten": False}


@pytest.mark.parametrize("recipe_name", ["convnet", "vit"])
def test_parameter_count_matches_the_built_model_for_every_size(recipe_name):
    recipe = recipes.get_recipe(recipe_name)
    dataset = recipe.data()
    for size in recipe.sizes:
        assert recipe.parameter_count(size, dataset) == recipe.builder(size, dataset)().count_params(), size


def test_the_keras_io_stack_keeps_its_pools_on_small_images():
    convnet = recipes.get_recipe("convnet")
    assert convnet.model_config("mnist").padding == "same"  # 8x8 digits
    assert convnet.model_config("mnist", input_shape=(28, 28, 1)).padding == "valid"  # MNIST: keras.io's own


@pytest.mark.parametrize("recipe_name", ["convnet", "vit"])
def test_memory_estimate_grows_with_batch_and_shrinks_with_bfloat16(recipe_name):
    recipe = recipes.get_recipe(recipe_name)
    small, large = recipe.estimate_memory(batch_size=16), recipe.estimate_memory(batch_size=64)
    assert large > small > recipe.parameter_count() * 16
    assert recipe.estimate_memory(batch_size=16, precision="mixed_bfloat16") < small


@pytest.mark.parametrize("recipe_name", ["convnet", "vit"])
def test_trains_three_steps_on_digits(recipe_name, runs_root):
    recipe = recipes.get_recipe(recipe_name)
    run = recipe.train("tiny", config=TrainConfig(steps=3, batch_size=16), root=runs_root, verbose=False)
    assert run.status == "finished" and run.step == 3
    assert (run.info["recipe"], run.info["size"], run.info["dataset"]) == (recipe_name, "tiny", "digits")


def test_the_data_decide_the_image_shape_and_classes():
    from nbmodels import data

    marker = data.load("marker", n=40, image_size=16, channels=3, num_classes=4)
    vit = recipes.get_recipe("vit").model_config("tiny", data=marker)
    assert (vit.image_size, vit.channels, vit.num_classes, vit.num_patches) == (16, 3, 4, 64)
    convnet = recipes.get_recipe("convnet").model_config("tiny", data=marker)
    assert (convnet.input_shape, convnet.num_classes) == ((16, 16, 3), 4)


def test_a_dataset_of_rows_is_refused_clearly():
    from nbmodels import data

    with pytest.raises(ValueError, match=r"takes images shaped \(N, height, width, channels\).*flatten=False"):
        recipes.get_recipe("convnet").model_config(data=data.load("digits"))


def test_docstring_examples():
    result = doctest.testmod(vision, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
