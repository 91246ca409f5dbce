"""TopKIndex: the same answer as keras-rs BruteForceRetrieval, exclusion, one trace, clear errors."""

import keras
import keras_rs
import numpy as np
import pytest
import tensorflow as tf

from nbmodels.models.recommenders.index import TopKIndex

# Tiles that divide the catalogue, that do not, that are smaller than k, and one holding it all;
# the larger ones go through the grouped top-k, the smaller through plain top_k.
CHUNK_SIZES = [None, 1000, 777, 50, 7]


def brute_force(candidates, ids, queries, k):
    layer = keras_rs.layers.BruteForceRetrieval(candidates, ids, k=k)
    scores, top = tf.function(layer)(queries)  # compiled, as keras-rs recommends
    return scores.numpy(), top.numpy()


def reference(candidates, queries, k, exclude):
    """Exact top-k by (score desc, position asc) over all but the excluded positions; scores from
    small integer embeddings, which every matmul computes exactly."""
    scores = queries @ candidates.T
    for row, positions in enumerate(exclude):
        scores[row, positions] = -np.inf
    order = np.lexsort((np.broadcast_to(np.arange(scores.shape[1]), scores.shape), -scores), axis=1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.fixture(scope="module")
def float_catalogue():
    rng = np.random.default_rng(0)
    candidates = rng.standard_normal((5000, 16)).astype("float32")
    ids = rng.permutation(100_000)[:5000].astype("int32")  # distinct, in no order
    queries = rng.standard_normal((37, 16)).astype("float32")
    return candidates, ids, queries, brute_force(candidates, ids, queries, k=20)


@pytest.mark.parametrize("chunk_size", CHUNK_SIZES)
def test_same_as_brute_force_retrieval(float_catalogue, chunk_size):
    candidates, ids, queries, (expected_scores, expected_ids) = float_catalogue
    index = TopKIndex(candidates, ids, chunk_size=chunk_size, query_batch=16)  # 37 queries: 16 + 16 + 5
    scores, found = index.search(queries, k=20)
    assert scores.dtype == np.float32 and scores.shape == found.shape == (37, 20)
    np.testing.assert_array_equal(found, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5, atol=1e-5)


def test_candidates_in_rising_score_order():
    # Every tile beats the running best here: no threshold prunes, each tile takes its k best groups.
    rng = np.random.default_rng(6)
    candidates = rng.normal(0, 1e-3, (4000, 8)).astype("float32")
    candidates[:, 0] = np.linspace(0, 1, 4000)
    queries = np.abs(rng.standard_normal((6, 8))).astype("float32") + [10, 0, 0, 0, 0, 0, 0, 0]
    expected_scores, expected_ids = brute_force(candidates, None, queries, k=30)
    scores, found = TopKIndex(candidates, chunk_size=900).search(queries, k=30)
    np.testing.assert_array_equal(found, expected_ids)
    np.testing.assert_allclose(scores, expected_scores, rtol=1e-5)


def test_ties_go_to_the_lower_position_as_in_brute_force():
    rng = np.random.default_rng(1)
    candidates = rng.integers(-1, 2, (3000, 4)).astype("float32")  # 81 distinct rows: ties everywhere
    queries = rng.integers(-2, 3, (20, 4)).astype("float32")
    expected_scores, expected_ids = brute_force(candidates, None, queries, k=60)
    for chunk_size in (None, 999, 37):
        scores, found = TopKIndex(candidates, chunk_size=chunk_size).search(queries, k=60)
        np.testing.assert_array_equal(found, expected_ids)
        np.testing.assert_array_equal(scores, expected_scores)


@pytest.mark.parametrize("chunk_size", [None, 333, 64])
def test_excluded_ids_never_come_back(chunk_size):
    rng = np.random.default_rng(2)
    size = 2000
    candidates = rng.integers(-3, 4, (size, 8)).astype("float32")
    queries = rng.integers(-3, 4, (25, 8)).astype("float32")
    ids = np.arange(size) * 7 + 3  # ids are not positions
    exclude_positions = [rng.choice(size, rng.integers(0, 300), replace=False) for _ in range(25)]
    exclude_positions[3] = np.array([], dtype=int)
    exclude = [ids[positions] for positions in exclude_positions]
    exclude[5] = None
    exclude_positions[5] = np.array([], dtype=int)
    exclude[7] = np.concatenate([exclude[7], exclude[7][:5]])  # repeats exclude once
    index = TopKIndex(candidates, ids, chunk_size=chunk_size)

    scores, found = index.search(queries, k=40, exclude=exclude)
    for row, excluded in enumerate(exclude):
        assert not np.isin(found[row], [] if excluded is None else excluded).any()
    expected_scores, expected_positions = reference(candidates, queries, 40, exclude_positions)
    np.testing.assert_array_equal(found, ids[expected_positions])
    np.testing.assert_array_equal(scores, expected_scores)

    # The largest k the exclusions leave: the most-excluded query gets all that is left, in order.
    most = max(len(positions) for positions in exclude_positions)
    scores, found = index.search(queries, k=size - most, exclude=exclude)
    expected_scores, expected_positions = reference(candidates, queries, size - most, exclude_positions)
    np.testing.assert_array_equal(found, ids[expected_positions])
    assert np.isfinite(scores).all()


def test_one_trace_per_k_whatever_the_queries_and_exclusions():
    rng = np.random.default_rng(3)
    index = TopKIndex(rng.standard_normal((500, 8)).astype("float32"), chunk_size=128)
    queries = rng.standard_normal((10, 8)).astype("float32")
    first = index.search(queries, k=5)
    again = index.search(queries, k=5)
    assert index.tracing_count == 1
    np.testing.assert_array_equal(first[1], again[1])
    index.search(queries[:3], k=5, exclude=[[1, 2, 3], None, [4]])
    index.search(rng.standard_normal((300, 8)).astype("float32"), k=5)
    assert index.tracing_count == 1  # the signature leaves the number of queries and exclusions open
    index.search(queries, k=6)
    assert index.tracing_count == 2


def test_bad_input_is_a_clear_error():
    rng = np.random.default_rng(4)
    index = TopKIndex(rng.standard_normal((50, 4)).astype("float32"), candidate_ids=np.arange(100, 150))
    queries = rng.standard_normal((2, 4)).astype("float32")
    with pytest.raises(ValueError, match=r"k=0 is not allowed: .*from 1 to 50"):
        index.search(queries, k=0)
    with pytest.raises(ValueError, match=r"k=51 is not allowed: .*from 1 to 50 \(the catalogue has 50 candidates\)"):
        index.search(queries, k=51)
    with pytest.raises(ValueError, match=r"k=48 .*from 1 to 47 \(the catalogue has 50 candidates and one query "
                                         r"excludes 3 of them\)"):
        index.search(queries, k=48, exclude=[[100, 101, 102, 102], [103]])
    with pytest.raises(ValueError, match=r"shape \(Q, 4\).*got shape \(2, 5\)"):
        index.search(np.zeros((2, 5), "float32"), k=3)
    with pytest.raises(ValueError, match=r"exclude\[1\] holds id 7, which is not a candidate id"):
        index.search(queries, k=3, exclude=[[100], [7, 101]])
    with pytest.raises(ValueError, match="one entry per query"):
        index.search(queries, k=3, exclude=[[100]])
    with pytest.raises(ValueError, match="integer candidate ids"):
        index.search(queries, k=3, exclude=[[100.0], None])
    with pytest.raises(ValueError, match="candidate_ids must be 50 integers"):
        TopKIndex(np.zeros((50, 4)), candidate_ids=np.arange(49))
    with pytest.raises(ValueError, match="distinct"):
        TopKIndex(np.zeros((3, 4)), candidate_ids=[1, 2, 1])
    with pytest.raises(ValueError, match=r"TopKIndex.chunk_size=0 is not allowed"):
        TopKIndex(np.zeros((3, 4)), chunk_size=0)
    with pytest.raises(ValueError, match=r"TopKIndex.from_model needs a model with item_embeddings"):
        TopKIndex.from_model(object())


def test_from_a_reloaded_two_tower_gives_the_same_recommendations(tmp_path):
    from nbmodels.models.recommenders import TwoTower, TwoTowerConfig

    keras.utils.set_random_seed(5)
    model = TwoTower(TwoTowerConfig.preset("tiny", num_users=30, num_items=200))
    users, seen = np.array([0, 4, 29]), [np.array([1, 2, 3]), None, np.arange(150)]
    scores, ids = TopKIndex.from_model(model, chunk_size=64).recommend(model, users, k=10, exclude=seen)
    expected = TopKIndex(model.item_embeddings()).search(model.user_embeddings(users), k=10, exclude=seen)
    np.testing.assert_array_equal(ids, expected[1])
    assert not np.isin(ids[2], seen[2]).any()

    model.save(tmp_path / "two_tower.keras")
    restored = keras.saving.load_model(tmp_path / "two_tower.keras")
    restored_scores, restored_ids = TopKIndex.from_model(restored, chunk_size=64).recommend(restored, users, k=10,
                                                                                            exclude=seen)
    np.testing.assert_array_equal(restored_ids, ids)
    np.testing.assert_allclose(restored_scores, scores, rtol=1e-6)


def test_docstring_examples():
    import doctest

    from nbmodels.models.recommenders import _features, index

    for module in (index, _features):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted > 0 and result.failed == 0, module.__name__
