"""MetricsPanel: chart data from a Run's recorded events (replayed, live, from disk), throttled."""

import threading
import time

import numpy as np

from nbmodels import Run, TrainConfig
from nbmodels.dashboards import MetricsPanel
from nbmodels.dashboards._series import RunSeries, Throttle, smooth


def trace(panel, name):
    return next(t for t in panel.figure.data if t.name == name)


def wait_until(condition, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return condition()


def test_finished_run_is_replayed_into_every_chart(finished_run):
    run = finished_run
    panel = MetricsPanel(run)
    steps = [e["step"] for e in run.history]
    losses = [e["metrics"]["loss"] for e in run.history]
    np.testing.assert_array_equal(trace(panel, "loss").x, steps)
    np.testing.assert_allclose(trace(panel, "loss").y, losses)
    np.testing.assert_allclose(trace(panel, "loss (smoothed)").y, smooth(losses, 0.9))
    np.testing.assert_array_equal(trace(panel, "val_loss").x, [e["step"] for e in run.validation_history])
    assert {"accuracy", "accuracy (smoothed)", "val_accuracy", "learning_rate", "samples_per_second",
            "memory", "eta_seconds"} <= {t.name for t in panel.figure.data}
    assert trace(panel, "learning_rate").xaxis == "x3" and trace(panel, "accuracy").xaxis == "x2"
    assert "finished" in panel._header.value and "step 42/42" in panel._header.value
    # The same run loaded from disk draws the same data.
    loaded = MetricsPanel(Run.load(run.id))
    for name in ("loss", "val_accuracy", "learning_rate"):
        np.testing.assert_allclose(trace(loaded, name).y, trace(panel, name).y)
    panel.close(), loaded.close()


def test_live_run_driven_by_recorded_events_updates_the_charts(finished_run, runs_root):
    recorded = [dict(e) for e in finished_run.events]
    live = Run.create(TrainConfig(steps=42), name="replay")
    panel = MetricsPanel(live, interval=0.05)
    assert len(panel.figure.data) == 0
    live.set_status("running")
    for event in recorded:
        live.record([dict(event)])
    assert wait_until(lambda: len(trace(panel, "loss").x) == 42 if any(t.name == "loss" for t in panel.figure.data) else False)
    np.testing.assert_allclose(trace(panel, "loss").y, [e["metrics"]["loss"] for e in finished_run.history])
    assert len(trace(panel, "val_loss").x) == len(finished_run.validation_history)
    panel.close()


def test_redraws_are_throttled_and_the_last_state_is_not_dropped(runs_root):
    run = Run.create(TrainConfig(steps=500), name="fast")
    run.set_status("running")
    panel = MetricsPanel(run, interval=3600.0)  # nothing but the first request can draw in time
    before = panel.redraws
    for step in range(1, 501):
        run.record([{"type": "step", "step": step, "epoch": step / 500, "metrics": {"loss": 1.0 / step}}])
    assert panel.redraws <= before + 1  # 500 batches of events, at most one redraw
    assert panel._throttle.pending
    panel._throttle.flush()  # the trailing redraw (what the timer does at the interval's end)
    assert len(trace(panel, "loss").x) == 500 and trace(panel, "loss").x[-1] == 500
    run.set_status("finished")  # the end is drawn at once
    assert "finished" in panel._header.value and not panel._throttle.pending
    panel.close()


def test_throttle_runs_on_its_own_thread_once_per_interval_and_never_drops_the_last_call():
    calls = []
    throttle = Throttle(lambda: calls.append(threading.current_thread()), interval=1000.0)
    throttle()  # due at once, on a timer thread
    assert wait_until(lambda: len(calls) == 1) and calls[0] is not threading.current_thread()
    for _ in range(1000):
        throttle()  # all inside the interval: one trailing call, due in 1000 s
    assert len(calls) == 1 and throttle.pending
    throttle.flush()  # e.g. when the run ends
    assert len(calls) == 2 and not throttle.pending

    done = threading.Event()
    quick = Throttle(lambda: (calls.append(threading.current_thread()), done.set()), interval=0.01)
    quick(), quick()
    assert done.wait(30)  # the call comes by itself, on a timer thread
    assert calls[-1] is not threading.current_thread()

    counted = Throttle(lambda: None, interval=0.2)
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        counted()
    counted.flush()
    assert counted.calls <= 7  # about one per 0.2 s over a second of requests, plus the trailing one


def test_run_written_by_another_process_is_polled(runs_root):
    writer = Run.create(TrainConfig(steps=100), name="elsewhere")
    writer.set_status("running")
    reader = Run.load(writer.id)  # as another kernel or process sees it
    panel = MetricsPanel(reader, interval=0.05, poll=0.05)
    assert panel._poller is not None
    writer.record([{"type": "step", "step": s, "epoch": s / 100, "metrics": {"loss": 1.0}} for s in range(1, 11)])
    assert wait_until(lambda: any(t.name == "loss" and len(t.x) == 10 for t in panel.figure.data))
    writer.set_status("finished")
    assert wait_until(lambda: reader.status == "finished")
    assert wait_until(lambda: not panel._poller[0].is_alive())
    panel.close()


def test_resume_rewinds_the_series():
    class Events:
        events = [{"type": "step", "step": s, "metrics": {"loss": 1.0}} for s in (1, 2, 3)]

    series = RunSeries()
    source = Events()
    assert series.update(source) == 3
    source.events = source.events[:1]  # what Run does on a resume from step 1
    series.update(source)
    assert series.metrics["loss"].x == [1]


def test_panel_messages_serialize_through_a_kernel_comm(runs_root):
    from nbmodels.dashboards.testing import kernel_comms

    run = Run.create(TrainConfig(steps=10), name="comm")
    run.set_status("running")
    with kernel_comms() as traffic:
        panel = MetricsPanel(run)
        traffic.settle()
        opened, sent = traffic.messages, traffic.bytes
        run.record([{"type": "step", "step": s, "epoch": s / 10, "metrics": {"loss": 1.0 / s}} for s in range(1, 11)])
        panel.redraw()
        traffic.settle()
        assert traffic.messages > opened and traffic.bytes > sent
        panel.close()
    assert opened > 0
