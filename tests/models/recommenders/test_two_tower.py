"""TwoTower: the model checks with every side table, the in-batch softmax's parts (accidental
hits, log-Q, hard negatives), clear errors, and retrieval that beats popularity several times
over and learns the true item neighbourhoods of the synthetic set."""

import doctest

import keras
import keras_rs
import numpy as np
import pytest

from nbmodels import TrainConfig, data, train
from nbmodels.checks import ConfigError
from nbmodels.data.recsys import seen_items
from nbmodels.models import TWO_TOWER_SIZES, TwoTower, TwoTowerConfig
from nbmodels.models.recommenders import TopKIndex, title_tokens
from nbmodels.models.recommenders import two_tower as two_tower_module
from tests.harness import check_model

USERS, ITEMS, GENRES = 12, 20, 3
RNG = np.random.default_rng(0)
TABLES = dict(
    item_genres=np.eye(GENRES, dtype="float32")[np.arange(ITEMS) % GENRES],
    user_features={"age": RNG.uniform(18, 60, USERS).astype("float32"),
                   "occupation": RNG.integers(0, 4, USERS).astype("int32")},
    item_title_tokens=title_tokens([f"Movie {i} part {i % 3}" for i in range(ITEMS)], vocab_size=50, length=4),
    item_counts=RNG.integers(1, 30, ITEMS),
)
# Item 3 twice: an accidental hit for the in-batch softmax.
PAIRS = {"user": np.array([0, 1, 2, 3, 4, 5, 6, 7], "int32"), "item": np.array([3, 1, 3, 7, 9, 11, 15, 19], "int32")}


def config(**overrides):
    fields = dict(num_users=USERS, num_items=ITEMS, num_genres=GENRES, title_vocab_size=50, title_length=4,
                  user_features=(("age", "numeric", 1), ("occupation", "categorical", 4)))
    return TwoTowerConfig.preset("tiny", **{**fields, **overrides})


def test_passes_the_model_checks_with_every_side_table():
    # Build, symbolic and eager calls, .keras round trip, a fit step (its own loss, no targets)
    # with and without XLA, mixed_bfloat16 with float32 outputs: tests/harness.py.
    full = config(hidden_dims=(8,), log_q_correction=True, hard_negatives=4)
    checked = check_model(lambda: TwoTower(full, **TABLES), PAIRS, atol=1e-5,
                          expected_output_shape={"score": (8,), "user_embedding": (8, 16),
                                                 "item_embedding": (8, 16)})
    restored = checked.restored
    assert isinstance(restored, TwoTower) and restored.config == full
    # The side tables came back from the file (from_config alone builds zeros).
    for mine, theirs in zip(checked.model.non_trainable_weights, restored.non_trainable_weights, strict=True):
        assert np.any(np.asarray(mine)) and np.array_equal(np.asarray(mine), np.asarray(theirs)), mine.path
    np.testing.assert_allclose(restored.item_embeddings(), checked.model.item_embeddings(), atol=1e-5)
    assert checked.mixed_precision_model.user_tower.fields.compute_dtype == "bfloat16"


@pytest.mark.parametrize("size", list(TWO_TOWER_SIZES))
def test_parameter_count_is_exact(size):
    cfg = TwoTowerConfig.preset(size, **{**config().to_dict(), **TWO_TOWER_SIZES[size], "log_q_correction": True})
    assert TwoTower(cfg, **TABLES).count_params() == cfg.parameter_count()


def test_accidental_hits_are_masked_here_because_keras_rs_does_not():
    logits = np.arange(9, dtype="float32").reshape(3, 3)
    labels, ids = np.eye(3, dtype="float32"), np.array([5, 5, 7])
    masked = keras.ops.convert_to_numpy(two_tower_module.remove_accidental_hits(logits, labels, ids))
    assert masked[0, 1] < -1e30 and masked[1, 0] < -1e30  # the same item is no negative of the other row
    np.testing.assert_array_equal(masked[np.eye(3, dtype=bool)], np.diag(logits))  # positives untouched
    assert masked[2, 0] == logits[2, 0]
    # keras-rs 0.4.0 adds ~1e-40 (keras-rs PR #206). When this fails, keras-rs fixed it: use its layer.
    unchanged = keras.ops.convert_to_numpy(keras_rs.layers.RemoveAccidentalHits()(logits, labels, ids))
    np.testing.assert_array_equal(unchanged, logits)


def test_accidental_hits_log_q_and_hard_negatives_each_change_the_loss_and_train(runs_root):
    def loss(**overrides):
        keras.utils.set_random_seed(1)  # the same weights for every variant
        model = TwoTower(config(hidden_dims=(8,), **overrides), **TABLES)
        return float(model.compute_loss(PAIRS, None, model(PAIRS)))

    plain = loss(remove_accidental_hits=False)
    variants = [loss(), loss(remove_accidental_hits=False, log_q_correction=True),
                loss(remove_accidental_hits=False, hard_negatives=2)]
    assert all(np.isfinite(variants)) and all(abs(value - plain) > 1e-4 for value in variants)

    pairs = {"user": np.arange(40, dtype="int32") % USERS, "item": np.arange(40, dtype="int32") % ITEMS}
    dataset = data.Dataset(task="retrieval", train=(pairs, None), validation=(pairs, None))
    both = config(log_q_correction=True, hard_negatives=3)
    run = train(lambda: TwoTower(both, **TABLES), dataset, TrainConfig(steps=4, batch_size=8), verbose=False)
    assert run.status == "finished", run.message
    assert np.isfinite(run.history[-1]["metrics"]["loss"])


@pytest.mark.parametrize("field, value, allowed", [
    ("num_items", 1, "whole number >= 2"),
    ("embedding_dim", 0, "whole number >= 1"),
    ("hidden_dims", (8, 0), "layer widths"),
    ("temperature", 0.0, "> 0"),
    ("hard_negatives", 0, "whole number >= 1"),
    ("dropout", 1.0, "in [0, 1)"),
    ("title_vocab_size", 1, "token 0 is padding"),
    ("user_features", (("age", "numerical", 1),), "'categorical'"),
    ("l2_normalize", "yes", "True or False"),
])
def test_config_errors_name_the_field(field, value, allowed):
    with pytest.raises(ConfigError) as error:
        config(**{field: value})
    assert error.value.field == field and f"TwoTowerConfig.{field}=" in str(error.value)
    assert allowed in str(error.value)


def test_side_tables_that_do_not_fit_the_config_are_clear_errors():
    with pytest.raises(ValueError, match=r"config.num_genres=3 needs item_genres; .* or set num_genres=0\."):
        TwoTower(config(), **{**TABLES, "item_genres": None})
    with pytest.raises(ValueError, match=r"item_genres was given but config.num_genres=0"):
        TwoTower(config(num_genres=0), **TABLES)
    with pytest.raises(ValueError, match=r"item_genres has shape \(20, 2\); the config needs \(20, 3\)"):
        TwoTower(config(), **{**TABLES, "item_genres": TABLES["item_genres"][:, :2]})
    with pytest.raises(ValueError, match=r"user_features\['occupation'\] holds ids from 0 to 3; .* 0..1"):
        TwoTower(config(user_features=(("age", "numeric", 1), ("occupation", "categorical", 2))), **TABLES)
    with pytest.raises(ValueError, match=r"log_q_correction=True needs item_counts"):
        TwoTower(config(log_q_correction=True), **{**TABLES, "item_counts": None})


def test_ids_out_of_range_are_clear_errors():
    model = TwoTower(config(), **TABLES)
    with pytest.raises(ValueError, match=r"user_ids\[1\]=12 is out of range: ids go from 0 to 11"):
        model.user_embeddings([0, 12])
    with pytest.raises(ValueError, match=r"item_ids\[0\]=-1 is out of range"):
        model.item_embeddings([-1])
    with pytest.raises(ValueError, match=r"TwoTower.score: item_ids\[2\]=20"):
        model.score(0, [1, 2, 20])
    with pytest.raises(ValueError, match=r"takes a dict \{'user': ids \(B,\), 'item': ids \(B,\)\}"):
        model({"users": PAIRS["user"], "item": PAIRS["item"]})


def test_learns_retrieval_far_beyond_popularity_and_the_true_neighbourhoods(runs_root):
    ds = data.load("synthetic_interactions", seed=0)
    cfg = TwoTowerConfig.for_dataset(ds, "tiny")
    assert cfg.log_q_correction and cfg.num_genres == 8  # read from the dataset's extras
    run = train(lambda: TwoTower.from_dataset(ds, cfg), ds,
                TrainConfig(epochs=3, batch_size=256, optimizer="adam", learning_rate=1e-2), verbose=False)
    assert run.status == "finished", run.message
    for name in ("recall_at_10_in_batch", "ndcg_at_10_in_batch", "mrr_at_10_in_batch", "map_at_10_in_batch"):
        assert name in run.history[-1]["metrics"] and f"val_{name}" in run.validation_history[-1]["metrics"]
    assert "val_recall_at_10_in_batch" in run.validation_history[-1]["metrics"]

    (train_x, _), (validation_x, _) = ds.train, ds.validation
    num_users, item_counts = ds.extras["num_users"], ds.extras["item_counts"]
    seen = seen_items(train_x, num_users)
    users = np.arange(num_users)

    def recall_at_10(top):  # share of validation pairs whose item is in its user's top 10
        return np.mean((top[validation_x["user"]] == validation_x["item"][:, None]).any(axis=1))

    learned = recall_at_10(TopKIndex.from_model(run.model).recommend(run.model, users, 10, exclude=seen)[1])
    by_popularity = TopKIndex(item_counts[:, None].astype("float32")).search(
        np.ones((num_users, 1), "float32"), 10, exclude=seen)[1]
    popularity = recall_at_10(by_popularity)
    assert learned >= 3 * popularity, (learned, popularity)  # measured: 0.59 vs 0.12

    # Each item's 10 nearest learned neighbours (cosine) share its true genre cluster far more
    # often than the 1 in 8 of chance (measured: 0.95), and the learned similarities of item
    # pairs rank as the true factors' do (Spearman, measured: 0.81).
    items = run.model.item_embeddings()
    items /= np.linalg.norm(items, axis=1, keepdims=True)
    similarity = items @ items.T
    pairs = np.triu_indices(len(items), 1)
    factors = ds.ground_truth["item_factors"]
    assert rank_correlation(similarity[pairs], (factors @ factors.T)[pairs]) > 0.6
    np.fill_diagonal(similarity, -np.inf)
    neighbours = np.argsort(-similarity, axis=1)[:, :10]
    clusters = ds.ground_truth["item_clusters"]
    assert np.mean(clusters[neighbours] == clusters[:, None]) > 0.7


def rank_correlation(a, b):
    return np.corrcoef(np.argsort(np.argsort(a)), np.argsort(np.argsort(b)))[0, 1]


def test_doctests():
    assert doctest.testmod(two_tower_module, optionflags=doctest.ELLIPSIS).failed == 0
