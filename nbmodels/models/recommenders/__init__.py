"""The recommender family: a two-tower retrieval model (`two_tower`) trained on positive pairs
with an in-batch softmax, exact top-K search over its item embeddings (`index`), and ranking
models (`ranking`: DCN, DeepFM, Wide & Deep) that predict a rating or score lists of items.
Inputs are ids, `{"user": (B,), "item": (B,)}`; side features are per-id tables baked into the
models."""

from nbmodels.models.recommenders.index import TopKIndex
from nbmodels.models.recommenders.ranking import RANKING_SIZES, RankingConfig, RankingModel
from nbmodels.models.recommenders.two_tower import TWO_TOWER_SIZES, TwoTower, TwoTowerConfig, title_tokens

__all__ = [
    "RANKING_SIZES",
    "RankingConfig",
    "RankingModel",
    "TWO_TOWER_SIZES",
    "TopKIndex",
    "TwoTower",
    "TwoTowerConfig",
    "title_tokens",
]
