"""The CLI over real run directories, and the promise that `import nbmodels` stays light."""

import json
import subprocess
import sys

from nbmodels.cli import main
from nbmodels.config import TrainConfig
from nbmodels.runs.run import Run


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


def test_import_nbmodels_is_light():
    code = (
        "import sys, nbmodels; nbmodels.TrainConfig(); nbmodels.Run; "
        "heavy = [m for m in ('tensorflow', 'keras', 'plotly', 'ipywidgets', 'sklearn') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_devices_is_callable_and_a_module():
    import nbmodels
    import nbmodels.devices

    assert nbmodels.devices()[0].kind == "CPU"
    assert nbmodels.devices.recommended_precision() == "float32"
