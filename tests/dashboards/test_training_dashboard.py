"""TrainingDashboard: devices, controls, and Start / Stop / Resume on real (tiny) training."""

import html
import time

import pytest

from nbmodels import TrainConfig
from nbmodels.dashboards import TrainingDashboard
from nbmodels.dashboards._info import control_states, device_rows
from nbmodels.devices import Device, devices
from tests.conftest import make_mlp


def wait_until(condition, timeout=120.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_device_panel_lists_gpus_or_says_cpu_only():
    rows = device_rows(devices())  # this machine has no GPU
    assert [row[0] for row in rows] == ["CPU only"] and rows[0][2] == "float32"
    gpus = [Device("GPU", i, "Tesla V100", f"/physical_device:GPU:{i}", memory_total=16 * 2**30,
                   compute_capability=(7, 0), recommended_precision="mixed_float16") for i in range(2)]
    assert device_rows(devices("CPU") + gpus) == [
        ("GPU 0", "Tesla V100, 16.0 GiB, compute 7.0", "mixed_float16"),
        ("GPU 1", "Tesla V100, 16.0 GiB, compute 7.0", "mixed_float16"),
    ]


def test_controls_follow_the_run_status():
    assert control_states(None, form_ok=True) == {"start": True, "stop": False, "resume": False}
    assert control_states(None, form_ok=False)["start"] is False
    assert control_states("stopped", form_ok=True) == {"start": True, "stop": False, "resume": True}
    assert control_states("finished", form_ok=True)["resume"] is False


def test_invalid_form_disables_start_and_never_raises(runs_root, xor_data):
    board = TrainingDashboard(recipes=[], builder=make_mlp, data=xor_data, config=TrainConfig(steps=5))
    assert "CPU only" in board.children[0].value
    board.form.widgets["learning_rate"].value = -1.0
    assert board._start_button.disabled and "learning_rate" in board.form.errors
    assert board.start() is None and "Fix the fields" in board._message.value
    board.form.widgets["learning_rate"].value = 1e-3
    board.form.widgets["devices"].value = "3"  # a valid config, but this machine has no GPU 3
    assert board.start() is None and "Could not start: fix devices" in board._message.value
    assert "/gpu:3" in board.form.errors["devices"] and "nbmodels devices" in board.form.errors["devices"]
    assert "Traceback" not in board._message.value
    board.form.widgets["devices"].value = ""
    board.form.widgets["batch_size"].value = 10_000  # too big for the data: fails in the training thread
    run = board.start()
    assert run.wait(timeout=120) == "failed"
    assert wait_until(lambda: "failed" in board._message.value and "batch_size=10000" in board._message.value)
    board.close()


def test_stop_checkpoints_and_resume_finishes(runs_root, xor_data):
    board = TrainingDashboard(recipes=[], builder=make_mlp, data=xor_data,
                              config=TrainConfig(steps=3000, batch_size=32, learning_rate=1e-2))
    board._start_button.click()
    run = board.run
    assert run is not None and board.panel.run is run and board._start_button.disabled
    assert wait_until(lambda: run.step >= 5)
    assert not board._stop_button.disabled
    board._stop_button.click()
    assert run.stop_requested
    assert run.wait(timeout=120) == "stopped"
    assert run.latest_checkpoint().name == f"step-{run.step:09d}" and run.step < 3000
    assert not board._resume_button.disabled and "stopped" in board._message.value
    assert wait_until(lambda: "stopped" in board.panel._header.value)
    stopped_at = run.step
    board._resume_button.click()
    assert run.wait(timeout=300) == "finished"
    assert run.step == 3000 and run.history[-1]["step"] == 3000
    assert [e["step"] for e in run.history] == list(range(1, 3001))  # no gap around the stop
    assert stopped_at < 3000 and board._resume_button.disabled
    assert board.summary().startswith("TrainingDashboard: custom make_mlp, run 'make_mlp' finished at step 3000/3000")
    board.close()


def test_recipes_are_offered_with_size_parameters_and_memory(runs_root):
    recipes = pytest.importorskip("nbmodels.recipes")
    board = TrainingDashboard()
    recipe = recipes.list_recipes()[0]
    assert board._target.value == recipe.name and list(board._size.options) == list(recipe.sizes)
    assert board.form.config == recipe.config
    assert f"{recipe.parameter_count(board._size.value):,} parameters" in board._about.value
    board.close()


def test_a_recipes_own_options_are_dropdowns_passed_to_train(runs_root):
    recipes = pytest.importorskip("nbmodels.recipes")
    board = TrainingDashboard()
    plain = next(recipe for recipe in recipes.list_recipes() if not recipe.option_choices)
    board._target.value = plain.name
    assert board.options() == {} and list(board._pickers.children) == [board._target, board._size, board._dataset]

    board._target.value = "convnet"
    picker = board._options["augmentation"]
    assert picker in board._pickers.children  # next to size and dataset
    assert list(picker.options) == list(recipes.get_recipe("convnet").option_choices["augmentation"])
    assert picker.value == "auto" and picker.description == "augmentation"
    # Labels not clipped: the label takes the room it needs, the box as wide as its longest entry.
    assert picker.style.description_width == "initial" and picker.layout.width == "max-content"

    picker.value = "mixup"
    board._size.value = "tiny"
    board.form.set_config(TrainConfig(steps=3, batch_size=16))
    run = board.start()
    assert run is not None, board._message.value
    assert run.wait(timeout=120) == "finished", run.message
    assert run.info["options"] == {"augmentation": "mixup"}
    assert "augmentation='mixup'" in html.unescape(board.snapshot_html())
    board.close()


def test_options_that_are_not_strings_round_trip_through_their_dropdowns(runs_root):
    """The two-tower's options are a bool, an int or None, and a name or None: each picked value
    reaches train() as that value, not as its label."""
    pytest.importorskip("nbmodels.recipes")
    board = TrainingDashboard()
    board._target.value = "two_tower"
    assert board.options() == {"log_q_correction": True, "hard_negatives": None, "titles": None}
    board._options["log_q_correction"].value = False
    board._options["hard_negatives"].value = 4
    board._options["titles"].value = "words"
    board._size.value = "tiny"
    board.form.set_config(TrainConfig(steps=3, batch_size=32))
    run = board.start()
    assert run is not None, board._message.value
    assert run.wait(timeout=120) == "finished", run.message
    assert run.info["options"] == {"log_q_correction": False, "hard_negatives": 4, "titles": "words"}
    config = run.model.config
    assert (config.log_q_correction, config.hard_negatives, config.title_tokenizer) == (False, 4, "words")
    board.close()
