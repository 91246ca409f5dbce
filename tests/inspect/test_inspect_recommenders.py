"""Recommender inspection on a real two-tower model trained briefly on the synthetic set: top-K with
the seen items left out, TFRS's factorized top-K accuracy, the keras-rs report against popularity,
neighbours, explanations and the 2-D map, each checked against a plain numpy (or TF) computation."""

import doctest

import numpy as np
import pytest

from nbmodels import data
import nbmodels.inspect.recommenders as recommenders_module
from nbmodels.data.recsys import seen_items
from nbmodels.inspect import (
    explain, item_projection, recommend, retrieval_report, similar_items, top_k_accuracy,
)


def train_two_tower(dataset, epochs: int = 3):
    """A tiny two-tower model after `epochs` passes over the train pairs (3 x 57 steps here)."""
    import keras

    from nbmodels.models.recommenders import TwoTower, TwoTowerConfig

    keras.utils.set_random_seed(0)
    extras = dataset.extras
    model = TwoTower(TwoTowerConfig.preset("tiny", num_users=extras["num_users"], num_items=extras["num_items"]))
    model.compile(optimizer=keras.optimizers.Adam(0.01))
    model.fit(dataset.train[0], batch_size=256, epochs=epochs, shuffle=True, verbose=0)
    return model


@pytest.fixture(scope="module")
def ratings():
    return data.load("synthetic_interactions")  # 600 users, 400 items, random 80/20 split


@pytest.fixture(scope="module")
def model(ratings):
    return train_two_tower(ratings)


@pytest.fixture(scope="module")
def seen(ratings):
    return seen_items(ratings.train[0], ratings.extras["num_users"])


def all_scores(model):
    return model.user_embeddings(np.arange(model.config.num_users)) @ model.item_embeddings().T  # (U, I)


def test_recommend_leaves_each_users_seen_items_out_and_ranks_by_the_towers_dot_product(model, ratings, seen):
    users = np.arange(600)
    ids, scores = recommend(model, users, k=10, data=ratings)
    assert ids.shape == scores.shape == (600, 10) and ids.dtype == np.int64
    assert not any(set(ids[u]) & set(seen[u]) for u in users)
    assert np.all(np.diff(scores, axis=1) <= 0)
    expected = all_scores(model)
    np.testing.assert_allclose(scores, np.take_along_axis(expected, ids, 1), rtol=1e-5, atol=1e-5)
    masked = expected.copy()
    for u in users:
        masked[u, seen[u]] = -np.inf
    # Nothing outside the list beats its last item: the exact top 10 of the unseen items.
    assert np.all(np.sort(masked, axis=1)[:, -11] <= scores[:, -1] + 1e-5)

    everything, _ = recommend(model, 3, k=10, exclude=None)  # one user: a flat list
    assert everything.shape == (10,) and everything[0] == np.argmax(expected[3])
    assert set(everything) & set(seen[3])  # a trained model ranks what it saw in training high
    own, _ = recommend(model, [3, 4], k=5, exclude=[everything[:2], []])
    assert not set(own[0]) & set(everything[:2]) and own[0][0] == everything[2]
    assert own[1][0] == np.argmax(expected[4])


def test_top_k_accuracy_is_tfrs_factorized_top_k_over_the_whole_catalogue(model, ratings):
    import tensorflow as tf

    ks = (1, 5, 10, 50, 100, 400)
    accuracy = top_k_accuracy(model, ratings, ks)
    values = [accuracy[k] for k in ks]
    assert values == sorted(values) and accuracy[400] == 1.0 and 0 < accuracy[1] < accuracy[100] < 1
    assert top_k_accuracy(model, ratings, 10) == accuracy[10]
    # The same hits as TF's in_top_k on the full score matrix, which TFRS's FactorizedTopK reduces to.
    x = ratings.validation[0]
    scores = all_scores(model)[x["user"]]  # (pairs, I)
    for k in (1, 10, 50):
        hits = tf.math.in_top_k(tf.constant(x["item"]), tf.constant(scores), k).numpy()
        assert accuracy[k] == pytest.approx(hits.mean(), abs=1e-9)
    # Train items are not left out (as in TFRS; left out, train pairs would score 0): the model
    # ranks the pairs it trained on higher than held-out ones.
    assert top_k_accuracy(model, ratings, 10, split="train") > accuracy[10]


def test_retrieval_report_has_every_metric_and_beats_popularity(model, ratings, seen):
    report = retrieval_report(model, ratings)
    ks = (1, 5, 10, 50, 100)
    assert report.ks == ks and report.num_items == 400 and report.num_pairs == len(ratings.validation[0]["user"])
    names = [f"factorized_top_k/top_{k}_categorical_accuracy" for k in ks]
    names += [f"{kind}_at_{k}" for k in ks for kind in ("recall", "ndcg", "mrr", "map")]
    assert list(report.model) == names and list(report.popularity) == names
    assert list(report.to_dict()) == names + [f"popularity/{name}" for name in names]
    assert all(0.0 <= value <= 1.0 for value in report.to_dict().values())
    assert [report.model[f"recall_at_{k}"] for k in ks] == sorted(report.model[f"recall_at_{k}"] for k in ks)
    accuracy = top_k_accuracy(model, ratings, ks)
    assert all(report.model[f"factorized_top_k/top_{k}_categorical_accuracy"] == accuracy[k] for k in ks)
    for name in ("recall_at_10", "ndcg_at_10", "map_at_10"):  # the model learned more than popularity
        assert report.model[name] > 1.5 * report.popularity[name], name
    assert report.model[names[2]] > report.popularity[names[2]]  # also by TFRS's top-10, seen items counted

    # keras-rs' recall@10 is numpy's: held-out items found in each user's top 10 of unseen items.
    x = ratings.validation[0]
    scores = all_scores(model)
    recalls = []
    for user in np.unique(x["user"]):
        relevant = set(x["item"][x["user"] == user])
        row = scores[user].copy()
        row[[i for i in seen[user] if i not in relevant]] = -np.inf
        recalls.append(len(relevant & set(np.argsort(-row)[:10])) / len(relevant))
    assert report.num_users == len(recalls)
    assert report.model["recall_at_10"] == pytest.approx(np.mean(recalls), abs=1e-5)
    # Counting seen items as competitors can only push held-out items down.
    with_seen = retrieval_report(model, ratings, ks=(10,), exclude_seen=False)
    assert with_seen.model["recall_at_10"] < report.model["recall_at_10"]
    assert report.summary().startswith("top-10 accuracy ") and "popularity" in report.summary()
    assert len(report.rows()) == len(names)


def test_cutting_lists_to_their_head_keeps_every_keras_rs_metric_exact():
    from nbmodels.inspect.recommenders import _ranking_metrics, head_lists

    rng = np.random.default_rng(1)
    labels = (rng.random((64, 300)) < 0.03).astype("float32")
    scores = rng.random((64, 300)).astype("float32")
    mask = (rng.random((64, 300)) > 0.1) | (labels > 0)
    target, short = head_lists(scores, labels, mask, depth=20)
    assert short.shape[0] == 64 and short.shape[1] < 60
    whole, head = _ranking_metrics((1, 5, 20)), _ranking_metrics((1, 5, 20))
    for full, cut in zip(whole, head):
        full.update_state({"labels": labels, "mask": mask}, scores)
        cut.update_state(target, short)
        assert float(cut.result()) == pytest.approx(float(full.result()), abs=1e-6), full.name


def test_popularity_baseline_recommends_the_most_frequent_train_items(ratings):
    from nbmodels.inspect.recommenders import item_popularity, popularity_order_scores

    counts = item_popularity(ratings, 400)
    np.testing.assert_array_equal(counts, np.bincount(ratings.train[0]["item"], minlength=400))
    scores = popularity_order_scores(counts)
    assert len(set(scores.tolist())) == 400 and np.argmax(scores) == np.argmax(counts)
    assert np.all(np.diff(counts[np.argsort(-scores)]) <= 0)
    ranks = 400 - scores.astype(int)  # what the report reads as "items more popular than this one"
    assert all(ranks[i] == np.sum(scores > scores[i]) for i in range(0, 400, 7))


def test_similar_items_are_the_nearest_by_cosine_and_share_the_true_genre(model, ratings):
    vectors = model.item_embeddings()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    ids, similarity = similar_items(model, 12, k=5)
    cosine = unit @ unit[12]
    cosine[12] = -np.inf
    np.testing.assert_array_equal(ids, np.argsort(-cosine, kind="stable")[:5])
    np.testing.assert_allclose(similarity, cosine[ids], atol=1e-5)
    many, _ = similar_items(model, np.arange(400), k=10)
    assert many.shape == (400, 10) and not np.any(many == np.arange(400)[:, None])
    clusters = ratings.ground_truth["item_clusters"]
    same_genre = np.mean(clusters[many] == clusters[:, None])
    assert same_genre > 3 / 8  # 8 genres: chance is 1/8
    dot_ids, dot_scores = similar_items(model, 12, k=5, similarity="dot")
    raw = vectors @ vectors[12]
    raw[12] = -np.inf
    np.testing.assert_array_equal(dot_ids, np.argsort(-raw, kind="stable")[:5])


def test_explain_names_the_history_items_most_like_the_recommendation(model, ratings, seen):
    vectors = model.item_embeddings()
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    recommended, _ = recommend(model, 5, k=4, data=ratings)
    because, similarity = explain(model, 5, recommended, ratings, n=3)
    assert because.shape == similarity.shape == (4, 3)
    for item, ids, values in zip(recommended, because, similarity):
        history = np.unique(seen[5])
        cosine = unit[history] @ unit[item]
        np.testing.assert_array_equal(ids, history[np.argsort(-cosine, kind="stable")[:3]])
        assert np.all(np.diff(values) <= 0)
    one, _ = explain(model, 5, int(recommended[0]), seen[5], n=3)
    np.testing.assert_array_equal(one, because[0])
    short, _ = explain(model, 5, 7, [1, 2], n=3)  # fewer history items than asked: all of them
    assert sorted(short) == [1, 2]


def test_item_projection_is_pca_of_the_item_embeddings(model):
    from sklearn.decomposition import PCA

    points = item_projection(model)
    assert points.shape == (400, 2) and points.dtype == np.float32
    np.testing.assert_allclose(points.mean(axis=0), 0, atol=1e-4)
    expected = PCA(n_components=2).fit_transform(model.item_embeddings().astype("float64"))
    np.testing.assert_allclose(np.abs(points), np.abs(expected), rtol=1e-3, atol=1e-4)
    assert points[:, 0].var() >= points[:, 1].var()
    np.testing.assert_array_equal(item_projection(model), points)  # signs fixed: the same map every time


def test_bad_input_is_a_clear_value_error(model, ratings):
    with pytest.raises(ValueError, match=r"recommend.users=600 .*user ids must be whole numbers from 0 to 599"):
        recommend(model, [3, 600], data=ratings)
    with pytest.raises(ValueError, match="from 0 to 399"):
        similar_items(model, -1)
    with pytest.raises(ValueError, match=r"recommend.k=401 .*the catalogue has 400 items"):
        recommend(model, 0, k=401, exclude=None)
    with pytest.raises(ValueError, match=r"the catalogue has 400 items, the item itself left out"):
        similar_items(model, 0, k=400)
    with pytest.raises(ValueError, match=r"top_k_accuracy.k=500"):
        top_k_accuracy(model, ratings, (10, 500))
    with pytest.raises(ValueError, match="user 0 has 399 of the 400 items excluded"):
        recommend(model, 0, k=2, exclude=[np.arange(1, 400)])
    with pytest.raises(ValueError, match="needs data="):
        recommend(model, 0)
    with pytest.raises(ValueError, match="one per user"):
        recommend(model, [0, 1], exclude=[[1]])
    with pytest.raises(ValueError, match="empty history"):
        explain(model, 0, 5, [])
    with pytest.raises(ValueError, match="explain.history=400"):
        explain(model, 0, 5, [1, 400])
    with pytest.raises(ValueError, match="a Dataset with a validation split"):
        top_k_accuracy(model, data.Dataset(task="retrieval", train=ratings.train), 10)
    with pytest.raises(ValueError, match="a two-tower model"):
        recommend(object(), 0, exclude=None)
    with pytest.raises(ValueError, match="choose one of 'cosine', 'dot'"):
        similar_items(model, 0, similarity="euclid")


def test_docstring_examples():
    result = doctest.testmod(recommenders_module, optionflags=doctest.ELLIPSIS)
    assert result.attempted and not result.failed
