"""The "transfer" recipe: backbones as sizes, fine-tuning as an option, resumable across the switch,
and started from the TrainingDashboard like every recipe."""

import pytest

from nbmodels import Run, TrainConfig, list_runs, recipes
from nbmodels.checks import ConfigError
from nbmodels.models import TransferClassifier


@pytest.fixture(scope="module")
def digits():
    return recipes.get_recipe("transfer").data()  # 8x8 digits as images (N, 8, 8, 1)


def test_listed_with_backbones_as_sizes_and_counts_without_building():
    recipe = recipes.get_recipe("transfer")
    names = [r.name for r in recipes.list_recipes()]
    assert names[names.index("vit") + 1] == "transfer"  # the vision family's last
    assert recipe.default_size == "mobilenet_v3_small" and recipe.default_dataset == "digits"
    assert {"mobilenet_v3_small", "efficientnet_v2_b0", "resnet50_v2"} <= set(recipe.sizes)
    assert recipe.train_options["weights"] is None and recipe.train_options["fine_tune"] == "auto"
    assert recipe.parameter_count() == 939_120 + 577 * 10  # MobileNetV3Small without top, a 10-class head
    # ResNet50V2's activations at 32 px dwarf MobileNetV3Small's: the estimate says so.
    assert recipe.estimate_memory("resnet50_v2", batch_size=32) > 4 * recipe.estimate_memory(batch_size=32)


def test_builds_a_transfer_classifier_counted_exactly(digits):
    recipe = recipes.get_recipe("transfer")
    model = recipe.builder("tiny", digits)()
    assert isinstance(model, TransferClassifier) and model.config.input_shape == (8, 8, 1)
    assert model.count_params() == recipe.parameter_count("tiny", digits)


def test_fine_tunes_in_one_run_and_resumes_across_the_switch(runs_root, digits):
    recipe = recipes.get_recipe("transfer")
    fine_tune = {"after_steps": 1, "unfreeze": 10, "learning_rate": 1e-3}
    run = recipe.train("tiny", config=TrainConfig(steps=12, batch_size=16), data=digits, augmentation="none",
                       fine_tune=fine_tune, background=True)
    run.request_stop()  # seen at the first flush, after step 1: at the switch, before it happens
    assert run.wait(timeout=300) == "stopped", run.message
    assert run.step < 12 and run.info["options"]["fine_tune"] == fine_tune
    resumed = recipes.resume(Run.load(run.id), verbose=False)  # as another process: options from config.json
    assert resumed.status == "finished", resumed.message
    assert [e["step"] for e in resumed.history] == list(range(1, 13))
    assert [e["step"] for e in resumed.events if e["type"] == "fine_tune"] == [1]
    assert resumed.model.unfrozen == 10 and int(resumed.model.optimizer.iterations.numpy()) == 12


def test_options_are_checked_before_training(runs_root, digits):
    recipe = recipes.get_recipe("transfer")
    # The quarter-width "tiny" backbone has no ImageNet weights: refused before any run is made.
    with pytest.raises(ConfigError, match=r"TransferConfig.alpha=0.25 is not allowed: ImageNet weights exist"):
        recipe.train("tiny", data=digits, weights="imagenet", verbose=False)
    with pytest.raises(ConfigError, match=r"TransferConfig.weights='imagent' is not allowed"):
        recipe.train("tiny", data=digits, weights="imagent", verbose=False)
    with pytest.raises(ConfigError, match=r"FineTune.unfreeze=0"):
        recipe.train("tiny", data=digits, fine_tune={"after_epochs": 1, "unfreeze": 0}, verbose=False)


def test_the_training_dashboard_starts_it(runs_root):
    from nbmodels.dashboards import TrainingDashboard

    board = TrainingDashboard()
    board._target.value = "transfer"
    assert list(board._size.options) == list(recipes.get_recipe("transfer").sizes)
    board._size.value = "tiny"
    board.form.set_config(TrainConfig(steps=3, batch_size=16))
    run = board.start()
    assert run is not None, board._message.value
    assert run.wait(timeout=300) == "finished", run.message
    assert run.info["recipe"] == "transfer" and run.info["options"]["fine_tune"] == "auto"
    switches = [e for e in run.events if e["type"] == "fine_tune"]
    assert switches == [] or switches[0]["unfreeze"] is None  # "auto" for untrained weights: all of it
    board.close()


def test_imagenet_weights_reach_the_backbone_and_a_failed_download_fails_the_run_clearly(
        runs_root, digits, tmp_path, monkeypatch):
    from nbmodels.data import DownloadError
    from nbmodels.models.vision import transfer as transfer_module

    # A fresh Keras cache, so the download is really tried (this machine, like CI, is offline).
    monkeypatch.setattr("keras.src.backend.config._KERAS_DIR", str(tmp_path))
    monkeypatch.setattr(transfer_module, "DOWNLOAD_TIMEOUT", 5.0)
    recipe = recipes.get_recipe("transfer")
    try:
        run = recipe.train("mobilenet_v3_small", data=digits, weights="imagenet", verbose=False,
                           config=recipe.config.replace(steps=1))
    except DownloadError as error:
        assert "pass weights=None to train the backbone from scratch offline" in str(error)
        failed = [run for run in list_runs(runs_root) if run["status"] == "failed"]
        assert failed and "weights=None" in failed[-1]["message"]  # the run says why, too
    else:
        assert run.status == "finished"  # online: the weights downloaded and trained


def test_image_size_follows_the_weights_unless_given():
    recipe = recipes.get_recipe("transfer")
    defaults = recipe._check_options({})
    assert recipe.model_overrides(defaults) == {"weights": None, "image_size": 32}  # fast on a CPU
    imagenet = recipe._check_options({"weights": "imagenet"})
    assert recipe.model_overrides(imagenet)["image_size"] == 224  # what the ImageNet features were learned at
    assert recipe.model_overrides(recipe._check_options({"weights": "imagenet", "image_size": 96}))["image_size"] == 96
    with pytest.raises(ConfigError, match=r"TransferConfig.image_size=16"):
        recipe.builder("tiny", None, **recipe.model_overrides(recipe._check_options({"image_size": 16})))
    assert recipe.option_choices["weights"] == (None, "imagenet")  # a dropdown in the training dashboard


def test_auto_fine_tuning_follows_the_weights(digits):
    from nbmodels import FineTune

    recipe = recipes.get_recipe("transfer")

    def fine_tune(**options):
        return recipe.training_arguments("tiny", digits, recipe._check_options(options))["fine_tune"]

    assert fine_tune() == FineTune(after_epochs=2, unfreeze=None, learning_rate=1e-3)  # untrained: all of it
    assert fine_tune(weights="imagenet") == FineTune(after_epochs=5, unfreeze=20, learning_rate=1e-5)  # keras.io
    assert fine_tune(fine_tune={"after_steps": 3, "unfreeze": 4}) == FineTune(after_steps=3, unfreeze=4)
    assert "fine_tune" not in recipe.training_arguments("tiny", digits, recipe._check_options({"fine_tune": None}))
