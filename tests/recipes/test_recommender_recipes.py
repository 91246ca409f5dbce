"""The recommender recipes: two-tower retrieval and rating prediction trained through the recipe on
the synthetic interactions, their own options (recorded, and used again by `recipes.resume` from
disk), counts and estimates that match the built model, and clear errors."""

import numpy as np
import pytest

from nbmodels import Run, TrainConfig, recipes
from nbmodels.checks import ConfigError

SMALL_SET = {"n_users": 80, "n_items": 60, "interactions_per_user": 12}


@pytest.fixture(scope="module")
def two_tower():
    return recipes.get_recipe("two_tower")


@pytest.fixture(scope="module")
def ranking():
    return recipes.get_recipe("ranking")


def test_both_are_listed_after_the_other_families_with_offline_defaults(two_tower, ranking):
    names = [recipe.name for recipe in recipes.list_recipes()]
    assert names[-2:] == ["two_tower", "ranking"]
    assert two_tower.default_dataset == ranking.default_dataset == "synthetic_interactions"
    assert two_tower.data("synthetic_interactions", "tiny", **SMALL_SET).task == "retrieval"
    assert ranking.data("synthetic_interactions", "tiny", **SMALL_SET).task == "regression"


@pytest.mark.parametrize("name, options", [("two_tower", {}), ("two_tower", {"log_q_correction": False,
                                                                            "hard_negatives": 4, "titles": "bpe"}),
                                           ("two_tower", {"titles": "words"}),
                                           ("ranking", {"variant": "wide_deep"})])
def test_the_count_and_the_estimate_are_the_built_model_s(name, options):
    recipe = recipes.get_recipe(name)
    dataset = recipe.data("synthetic_interactions", "tiny", **SMALL_SET)
    builder = recipe.builder("tiny", dataset, **recipe.model_overrides(recipe._check_options(options)))
    model = builder()
    overrides = recipe.model_overrides(recipe._check_options(options))
    assert model.count_params() == recipe.model_config("tiny", dataset, **overrides).parameter_count()
    assert recipe.estimate_memory("tiny", batch_size=64, data=dataset) > 16 * recipe.parameter_count("tiny", dataset)
    # Without data: the defaults' model on MovieLens 100k's ids, as a picker shows it.
    assert recipe.parameter_count("small") > recipe.parameter_count("tiny") > 0


def test_two_tower_trains_with_its_options_and_resumes_exactly_from_disk(two_tower, runs_root):
    config = TrainConfig(steps=16, batch_size=32, checkpoint_every=4, validate_every=8, seed=3,
                         optimizer="adam", learning_rate=1e-2)
    options = dict(dataset_options=SMALL_SET, hard_negatives=8)
    reference = two_tower.train("tiny", config=config, verbose=False, **options)
    assert reference.status == "finished", reference.message
    assert reference.info["options"] == {"log_q_correction": True, "hard_negatives": 8, "titles": None}
    assert reference.model.config.hard_negatives == 8 and reference.model.config.log_q_correction
    assert "val_recall_at_10_in_batch" in reference.validation_history[-1]["metrics"]

    run = two_tower.train("tiny", config=config, verbose=False, background=True, **options)
    run.request_stop()
    assert run.wait(300) == "stopped", run.message
    loaded = Run.load(run.id, root=runs_root)  # as another kernel: the recipe reloads the data and options
    assert loaded.step < 16
    resumed = recipes.resume(loaded, verbose=False)
    assert resumed.status == "finished" and resumed.step == 16, resumed.message
    assert resumed.model.config.hard_negatives == 8
    for got, want in zip(resumed.model.variables, reference.model.variables, strict=True):
        np.testing.assert_allclose(np.asarray(got), np.asarray(want), atol=1e-6)


def test_ranking_learns_ratings_below_the_global_mean_error(ranking, runs_root):
    dataset = ranking.data("synthetic_interactions", "tiny")
    run = ranking.train("tiny", data=dataset, config=TrainConfig(epochs=2, batch_size=256, optimizer="adam",
                                                                 learning_rate=1e-2, seed=0),
                        verbose=False, variant="deepfm")
    assert run.status == "finished", run.message
    assert run.model.config.variant == "deepfm"
    x_val, y_val = dataset.validation
    (_, y_train) = dataset.train
    baseline = float(np.sqrt(np.mean((y_val - y_train.mean()) ** 2)))
    predicted = np.asarray(run.model.predict(x_val, verbose=0)).reshape(-1)
    rmse = float(np.sqrt(np.mean((predicted - y_val) ** 2)))
    assert rmse < 0.9 * baseline, (rmse, baseline)


def test_bad_options_name_the_option_and_the_choices(two_tower, ranking, runs_root):
    with pytest.raises(ConfigError, match=r"ranking.variant='dnc' is not allowed: choose one of 'dcn', 'deepfm', "
                                          r"'wide_deep' \(did you mean 'dcn'\?\)"):
        ranking.train("tiny", variant="dnc", verbose=False)
    with pytest.raises(ConfigError, match=r"two_tower.hard_negatives=0 is not allowed"):
        two_tower.train("tiny", hard_negatives=0, verbose=False)
    with pytest.raises(ConfigError, match=r"two_tower.titles='bep' is not allowed: choose one of 'words', 'bpe'"):
        two_tower.train("tiny", titles="bep", verbose=False)
    with pytest.raises(ConfigError, match=r"two_tower.train.k=10 is not allowed: it is not an option"):
        two_tower.train("tiny", k=10, verbose=False)
    with pytest.raises(ConfigError, match=r"two_tower.dataset='movielens' is not allowed"):
        two_tower.train("tiny", "movielens", verbose=False)


def test_docstring_examples():
    import doctest

    from nbmodels.recipes import recommenders

    result = doctest.testmod(recommenders, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def test_titles_go_through_the_text_family_s_bpe_tokenizer(two_tower):
    from nbmodels.data.text.subword import BPETokenizer

    dataset = two_tower.data("synthetic_interactions", "tiny", **SMALL_SET)
    overrides = two_tower.model_overrides(two_tower._check_options({"titles": "bpe"}))
    model = two_tower.builder("tiny", dataset, **overrides)()
    assert (model.config.title_tokenizer, model.config.title_vocab_size) == ("bpe", 513)
    titles = dataset.extras["item_titles"]
    tokenizer = BPETokenizer.train(titles, vocabulary_size=512, min_frequency=1)
    table = next(np.asarray(w) for w in model.item_tower.weights if w.shape == (60, 12))
    first = np.asarray(tokenizer.encode(titles[0]))[:12] + 1
    np.testing.assert_array_equal(table[0, :len(first)], first)
    assert (table[0, len(first):] == 0).all()  # padded
