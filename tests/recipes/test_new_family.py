"""A new family adds its recipes from its own module through the public registry, touching no
other family; its memory estimate is its own (no transformer fields assumed)."""

import dataclasses
import subprocess
import sys

import pytest

from nbmodels import TrainConfig, recipes
from nbmodels.checks import ConfigError


@dataclasses.dataclass(frozen=True)
class TwoLayerConfig:
    """An MLP's sizes: nothing a transformer has (no sequence length, heads or vocabulary)."""

    features: int
    hidden: int
    classes: int

    def parameter_count(self) -> int:
        return (self.features + 1) * self.hidden + (self.hidden + 1) * self.classes


class TwoLayerRecipe(recipes.Recipe):
    name = "two_layer"
    title = "Two-layer perceptron on blobs"
    description = "One hidden layer and a linear head: separates Gaussian blobs in a few steps."
    sizes = ("small", "wide")
    default_size = "small"
    datasets = ("blobs",)
    default_dataset = "blobs"
    config = TrainConfig(steps=4, batch_size=8)
    shape_without_data = {"features": 2, "classes": 3}

    def data_options(self, size, dataset):
        return {"n": 200}

    def data_shape(self, data):
        return {"features": data.input_shape[0], "classes": data.num_classes}

    def make_model_config(self, size, shape):
        return TwoLayerConfig(hidden={"small": 8, "wide": 64}[size], **shape)

    def build_model(self, model_config, data, name):
        import keras

        return keras.Sequential([keras.Input((model_config.features,)),
                                 keras.layers.Dense(model_config.hidden, activation="relu"),
                                 keras.layers.Dense(model_config.classes)], name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        return batch_size * (model_config.hidden + model_config.classes) * value_bytes  # hidden units and logits


@pytest.fixture
def two_layer():
    recipes.register(TwoLayerRecipe)
    yield recipes.get_recipe("two_layer")
    recipes.unregister("two_layer")


def test_a_family_registers_its_recipe_from_its_own_module_and_trains_it(two_layer, runs_root):
    assert [recipe.name for recipe in recipes.list_recipes()] == [
        "char_gpt", "text_classifier", "convnet", "vit", "transfer", "two_tower", "ranking", "two_layer"]
    assert isinstance(two_layer, TwoLayerRecipe) and two_layer.sizes == ("small", "wide")
    recipes.register(TwoLayerRecipe)  # again, as when a notebook cell re-runs: replaced, not doubled
    assert [recipe.name for recipe in recipes.list_recipes()].count("two_layer") == 1

    data = two_layer.data()  # the size's data options (n=200) reach the loader
    assert len(data.train[0]) + len(data.validation[0]) == 200
    assert two_layer.parameter_count("wide", data) == two_layer.builder("wide", data)().count_params()
    run = two_layer.train(root=runs_root, verbose=False)
    assert run.status == "finished" and run.step == 4
    assert (run.info["recipe"], run.info["size"], run.info["dataset"]) == ("two_layer", "small", "blobs")


def test_unregister_leaves_the_registry_as_it_was():
    before = recipes.list_recipes()
    recipes.register(TwoLayerRecipe)
    recipes.unregister("two_layer")
    assert recipes.list_recipes() == before
    with pytest.raises(ValueError, match="No recipe 'two_layer'"):
        recipes.get_recipe("two_layer")
    with pytest.raises(ValueError, match="No recipe 'two_layer'"):
        recipes.unregister("two_layer")


def test_registry_refuses_a_taken_name_and_incomplete_recipes():
    class Impostor(TwoLayerRecipe):
        name = "char_gpt"

    with pytest.raises(ValueError, match=r"'char_gpt' is already registered \(by nbmodels.recipes.text.CharGPTRecipe"):
        recipes.register(Impostor)

    class NoMemoryEstimate(recipes.Recipe):
        name, title, description = "no_memory", "No memory estimate", "Forgets activation_bytes."
        sizes, default_size, datasets, default_dataset = ("one",), "one", ("blobs",), "blobs"
        config, shape_without_data = TrainConfig(), {}
        data_shape = TwoLayerRecipe.data_shape
        make_model_config = TwoLayerRecipe.make_model_config
        build_model = TwoLayerRecipe.build_model

    with pytest.raises(ValueError, match=r"NoMemoryEstimate \('no_memory'\) must define activation_bytes"):
        recipes.register(NoMemoryEstimate)

    class Bare(recipes.Recipe):
        pass

    with pytest.raises(ValueError, match="Bare must declare name, title, description, sizes, default_size"):
        recipes.register(Bare)

    class WrongDefault(TwoLayerRecipe):
        name, default_size = "wrong_default", "huge"

    with pytest.raises(ConfigError, match="wrong_default.default_size='huge' is not allowed") as error:
        recipes.register(WrongDefault)
    assert error.value.field == "default_size"
    assert "wrong_default" not in [recipe.name for recipe in recipes.list_recipes()]


def test_memory_estimate_of_a_non_transformer_recipe_is_its_familys(two_layer):
    config = two_layer.model_config("wide")
    assert not hasattr(config, "sequence_length") and not hasattr(config, "num_heads")
    weights_and_adam = config.parameter_count() * 16  # float32 weight + gradient + two Adam moments
    assert two_layer.estimate_memory("wide", 10) == weights_and_adam + 10 * (64 + 3) * 4
    assert two_layer.estimate_memory("wide", 10, precision="mixed_bfloat16") == weights_and_adam + 10 * (64 + 3) * 2
    assert two_layer.estimate_memory("wide") == weights_and_adam + 8 * (64 + 3) * 4  # the recipe's batch size


def test_listing_recipes_loads_no_keras():
    code = (
        "import sys; from nbmodels import recipes; "
        "[(r.name, r.title, r.sizes, r.datasets, r.config.batch_size) for r in recipes.list_recipes()]; "
        "print([m for m in ('tensorflow', 'keras') if m in sys.modules])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


class ExtraCallbackRecipe(TwoLayerRecipe):
    """A recipe option that becomes an `nbmodels.train` argument (here: a callback)."""

    name = "two_layer_logged"
    train_options = {"log_every": None}

    def training_arguments(self, size, data, options):
        import keras

        if options["log_every"] is None:
            return {}
        seen = self.seen = []
        every = options["log_every"]
        return {"callbacks": [keras.callbacks.LambdaCallback(
            on_train_batch_end=lambda batch, logs: seen.append(batch) if batch % every == 0 else None)]}


@pytest.fixture
def logged():
    recipes.register(ExtraCallbackRecipe)
    yield recipes.get_recipe("two_layer_logged")
    recipes.unregister("two_layer_logged")


def test_a_recipes_own_options_reach_train_and_are_recorded(logged, runs_root):
    run = logged.train(root=runs_root, verbose=False, log_every=2)
    assert run.status == "finished"
    assert logged.seen == [0, 2]  # 4 steps, the callback the option made saw every second one
    assert run.info["options"] == {"log_every": 2}  # recorded, so that recipes.resume(run) uses it again
    with pytest.raises(ConfigError, match=r"log_evry.*did you mean 'log_every'") as error:
        logged.train(root=runs_root, verbose=False, log_evry=2)
    assert error.value.field == "log_evry"
