"""One formatting module and one declaration of each status set, used by every view."""

import doctest
import json

from nbmodels.config import TrainConfig
from nbmodels.runs import formatting, rundir
from nbmodels.runs.run import Run


def test_docstring_examples_run():
    result = doctest.testmod(formatting, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0


def a_running_run() -> Run:
    run = Run.create(TrainConfig(steps=10), name="fmt")
    run.record([
        {"type": "start", "step": 0, "total_steps": 10},
        {"type": "step", "step": 1, "epoch": 0.1, "metrics": {"loss": 0.123456}},
        {"type": "validation", "step": 1, "metrics": {"val_loss": 1 / 3}},
        {"type": "progress", "step": 1, "samples_per_second": 1234.4, "tokens_per_second": 5000.0,
         "eta_seconds": 75.0},
    ])
    run.set_status("running")
    return run


def test_every_view_formats_a_run_the_same_way(runs_root, capsys):
    from nbmodels.dashboards._series import summary_line
    from nbmodels.training.progress import Progress

    run = a_running_run()
    assert run.summary() == repr(run) == f"Run {run.id} running step 1/10 loss=0.1235 val_loss=0.3333"
    assert formatting.progress_line(run) == run.summary() + " ETA 1:15"
    assert formatting.run_line(run) == "run 'fmt' running at step 1/10, loss=0.1235, val_loss=0.3333"
    assert summary_line("MetricsPanel", run) == "MetricsPanel: " + formatting.run_line(run)
    assert formatting.status_line(run) == (
        "running · step 1/10 (epoch 0.10) · loss 0.1235 · val_loss 0.3333 · "
        "1,234 samples/s (5,000 tokens/s) · ETA 1:15"
    )
    page = run._repr_html_()
    assert "1,234 samples/s (5,000 tokens/s)" in page and "1:15" in page and "0.1235" in page
    assert "1/10 (epoch 0.10)" in page and "<progress value='0.1000'" in page

    progress = Progress(run, enabled=True)
    progress.notebook = False  # outside a notebook (an earlier test may have left an IPython kernel running)
    with progress:  # prints its line on the way out
        pass
    assert capsys.readouterr().out == formatting.progress_line(run) + "\n"  # train()'s foreground line


def test_the_runs_list_row_keeps_its_columns():
    row = {"id": "r1", "status": "finished", "step": 5, "total_steps": 10, "metrics": {"loss": 0.5, "note": "x"}}
    assert formatting.list_row(row) == f"{'r1':<40} {'finished':<12} {5:>6}/{10:<6}  loss=0.5"
    assert formatting.LIST_HEADER.split() == ["ID", "STATUS", "STEP", "METRICS"]


def test_status_json_and_details_carry_the_same_latest_values(runs_root):
    run = a_running_run()
    run.set_status("stopped", "stopped at step 1")
    stored = json.loads((run.path / "status.json").read_text())
    details = run.details()
    for key in ("status", "message", *rundir.LATEST_KEYS):
        assert stored[key] == details[key], key
    assert stored["metrics"] == {"loss": 0.123456} and stored["eta_seconds"] == 75.0
    # A reader that skips the events (the server, `runs show`) gets them back from status.json.
    light = Run.load(run.id, tail_bytes=0)
    assert {key: getattr(light, key) for key in rundir.LATEST_KEYS} == {key: stored[key] for key in rundir.LATEST_KEYS}


def test_status_sets_partition_the_statuses():
    assert set(rundir.ACTIVE) < set(rundir.WAITING)
    assert set(rundir.WAITING) | set(rundir.ENDED) == set(rundir.STATUSES)
    assert not set(rundir.WAITING) & set(rundir.ENDED)
    assert set(rundir.RESUMABLE) < set(rundir.ENDED) and set(rundir.FAILED) < set(rundir.ENDED)
    assert "finished" not in rundir.RESUMABLE + rundir.FAILED
