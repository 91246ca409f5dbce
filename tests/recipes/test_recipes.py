"""Recipes: listed for the dashboard, sizes computed without building, trained and resumed
through the same train() as everything else."""

import doctest

import pytest

from nbmodels import Run, TrainConfig, recipes
from nbmodels.checks import ConfigError


def test_list_and_get_with_clear_errors():
    assert [recipe.name for recipe in recipes.list_recipes()] == ["char_gpt", "text_classifier", "convnet", "vit",
                                                                   "transfer", "two_tower", "ranking"]
    with pytest.raises(ValueError, match="No recipe 'char-gpt'.*did you mean 'char_gpt'"):
        recipes.get_recipe("char-gpt")
    gpt = recipes.get_recipe("char_gpt")
    with pytest.raises(ConfigError, match="char_gpt.size='huge' is not allowed: choose one of 'tiny', 'baby'") as error:
        gpt.parameter_count("huge")
    assert (error.value.field, error.value.value) == ("size", "huge")  # a form places it next to its field
    with pytest.raises(ConfigError, match="char_gpt.dataset='imdb' is not allowed: "
                                          "choose one of 'python_docs', 'tiny_shakespeare'") as error:
        gpt.data("imdb")
    assert error.value.field == "dataset"
    assert gpt.config.steps == 2000 and gpt.config.optimizer == "adamw"  # a real default, valid on construction


@pytest.mark.parametrize("recipe_name, size", [("char_gpt", "tiny"), ("char_gpt", "baby"),
                                              ("text_classifier", "tiny"), ("text_classifier", "small")])
def test_parameter_count_matches_the_built_model(recipe_name, size):
    recipe = recipes.get_recipe(recipe_name)
    dataset = recipe.data(size=size)
    model = recipe.builder(size, dataset)()
    assert recipe.parameter_count(size, dataset) == model.count_params()


def test_memory_estimate_grows_with_batch_and_shrinks_with_bfloat16():
    gpt = recipes.get_recipe("char_gpt")
    small, large = gpt.estimate_memory("baby", 12), gpt.estimate_memory("baby", 48)
    assert large > small > gpt.parameter_count("baby") * 16
    assert gpt.estimate_memory("baby", 12, precision="mixed_bfloat16") < small


def test_char_gpt_trains_with_its_tokenizer_and_resumes_from_disk(runs_root):
    gpt = recipes.get_recipe("char_gpt")
    config = TrainConfig(steps=12, batch_size=8, learning_rate=3e-3, validate_every=6, checkpoint_every=6)
    run = gpt.train("tiny", config=config, root=runs_root, verbose=False, background=True)
    run.request_stop()  # stops at its first flush, with a checkpoint
    assert run.wait(300) == "stopped" and run.info["recipe"] == "char_gpt"

    # A fresh Run object read from disk, as in another kernel: the recipe reloads the data
    # and rebuilds the model from what the run recorded.
    loaded = Run.load(run.id, root=runs_root)
    assert (loaded.info["size"], loaded.info["dataset"]) == ("tiny", "python_docs")
    resumed = recipes.resume(loaded, verbose=False)
    assert resumed.status == "finished" and resumed.step == 12


def test_text_classifier_recipe_trains_on_key_tokens(runs_root):
    recipe = recipes.get_recipe("text_classifier")
    run = recipe.train(config=recipe.config.replace(epochs=1), root=runs_root, verbose=False)
    assert run.status == "finished" and run.validation["val_accuracy"] > 0.9  # the key token is learnable
    assert run.info["size"] == "tiny" and run.info["dataset"] == "key_token"


def test_resume_refuses_runs_without_a_recipe(runs_root, xor_data):
    from nbmodels import train
    from tests.conftest import make_mlp

    run = train(make_mlp, xor_data, TrainConfig(steps=2, batch_size=4), root=runs_root, verbose=False)
    with pytest.raises(ValueError, match="was not started from a recipe"):
        recipes.resume(run)


@pytest.mark.parametrize("module", [recipes, recipes.base, recipes.text])
def test_docstring_examples(module):
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
