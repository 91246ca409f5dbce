"""Recommender recipes: two-tower retrieval on positive pairs, and a ranking model that predicts
ratings (DCN, DeepFM or Wide & Deep).

Both train on the synthetic interactions offline (users choosing items by known latent factors)
or on MovieLens (downloaded, or `dataset_options={"path": ...}` a folder of the original files).
The data decide the id counts and the side features (genres, user features); the model bakes
those tables in, so every input is an id. Keras loads only when a model config or a model is
first made, so listing recipes stays cheap.

Example:
>>> from nbmodels.recipes import get_recipe
>>> two_tower = get_recipe("two_tower")
>>> two_tower.sizes, two_tower.default_dataset
(('tiny', 'small', 'base'), 'synthetic_interactions')
>>> f"{two_tower.parameter_count('small'):,}"  # MovieLens 100k's users, movies and genres
'126,632'
>>> ranking = get_recipe("ranking")
>>> ranking.option_choices["variant"]
('dcn', 'deepfm', 'wide_deep')
>>> ranking.model_config("small", variant="deepfm").variant
'deepfm'
"""

from __future__ import annotations

from nbmodels.checks import check_bool, check_choice, check_int
from nbmodels.config import TrainConfig
from nbmodels.recipes.base import Recipe, register

RECOMMENDER_DATASETS = ("synthetic_interactions", "movielens_100k", "movielens_1m")
# MovieLens 100k's ids and genres: what a picker counts parameters with before any data is loaded.
MOVIELENS_100K_SHAPE = {"num_users": 943, "num_items": 1682, "num_genres": 19}
RANKING_VARIANTS = ("dcn", "deepfm", "wide_deep")
# The two-tower's `titles` option: how many token ids, and how titles become them.
TITLE_ENCODINGS = {
    "words": {"title_vocab_size": 2048, "title_length": 8, "title_tokenizer": "words"},  # hashed words
    "bpe": {"title_vocab_size": 513, "title_length": 12, "title_tokenizer": "bpe"},  # 512 BPE tokens + padding
}


class RecommenderRecipe(Recipe):
    """What both recipes share: the recommender datasets (loaded for this recipe's task, with the
    split option of the loaders), and the id counts and side features the data decide."""

    datasets = RECOMMENDER_DATASETS
    default_dataset = "synthetic_interactions"
    shape_without_data = MOVIELENS_100K_SHAPE
    task: str  # what the loaders' task= option is for this recipe

    def data_options(self, size, dataset):
        return {"task": self.task}

    def data_shape(self, data):
        import numpy as np

        from nbmodels.models.recommenders._features import describe_user_features

        extras = data.extras
        genres = extras.get("item_genres")
        return {"num_users": int(extras["num_users"]), "num_items": int(extras["num_items"]),
                "num_genres": 0 if genres is None else int(np.shape(genres)[1]),
                "user_features": describe_user_features(extras.get("user_features"))}


@register
class TwoTowerRecipe(RecommenderRecipe):
    """Two-tower retrieval: a user tower and an item tower whose dot product scores a pair,
    trained with an in-batch softmax (accidental hits removed). Options: `log_q_correction`
    (subtract the log of each item's training frequency from its logits, so popular items are not
    over-rewarded as negatives; on by default: it is what lifts recall far above popularity),
    `hard_negatives` (keep only the n hardest negatives per row; None = all) and `titles` (the
    item tower reads the title too: None, "words" hashed, or "bpe", the text family's byte-level
    BPE trained on the catalogue's titles, which needs `pip install nbmodels[text]`)."""

    name = "two_tower"
    title = "Two-tower retrieval"
    description = ("User and item towers trained on who chose what (in-batch softmax, log-Q correction); "
                   "recommends the top K unseen items. Synthetic users offline, or MovieLens.")
    sizes = ("tiny", "small", "base")
    default_size = "small"
    task = "retrieval"
    config = TrainConfig(epochs=5, batch_size=256, optimizer="adam", learning_rate=1e-2)
    train_options = {"log_q_correction": True, "hard_negatives": None, "titles": None}
    option_choices = {"log_q_correction": (True, False), "hard_negatives": (None, 4, 16, 64),
                      "titles": (None, "words", "bpe")}

    def model_overrides(self, options):
        hard_negatives = options["hard_negatives"]
        if hard_negatives is not None:
            hard_negatives = check_int(self.name, "hard_negatives", hard_negatives, minimum=1)
        titles = options["titles"]
        if titles is not None:
            check_choice(self.name, "titles", titles, TITLE_ENCODINGS)
        return {"log_q_correction": check_bool(self.name, "log_q_correction", options["log_q_correction"]),
                "hard_negatives": hard_negatives, **TITLE_ENCODINGS.get(titles, {"title_vocab_size": 0})}

    def make_model_config(self, size, shape):
        from nbmodels.models.recommenders import TwoTowerConfig

        # The default options' fields first, so a picker's parameter count is the trained model's.
        return TwoTowerConfig.preset(size, **{**self.model_overrides(self.train_options), **shape})

    def build_model(self, model_config, data, name):
        from nbmodels.models.recommenders import TwoTower

        return TwoTower.from_dataset(data, model_config, name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        # Each tower keeps its summed embeddings and hidden layers per example; the in-batch
        # logits (B x B) and their softmax are float32.
        widths = model_config.embedding_dim * 2 + sum(model_config.hidden_dims)
        return 2 * batch_size * widths * value_bytes + 2 * batch_size * batch_size * 4


@register
class RankingRecipe(RecommenderRecipe):
    """Rating prediction: DCN (`FeatureCross` layers), DeepFM or Wide & Deep over the user and item
    ids and their features (option `variant`), trained with mean squared error from the training
    ratings' mean, so it starts at the global-mean baseline it must beat."""

    name = "ranking"
    title = "Ranking: rating prediction"
    description = ("Predicts the rating a user gives an item: Deep & Cross Network, DeepFM or Wide & Deep "
                   "on ids, genres and user features. Synthetic ratings offline, or MovieLens.")
    sizes = ("tiny", "small", "base")
    default_size = "small"
    task = "ranking"
    config = TrainConfig(epochs=5, batch_size=256, optimizer="adam", learning_rate=1e-2)
    train_options = {"variant": "dcn"}
    option_choices = {"variant": RANKING_VARIANTS}

    def model_overrides(self, options):
        check_choice(self.name, "variant", options["variant"], RANKING_VARIANTS)
        return {"variant": options["variant"]}

    def data_shape(self, data):
        import numpy as np

        return {**super().data_shape(data), "target_mean": float(np.mean(data.train[1]))}

    def make_model_config(self, size, shape):
        from nbmodels.models.recommenders import RankingConfig

        return RankingConfig.preset(size, **{**self.model_overrides(self.train_options), **shape})

    def build_model(self, model_config, data, name):
        from nbmodels.models.recommenders import RankingModel

        return RankingModel.from_dataset(data, model_config, name=name)

    def activation_bytes(self, model_config, batch_size, value_bytes):
        # The concatenated fields, each cross layer's output, and the MLP's layers.
        width = model_config.num_fields * model_config.embedding_dim
        return batch_size * (width * (2 + model_config.cross_layers) + sum(model_config.hidden_dims)) * value_bytes
