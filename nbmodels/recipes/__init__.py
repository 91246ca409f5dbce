"""Recipes: a model family, its datasets and a default TrainConfig, ready to train.

A recipe is what the training dashboard lists: pick one, a size and a dataset, adjust the
config, press Start. Each is a builder + data + a sensible `TrainConfig`, and nothing more;
training goes through the same `nbmodels.train` as everything else. The recipe, size and
dataset are recorded in the run's config.json, so `resume(run)` can rebuild the model and
data for a run loaded from disk.

`base` holds the `Recipe` class and the registry; each family's recipes live in their own
module (`text`, `vision`, `recommenders`) and register themselves when it is imported below. Listing recipes loads
no Keras.

Example:
>>> from nbmodels import recipes
>>> [recipe.name for recipe in recipes.list_recipes()]
['char_gpt', 'text_classifier', 'convnet', 'vit', 'transfer', 'two_tower', 'ranking']
>>> gpt = recipes.get_recipe("char_gpt")
>>> gpt.title, gpt.sizes, gpt.default_dataset
('Character GPT on a corpus', ('tiny', 'baby', 'shakespeare_char'), 'python_docs')
>>> f"{gpt.parameter_count('baby'):,}"
'809,856'
"""

from nbmodels.recipes.base import Recipe, get_recipe, list_recipes, register, resume, unregister

# Importing a family's module registers its recipes; the picker lists them in this order.
from nbmodels.recipes import text, vision, recommenders  # noqa: E402,F401  isort: skip

__all__ = ["Recipe", "get_recipe", "list_recipes", "register", "resume", "unregister"]
