"""RankingModel: predict how much a user likes an item (a rating), or rank lists of items.

`RankingConfig` holds the sizes (named in `RANKING_SIZES`); `RankingModel(config, ...)` is the
model. Every input is an id; each id becomes "fields", one d-vector each: the user's embedding and
one per user feature, the item's embedding and its genres (the side tables of
`nbmodels.models.recommenders.two_tower`, baked in as non-trainable weights). Three variants
combine the fields:

- "dcn" (Deep & Cross Network v2, Wang et al. 2020): the concatenated fields go through
  `keras_rs.layers.FeatureCross` layers (explicit, bounded-degree feature crosses), then an MLP;
- "deepfm" (Guo et al. 2017): a first-order term (one learned weight per id and feature), the
  factorisation machine's second-order term (every pair of fields' dot product,
  `keras_rs.layers.DotInteraction`, summed) and an MLP over the concatenated fields, added;
- "wide_deep" (Cheng et al. 2016): a wide linear part over the ids, their features and crossed
  ids (user x item hashed into `cross_buckets`; user x genre when genres are known), which
  memorises, plus the deep MLP, which generalises.

The output is `target_mean` plus what the model learns: start it at the training ratings' mean
(`RankingConfig.for_dataset` does) and training begins from the global-mean baseline.

Pointwise (`listwise=False`, the default): `{"user": (B,), "item": (B,)}` in, a rating `(B,)`
float32 out, trained with the loss it is compiled with ("mse" for a regression Dataset:
`nbmodels.train` compiles the Dataset's loss).

Listwise (`listwise=True`): `{"user": (B,), "item": (B, L)}` in (each user with a list of L
items), scores `(B, L)` float32 out, and targets `(B, L)` relevance (padding: item 0 with
relevance -1, which keras-rs ranking losses and metrics ignore). The model trains with its own
keras-rs ranking loss (`ranking_loss`: "pairwise_logistic", "pairwise_hinge" or "list_mle"), in
place of any compiled loss: `nbmodels.train` on a regression Dataset compiles "mse", which a
listwise model does not use. Its metric "ndcg_at_5" (keras-rs `NDCG`) is kept in training and
validation.
"""

from __future__ import annotations

import dataclasses

import keras
import keras_rs
import numpy as np
from keras import ops

from nbmodels.checks import Fields, preset_fields
from nbmodels.models._base import ConfiguredModel
from nbmodels.models.recommenders._features import (
    FieldEmbeddings,
    SideTables,
    check_ids,
    check_sizes,
    check_table,
    check_user_features,
    describe_user_features,
    field_parameter_count,
    item_table_specs,
    pair_inputs,
    table_parameter_count,
    user_feature_tables,
    user_table_specs,
)

VARIANTS = ("dcn", "deepfm", "wide_deep")
RANKING_LOSSES = {
    "pairwise_logistic": keras_rs.losses.PairwiseLogisticLoss,
    "pairwise_hinge": keras_rs.losses.PairwiseHingeLoss,
    "list_mle": keras_rs.losses.ListMLELoss,
}
NDCG_K = 5


@dataclasses.dataclass(frozen=True)
class RankingConfig:
    """Sizes and options of a `RankingModel`, checked on construction.

    A bad value raises `ConfigError` (a `ValueError`) naming the field, the value and what is
    allowed. `RankingConfig.preset(name, num_users=..., num_items=..., **overrides)` gives the
    sizes in `RANKING_SIZES`; `RankingConfig.for_dataset(dataset, size)` reads the id counts, side
    features and mean rating from a recommender Dataset.

    Example:
    >>> from nbmodels.models import RankingConfig
    >>> config = RankingConfig.preset("small", num_users=943, num_items=1682, variant="deepfm")
    >>> f"{config.parameter_count():,}"
    '48,850'
    >>> RankingConfig.preset("tiny", num_users=10, num_items=20, variant="dnc")
    Traceback (most recent call last):
    ...
    nbmodels.checks.ConfigError: RankingConfig.variant='dnc' is not allowed: choose one of 'dcn', 'deepfm', 'wide_deep' (did you mean 'dcn'?).
    """

    num_users: int
    num_items: int
    variant: str = "dcn"  # "dcn", "deepfm" or "wide_deep" (see the module)
    embedding_dim: int = 16  # width of every field's vector
    hidden_dims: tuple[int, ...] = (64, 32)  # the deep MLP; () = none (its output layer stays)
    dropout: float = 0.0  # after each hidden layer
    cross_layers: int = 2  # dcn: FeatureCross layers (each one more degree of crossing)
    # dcn: None = full-rank cross matrices ((F*d)^2 each); an int r = low-rank U V, (2 r + 1) F*d each.
    cross_projection_dim: int | None = None
    cross_buckets: int = 10_000  # wide_deep: hashed user x item crosses
    num_genres: int = 0  # width of the item genre multi-hot table; 0 = no genres
    # (name, kind, size) per user feature table, as TwoTowerConfig.user_features.
    user_features: tuple = ()
    # Added to every prediction: the training targets' mean, so training starts from that baseline.
    target_mean: float = 0.0
    listwise: bool = False  # score lists of items (B, L) and train with ranking_loss
    ranking_loss: str = "pairwise_logistic"  # listwise only: "pairwise_logistic", "pairwise_hinge", "list_mle"

    def __post_init__(self):
        fields = Fields(self)
        fields.int("num_users", minimum=1)
        fields.int("num_items", minimum=1)
        fields.choice("variant", VARIANTS)
        fields.int("embedding_dim", minimum=1)
        check_sizes(self, "hidden_dims")
        fields.rate("dropout")
        fields.int("cross_layers", minimum=0)
        fields.int("cross_projection_dim", minimum=1, optional=True)
        fields.int("cross_buckets", minimum=1)
        fields.int("num_genres", minimum=0)
        object.__setattr__(self, "user_features", check_user_features(self, self.user_features))
        fields.float("target_mean")
        fields.bool("listwise")
        fields.choice("ranking_loss", tuple(RANKING_LOSSES))

    @classmethod
    def preset(cls, name: str, **overrides) -> RankingConfig:
        """The named sizes of `RANKING_SIZES`, with any field replaced by `overrides`
        (`num_users` and `num_items` are the data's and always needed)."""
        return cls(**{**preset_fields(cls, RANKING_SIZES, name), **overrides})

    @classmethod
    def for_dataset(cls, dataset, size: str = "small", *, genres: bool = True, user_features: bool = True,
                    **overrides) -> RankingConfig:
        """The `size` preset for a recommender Dataset: its id counts, the side features its
        `extras` hold, and (pointwise) the mean of its training targets as `target_mean`."""
        extras = dataset.extras
        found = dict(num_users=int(extras["num_users"]), num_items=int(extras["num_items"]))
        if genres and extras.get("item_genres") is not None:
            found["num_genres"] = int(np.shape(extras["item_genres"])[1])
        if user_features:
            found["user_features"] = describe_user_features(extras.get("user_features"))
        targets = dataset.train[1] if isinstance(dataset.train, tuple) else None
        if targets is not None and not overrides.get("listwise"):
            found["target_mean"] = float(np.mean(targets))
        return cls.preset(size, **{**found, **overrides})

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @property
    def user_specs(self):
        return user_table_specs(self.user_features)

    @property
    def item_specs(self):
        return item_table_specs(self.num_genres)

    @property
    def num_fields(self) -> int:
        """F: the user and item ids, each user feature, and the genres."""
        return 2 + len(self.user_specs) + len(self.item_specs)

    def parameter_count(self) -> int:
        """Parameters of `RankingModel(self)` without building it (side tables included, as
        `count_params()` counts them)."""
        d, width = self.embedding_dim, self.num_fields * self.embedding_dim

        def fields(dim):
            return (field_parameter_count(self.num_users, self.user_specs, dim)
                    + field_parameter_count(self.num_items, self.item_specs, dim))

        count = fields(d) + table_parameter_count(self.num_users, self.user_specs)
        count += table_parameter_count(self.num_items, self.item_specs)
        widths = (width, *self.hidden_dims, 1)
        count += sum((a + 1) * b for a, b in zip(widths, widths[1:]))  # the deep MLP and its output
        if self.variant == "dcn":
            rank = self.cross_projection_dim
            per_layer = width * width + width if rank is None else 2 * width * rank + width
            count += self.cross_layers * per_layer
        else:  # deepfm and wide_deep: one weight per id and feature value
            count += fields(1)
        if self.variant == "wide_deep":
            count += self.cross_buckets + (self.num_users * self.num_genres)
        return count


# Named sizes: "tiny" for tests; "small" suits MovieLens 100k on a CPU; "base" MovieLens 1M.
RANKING_SIZES = {
    "tiny": dict(embedding_dim=8, hidden_dims=(16,), cross_layers=1, cross_buckets=512),
    "small": dict(embedding_dim=16, hidden_dims=(64, 32), cross_layers=2, cross_buckets=10_000),
    "base": dict(embedding_dim=32, hidden_dims=(256, 128), cross_layers=3, cross_projection_dim=32,
                 cross_buckets=100_000, dropout=0.1),
}


@keras.saving.register_keras_serializable(package="nbmodels")
class RankingModel(ConfiguredModel):
    """A rating predictor (DCN, DeepFM or Wide & Deep) over user and item ids and their features.

    Args:
        config: a `RankingConfig` (or its dict, as `get_config` stores it).
        item_genres: `(num_items, num_genres)` multi-hot float table; needed when `config.num_genres > 0`.
        user_features: `{name: (num_users,) or (num_users, k) array}` matching `config.user_features`.
        **kwargs: other `keras.Model` arguments (`name`, `dtype`, ...).

    Call arguments:
        inputs: `{"user": (B,) int ids, "item": (B,) int ids}`, or `"item": (B, L)` for lists.
        training: bool. Whether dropout is active.

    Returns:
        Predicted ratings `(B,)` float32 (scores `(B, L)` for lists), also under mixed precision.

    Example:
    >>> import numpy as np
    >>> from nbmodels.models import RankingModel, RankingConfig
    >>> config = RankingConfig.preset("tiny", num_users=30, num_items=50, variant="deepfm", target_mean=3.5)
    >>> model = RankingModel(config)
    >>> tuple(model({"user": np.array([0, 1]), "item": np.array([5, 6])}).shape)
    (2,)
    >>> tuple(model({"user": np.array([0, 1]), "item": np.array([[5, 6, 7], [1, 2, 3]])}).shape)
    (2, 3)
    >>> model.count_params() == config.parameter_count()
    True
    >>> model.predict_ratings([0, 1], [5, 60])
    Traceback (most recent call last):
    ...
    ValueError: RankingModel.predict_ratings: item_ids[1]=60 is out of range: ids go from 0 to 49 (config.num_items=50). Map raw ids to dense ids 0..num_items-1 as the dataset does.
    """

    def __init__(self, config: RankingConfig | dict, item_genres=None, user_features=None, *,
                 _placeholder_tables: bool = False, **kwargs):
        kwargs.setdefault("name", "ranking")
        super().__init__(**kwargs)
        self.config = config if isinstance(config, RankingConfig) else RankingConfig(**config)
        config, policy = self.config, self.dtype_policy
        user_tables = item_tables = None
        if not _placeholder_tables:  # from_config builds zeros; loading the .keras file fills them
            user_tables, item_tables = self._side_tables(item_genres, user_features)
        self.user_tables = SideTables(config.num_users, config.user_specs, user_tables, dtype=policy,
                                      name="user_tables")
        self.item_tables = SideTables(config.num_items, config.item_specs, item_tables, dtype=policy,
                                      name="item_tables")
        d = config.embedding_dim
        self.user_fields = FieldEmbeddings(config.num_users, config.user_specs, d, dtype=policy, name="user_fields")
        self.item_fields = FieldEmbeddings(config.num_items, config.item_specs, d, dtype=policy, name="item_fields")
        self.hidden = [keras.layers.Dense(width, activation="relu", dtype=policy, name=f"hidden_{index}")
                       for index, width in enumerate(config.hidden_dims)]
        self.dropout = keras.layers.Dropout(config.dropout, dtype=policy, name="dropout")
        # float32 predictions; zeros, so that an untrained model predicts target_mean (the global-mean
        # baseline) and training starts from there, not from a random offset of about one star.
        self.output_layer = keras.layers.Dense(1, kernel_initializer="zeros", dtype="float32", name="output")
        self.crosses = []
        if config.variant == "dcn":
            self.crosses = [keras_rs.layers.FeatureCross(projection_dim=config.cross_projection_dim, dtype=policy,
                                                         name=f"cross_{index}")
                            for index in range(config.cross_layers)]
        else:  # first-order weights, one per id and feature value
            self.user_weights = FieldEmbeddings(config.num_users, config.user_specs, 1, dtype=policy,
                                                name="user_weights")
            self.item_weights = FieldEmbeddings(config.num_items, config.item_specs, 1, dtype=policy,
                                                name="item_weights")
        if config.variant == "deepfm":
            self.interaction = keras_rs.layers.DotInteraction(dtype=policy, name="fm")
        if config.variant == "wide_deep":
            self.user_item_cross = keras.layers.Embedding(config.cross_buckets, 1, embeddings_initializer="zeros",
                                                          dtype=policy, name="user_item_cross")
            self.user_genre_cross = (keras.layers.Embedding(config.num_users * config.num_genres, 1,
                                                            embeddings_initializer="zeros", dtype=policy,
                                                            name="user_genre_cross")
                                     if config.num_genres else None)
        self.ranking_loss = RANKING_LOSSES[config.ranking_loss]() if config.listwise else None
        self.ndcg = (keras_rs.metrics.NDCG(k=NDCG_K, shuffle_ties=False, name=f"ndcg_at_{NDCG_K}")
                     if config.listwise else None)
        # Built now, like a functional model: count_params() and summary() work before any call.
        self.build({"user": (None,), "item": (None,)})

    @classmethod
    def from_dataset(cls, dataset, config: RankingConfig | str = "small", **kwargs) -> RankingModel:
        """A `RankingModel` for a recommender Dataset, its side tables taken from `dataset.extras`;
        `config` is a `RankingConfig` or a size name (then `RankingConfig.for_dataset`)."""
        if isinstance(config, str):
            config = RankingConfig.for_dataset(dataset, config)
        extras = dataset.extras
        return cls(config, item_genres=extras.get("item_genres") if config.num_genres else None,
                   user_features=extras.get("user_features") if config.user_features else None, **kwargs)

    @classmethod
    def from_config(cls, config):
        # The side tables are weights: build placeholders of their shapes for the file to fill.
        return cls(**config, _placeholder_tables=True)

    def _side_tables(self, item_genres, user_features):
        config, owner = self.config, type(self).__name__
        if (item_genres is None) != (not config.num_genres):
            raise ValueError(
                f"{owner}: config.num_genres={config.num_genres} needs item_genres, a (num_items, num_genres) table "
                "(RankingModel.from_dataset takes it from the dataset's extras), or num_genres=0."
                if item_genres is None else
                f"{owner}: item_genres was given but config.num_genres=0 does not use it; set num_genres "
                "(RankingConfig.for_dataset does) or leave it out."
            )
        items = {}
        if config.num_genres:
            items["genres"] = check_table(owner, "item_genres", item_genres, (config.num_items, config.num_genres),
                                          "float32")
        return user_feature_tables(owner, user_features, config.user_specs, config.num_users), items

    def build(self, input_shape):
        if self.built:  # built in __init__
            return
        ids = keras.KerasTensor((None,), dtype="int32")
        self.call({"user": ids, "item": ids})  # symbolic: builds every layer
        self.built = True

    def call(self, inputs, training=None):
        users, items = pair_inputs(self, inputs, list_items=True)
        if len(items.shape) == 2:  # lists: score every (user, item) pair, then shape them back
            length = ops.shape(items)[1]
            users = ops.reshape(ops.repeat(ops.expand_dims(users, 1), length, axis=1), (-1,))
            return ops.reshape(self._score(users, ops.reshape(items, (-1,)), training), (-1, length))  # (B, L)
        return self._score(users, items, training)  # (B,)

    def _score(self, users, items, training):
        users, items = ops.cast(users, "int32"), ops.cast(items, "int32")
        user_rows, item_rows = self.user_tables(users), self.item_tables(items)
        fields = self.user_fields(users, user_rows) + self.item_fields(items, item_rows)  # F x (N, d)
        x = x0 = ops.concatenate(fields, axis=-1)  # (N, F * d)
        for cross in self.crosses:  # dcn: x_{l+1} = x0 * (W x_l + b) + x_l
            x = cross(x0, x)
        for layer in self.hidden:
            x = self.dropout(layer(x), training=training)  # (N, h)
        prediction = ops.squeeze(self.output_layer(x), -1)  # (N,) float32
        if self.config.variant != "dcn":  # first-order terms: one weight per id and feature value
            weights = self.user_weights(users, user_rows) + self.item_weights(items, item_rows)  # F x (N, 1)
            prediction += ops.cast(ops.sum(ops.concatenate(weights, axis=-1), axis=-1), "float32")
        if self.config.variant == "deepfm":  # the FM term: sum over pairs of fields of <e_i, e_j>
            prediction += ops.cast(ops.sum(self.interaction(fields), axis=-1), "float32")
        if self.config.variant == "wide_deep":
            prediction += self._crossed_ids(users, items, item_rows)
        return prediction + self.config.target_mean

    def _crossed_ids(self, users, items, item_rows):
        """The wide part's crossed ids: user x item (hashed), and user x each of the item's genres."""
        config = self.config
        pair = (ops.cast(users, "int64") * config.num_items + ops.cast(items, "int64")) % config.cross_buckets
        wide = ops.squeeze(self.user_item_cross(ops.cast(pair, "int32")), -1)  # (N,)
        if self.user_genre_cross is not None:
            genres = ops.cast(item_rows[0], self.compute_dtype)  # (N, G) multi-hot
            ids = ops.expand_dims(users, -1) * config.num_genres + ops.arange(config.num_genres, dtype="int32")
            wide += ops.sum(ops.squeeze(self.user_genre_cross(ids), -1) * genres, axis=-1)  # (N,)
        return ops.cast(wide, "float32")

    # ---- listwise training ----------------------------------------------------------------------

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        if not self.config.listwise:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        check_lists(y, y_pred)
        return self.ranking_loss(y, y_pred)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        if not self.config.listwise:
            return super().compute_metrics(x, y, y_pred, sample_weight)
        self.ndcg.update_state(y, y_pred)
        return self.get_metrics_result()

    def get_metrics_result(self):
        logs = {}
        for metric in self.metrics:
            if not getattr(metric, "built", True):  # compiled metrics a listwise model does not feed
                continue
            result = metric.result()
            logs.update(result if isinstance(result, dict) else {metric.name: result})
        return logs

    # ---- numpy in, numpy out ----------------------------------------------------------------------

    def predict_ratings(self, user_ids, item_ids, batch_size: int = 8192) -> np.ndarray:
        """`(n,)` float32 predictions for the pairs (user_ids[k], item_ids[k]); a single id broadcasts."""
        users, items = np.broadcast_arrays(np.asarray(user_ids), np.asarray(item_ids))
        owner = "RankingModel.predict_ratings"
        users = check_ids(owner, "user_ids", users.ravel(), self.config.num_users, "num_users")
        items = check_ids(owner, "item_ids", items.ravel(), self.config.num_items, "num_items")
        chunks = [keras.ops.convert_to_numpy(self._score(users[start : start + batch_size],
                                                         items[start : start + batch_size], training=False))
                  for start in range(0, len(users), batch_size)]
        return np.concatenate(chunks) if chunks else np.zeros((0,), "float32")


def check_lists(y, y_pred) -> None:
    """A listwise model's targets are (B, L) relevance, one per item of each list."""
    if y is None or len(y.shape) != 2 or len(y_pred.shape) != 2:
        shape = None if y is None else tuple(y.shape)
        raise ValueError(
            f"A listwise RankingModel takes items (B, L) and targets (B, L) relevance (-1 for padding); got targets "
            f"of shape {shape} and scores of shape {tuple(y_pred.shape)}. Feed lists, or use listwise=False."
        )
