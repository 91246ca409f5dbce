"""The synthetic interaction generator (its truth explains its data) and the interaction splits."""

import doctest
import importlib

import numpy as np
import pytest

from nbmodels import data
from nbmodels.data.recsys import interactions, leave_last_out, random_split, seen_items
from nbmodels.data.recsys.interactions import GENRE_WORDS


@pytest.fixture(scope="module")
def ds():
    return data.load("synthetic_interactions")


def _all_pairs(ds):
    (x, _), (x_val, _) = ds.train, ds.validation
    return np.r_[x["user"], x_val["user"]], np.r_[x["item"], x_val["item"]]


def test_defaults_give_ids_extras_and_ground_truth_of_the_contract(ds):
    assert (ds.name, ds.task, ds.source, ds.loss) == ("synthetic_interactions", "retrieval", "generated", "")
    (x, y), (x_val, y_val) = ds.train, ds.validation
    assert y is None and y_val is None
    assert set(x) == {"user", "item"} and x["user"].dtype == x["item"].dtype == np.int32
    users, items = _all_pairs(ds)
    extras, truth = ds.extras, ds.ground_truth
    assert (extras["num_users"], extras["num_items"]) == (600, 400)
    assert set(users) == set(range(600)) and items.min() >= 0 and items.max() < 400
    assert 20 * 600 <= users.size <= 40 * 600
    assert len(x_val["user"]) == round(0.2 * users.size)

    assert len(extras["item_titles"]) == 400 and len(set(extras["item_titles"])) == 400
    genres = extras["item_genres"]
    assert genres.shape == (400, 8) and genres.dtype == np.float32 and set(np.unique(genres)) == {0.0, 1.0}
    assert extras["genre_names"] == list(GENRE_WORDS)[:8]
    assert extras["user_features"]["age_group"].shape == (600,)
    assert extras["user_features"]["age_group"].dtype == np.int32
    assert extras["timestamps"].shape == x["user"].shape and extras["timestamps"].dtype == np.int64
    assert extras["item_counts"].dtype == np.int64
    np.testing.assert_array_equal(extras["item_counts"], np.bincount(x["item"], minlength=400))

    assert truth["user_factors"].shape == (600, 8) and truth["item_factors"].shape == (400, 8)
    clusters = truth["item_clusters"]
    assert clusters.shape == (400,) and np.bincount(clusters).tolist() == [50] * 8
    # Each item's genres hold its cluster (plus, for some, a second one); its title starts with a genre word.
    assert np.all(genres[np.arange(400), clusters] == 1.0) and 1 < genres.sum(1).max() <= 2
    assert all(title.split()[0] in GENRE_WORDS[extras["genre_names"][c]] and title.endswith(f"#{i}")
               for i, (title, c) in enumerate(zip(extras["item_titles"], clusters)))


def test_items_of_a_cluster_are_closer_in_the_true_factors(ds):
    factors, clusters = ds.ground_truth["item_factors"], ds.ground_truth["item_clusters"]
    unit = factors / np.linalg.norm(factors, axis=1, keepdims=True)
    cosine = unit @ unit.T
    same = clusters[:, None] == clusters[None, :]
    np.fill_diagonal(same, False)
    different = clusters[:, None] != clusters[None, :]
    assert cosine[same].mean() > cosine[different].mean() + 0.5


def test_users_choose_what_the_true_factors_score_high_without_repeats(ds):
    users, items = _all_pairs(ds)
    truth = ds.ground_truth
    scores = truth["user_factors"] @ truth["item_factors"].T  # (U, I)
    chosen = np.bincount(users, weights=scores[users, items]) / np.bincount(users)
    assert np.mean(chosen > scores.mean(axis=1)) > 0.97
    # Most choices fall in the user's favourite cluster.
    assert np.mean(truth["item_clusters"][items] == truth["user_clusters"][users]) > 0.5
    assert len(np.unique(users.astype(np.int64) * 400 + items)) == users.size  # no item twice per user


def test_popularity_is_a_real_baseline_that_the_true_factors_beat(ds):
    # recall@10 on the validation pairs, leaving out what each user saw in training.
    (x, _), (x_val, _) = ds.train, ds.validation
    truth = ds.ground_truth
    seen = seen_items(x, 600)

    def recall_at_10(scores):
        scores = np.array(scores, np.float64)
        for user, items in enumerate(seen):
            scores[user, items] = -np.inf
        top = np.argsort(-scores, axis=1)[:, :10]
        return np.mean((top[x_val["user"]] == x_val["item"][:, None]).any(axis=1))

    counts = np.sort(ds.extras["item_counts"])[::-1]
    assert counts[:40].sum() > 0.2 * counts.sum()  # the top 10% of items get over 20% of the interactions
    popularity = recall_at_10(np.tile(ds.extras["item_counts"], (600, 1)))
    oracle = recall_at_10(truth["user_factors"] @ truth["item_factors"].T / truth["temperature"] + truth["item_bias"])
    assert popularity > 3 * 10 / 400  # well above chance
    assert oracle > 4 * popularity


def test_ranking_gives_star_ratings_that_the_true_scores_explain():
    ds = data.load("synthetic_interactions", task="ranking", n_users=300)
    assert ds.task == "regression" and ds.loss == "mse"
    (x, y), (x_val, y_val) = ds.train, ds.validation
    assert y.dtype == np.float32 and set(np.unique(y)) == {1.0, 2.0, 3.0, 4.0, 5.0}
    truth = ds.ground_truth
    score = (truth["user_factors"][x["user"]] * truth["item_factors"][x["item"]]).sum(1) / truth["temperature"]
    score += truth["item_bias"][x["item"]]
    slope, intercept = np.polyfit(score, y, 1)
    residual = y - (slope * score + intercept)
    assert np.sqrt(np.mean(residual**2)) < 0.7 * y.std()  # the truth explains most of the rating


def test_leave_last_out_holds_out_each_users_latest_interaction():
    ds = data.load("synthetic_interactions", n_users=50, n_items=60, interactions_per_user=6, split="leave_last_out")
    (x, _), (x_val, _) = ds.train, ds.validation
    assert sorted(x_val["user"].tolist()) == list(range(50))
    train_times, val_times = ds.extras["timestamps"], ds.extras["validation_timestamps"]
    for user, time in zip(x_val["user"], val_times):
        assert time > train_times[x["user"] == user].max()


def test_same_seed_same_data_other_seed_other_data():
    first, again, other = (data.load("synthetic_interactions", n_users=30, seed=seed) for seed in (4, 4, 5))
    np.testing.assert_array_equal(first.train[0]["item"], again.train[0]["item"])
    assert first.extras["item_titles"] == again.extras["item_titles"]
    assert not np.array_equal(first.ground_truth["item_factors"], other.ground_truth["item_factors"])


@pytest.mark.parametrize(
    "options, fragment",
    [
        ({"task": "rating"}, "task='rating' is not allowed: choose one of 'retrieval', 'ranking' (did you mean"),
        ({"split": "last"}, "split='last' is not allowed: choose one of 'random', 'leave_last_out'"),
        ({"n_items": 20, "interactions_per_user": 30}, "interactions_per_user=30 is not allowed"),
        ({"clusters": 13}, "clusters=13 is not allowed"),
        ({"validation_split": 1.0}, "validation_split=1.0"),
        ({"n_users": 1}, "n_users=1"),
        ({"users": 10}, "option='users' is not allowed"),
    ],
)
def test_bad_options_are_named(options, fragment):
    with pytest.raises(ValueError, match="is not allowed") as error:
        data.load("synthetic_interactions", **options)
    assert fragment in str(error.value)


def _log():
    x = {"user": np.array([0, 0, 0, 1, 1, 2, 2, 2, 2, 3], "int32"), "item": np.arange(10, dtype="int32") % 7}
    return x, np.arange(10, dtype="float32"), np.array([5, 1, 9, 3, 3, 0, 7, 2, 4, 8])


def test_random_split_holds_out_the_fraction_without_overlap():
    x, y, _ = _log()
    (x_train, y_train), (x_val, y_val) = random_split(x, y, 0.3, seed=0)
    assert len(y_val) == 3 and len(y_train) == 7
    assert sorted(np.r_[y_train, y_val].tolist()) == y.tolist()  # every row once: no overlap, none lost
    # Rows stay whole: the targets still sit next to their user and item.
    np.testing.assert_array_equal(x_train["item"], x["item"][y_train.astype(int)])
    (_, again), _ = random_split(x, y, 0.3, seed=0)
    np.testing.assert_array_equal(again, y_train)
    (x_none, none), _ = random_split(x, None, 0.5, seed=1)
    assert none is None and len(x_none["user"]) == 5


def test_leave_last_out_uses_time_and_keeps_single_interaction_users_in_training():
    x, y, timestamps = _log()
    (x_train, y_train), (x_val, y_val) = leave_last_out(x, y, timestamps)
    # user 0: times 5, 1, 9 -> row 2; user 1: a tie at 3 -> the later row 4; user 2: row 6 (time 7); user 3: one.
    assert y_val.tolist() == [2.0, 4.0, 6.0] and x_val["user"].tolist() == [0, 1, 2]
    assert y_train.tolist() == [0.0, 1.0, 3.0, 5.0, 7.0, 8.0, 9.0]


def test_seen_items_lists_each_users_distinct_items():
    x = {"user": np.array([1, 1, 1, 3], "int32"), "item": np.array([4, 2, 4, 0], "int32")}
    seen = seen_items(x, num_users=5)
    assert [s.tolist() for s in seen] == [[], [2, 4], [], [0], []]
    assert all(s.dtype == np.int32 for s in seen)


@pytest.mark.parametrize(
    "call, fragment",
    [
        (lambda: random_split({"user": np.zeros(0, "int32"), "item": np.zeros(0, "int32")}, None, 0.2, 0),
         "no interactions to split"),
        (lambda: random_split({"user": np.zeros(3, "int32"), "item": np.zeros(3, "int32")}, np.zeros(2), 0.2, 0),
         "x has 3 interactions but y has 2"),
        (lambda: random_split({"user": np.zeros(3, "int32"), "item": np.zeros(3, "int32")}, None, 0.1, 0),
         "empty validation set"),
        (lambda: random_split(np.zeros((3, 2)), None, 0.2, 0), "x must be a dict with 'user' and 'item'"),
        (lambda: leave_last_out({"user": np.arange(3), "item": np.arange(3)}, None, np.arange(3)),
         "no user has two or more interactions"),
        (lambda: leave_last_out({"user": np.zeros(3), "item": np.arange(3)}, None, np.arange(2)),
         "pass one timestamp per interaction"),
        (lambda: seen_items({"user": np.array([0, 7]), "item": np.array([1, 2])}, num_users=5),
         "outside 0..4"),
    ],
)
def test_split_misuse_is_a_clear_value_error(call, fragment):
    with pytest.raises(ValueError) as error:
        call()
    assert fragment in str(error.value)


@pytest.mark.parametrize("module", ["nbmodels.data.recsys", "nbmodels.data.recsys.interactions",
                                    "nbmodels.data.recsys.splits"])
def test_docstring_examples_run(module):
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_the_generator_is_registered_as_generated_retrieval_or_regression():
    info = next(info for info in data.list_datasets() if info.name == "synthetic_interactions")
    assert (info.task, info.tasks, info.source) == ("retrieval", ("retrieval", "regression"), "generated")
    assert "task" in info.options and "split" in info.options
    assert interactions.RECSYS_TASKS == ("retrieval", "ranking")
