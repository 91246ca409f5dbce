"""The CLI over real run directories, and the promise that `import nbmodels` stays light."""

import json
import subprocess
import sys
from pathlib import Path

from nbmodels.cli import main
from nbmodels.config import TrainConfig
from nbmodels.runs.run import Run
from tests.test_import_graph import import_graph


def test_runs_list_show_stop(runs_root, capsys):
    assert main(["runs", "list"]) == 0
    assert "No runs yet" in capsys.readouterr().out
    run = Run.create(TrainConfig(steps=5), name="cli")
    run.set_status("running")
    run.record([{"type": "step", "step": 1, "epoch": 0.1, "metrics": {"loss": 0.5}}])
    assert main(["runs", "list"]) == 0
    out = capsys.readouterr().out
    assert run.id in out and "running" in out
    assert main(["runs", "show", run.id, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "running" and shown["config"]["steps"] == 5
    assert main(["runs", "stop", run.id]) == 0
    assert "Asked run" in capsys.readouterr().out and run.stop_requested
    assert main(["runs", "show", "../x"]) == 2
    assert "not a run id" in capsys.readouterr().err


def test_devices_command(capsys):
    assert main(["devices", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found[0]["kind"] == "CPU"


def loaded_by(statements: str, modules) -> list[str]:
    """Which of `modules` (or their submodules) a fresh interpreter has loaded after `statements`."""
    code = (
        f"import json, sys; {statements}; print(json.dumps(sorted(m for m in sys.modules "
        f"if any(m == p or m.startswith(p + '.') for p in {tuple(modules)!r}))))"
    )
    return json.loads(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)


def test_import_nbmodels_is_light():
    heavy = ("tensorflow", "keras", "plotly", "ipywidgets", "sklearn")
    assert loaded_by("import nbmodels; nbmodels.TrainConfig(); nbmodels.Run", heavy) == []


def test_the_runs_hub_imports_nothing_that_trains():
    # The CLI and the Jupyter server read runs through nbmodels.runs alone; the trainer writes
    # to it, never the other way round (resuming is nbmodels.resume, in the trainer).
    trainer = ("tensorflow", "keras", "nbmodels.training")
    assert loaded_by("import nbmodels.runs, nbmodels.runs.formatting, nbmodels.cli", trainer) == []
    # Not even inside a function, where a fresh interpreter cannot see it: follow every import
    # statement (function-level ones included) from the hub's modules.
    graph = import_graph(Path(__file__).parents[1], "nbmodels")
    reached, todo = set(), [m for m in graph if m == "nbmodels.runs" or m.startswith("nbmodels.runs.")]
    while todo:
        module = todo.pop()
        if module not in reached:
            reached.add(module)
            todo += graph[module]
    assert not [m for m in reached if m.startswith("nbmodels.training")], sorted(reached)


def test_resume_is_the_trainers_and_public():
    import nbmodels
    import nbmodels.training
    from nbmodels.training import loop

    assert nbmodels.resume is nbmodels.training.resume is loop.resume
    assert "resume" in nbmodels.__all__ and "resume" in nbmodels.training.__all__
    assert not hasattr(nbmodels.Run, "resume")  # the hub does not call its writer


def test_devices_is_callable_and_a_module():
    import nbmodels
    import nbmodels.devices

    assert nbmodels.devices()[0].kind == "CPU"
    assert nbmodels.devices.recommended_precision() == "float32"
