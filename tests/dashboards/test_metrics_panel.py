"""MetricsPanel: chart data from a Run's recorded events (replayed, live, from disk), throttled."""

import threading
import time

import numpy as np
import pytest

from nbmodels import Run, TrainConfig
from nbmodels.dashboards import MetricsPanel
from nbmodels.dashboards._kit.throttle import Throttle
from nbmodels.dashboards._series import RunSeries, smooth


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


# ---- every curve covers the run; axes fit their data; an empty chart says so ------------------


def layout_value(panel, path):
    node = panel.figure.layout
    for part in path.split("."):
        node = node[part]
    return node


def test_every_curve_has_a_point_per_recorded_step_from_the_first(runs_root, xor_data):
    from nbmodels import train
    from tests.conftest import make_mlp

    config = TrainConfig(steps=60, batch_size=32, lr_schedule="warmup_cosine", warmup_steps=10, learning_rate=1e-2)
    run = train(make_mlp, xor_data, config, name="warmup", verbose=False)
    panel = MetricsPanel(run)
    steps = list(range(1, 61))
    np.testing.assert_array_equal(trace(panel, "loss").x, steps)
    # The learning rate at the loss's resolution, warm-up included: 0 at step 1, the peak after 10 steps.
    lr = trace(panel, "learning_rate")
    np.testing.assert_array_equal(lr.x, steps)
    from nbmodels.dashboards._series import learning_rate_at
    np.testing.assert_allclose(lr.y, [learning_rate_at(config, 60, s) for s in steps])
    assert lr.y[0] == 0.0 and lr.y[10] == max(lr.y) == 1e-2
    # Speed and time left from each step's own time; the first step (tracing, compiling) has none.
    for name in ("samples_per_second", "eta_seconds"):
        np.testing.assert_array_equal(trace(panel, name).x, steps[1:])
        assert np.all(np.isfinite(trace(panel, name).y)) and np.all(np.asarray(trace(panel, name).y) >= 0)
    assert trace(panel, "eta_seconds").y[-1] == 0
    # Memory is measured only at flushes: its last reading holds to the last step.
    assert trace(panel, "memory").x[-1] == 60 and trace(panel, "memory").line.shape == "hv"
    # All six charts share one step axis.
    assert all(layout_value(panel, f"xaxis{i}.matches") == "x" for i in range(2, 7))
    panel.close()


def test_learning_rate_at_is_the_schedule_keras_trains_with():
    from nbmodels.dashboards._series import learning_rate_at
    from nbmodels.training.optimizer import learning_rate

    total = 40
    for changes in (dict(lr_schedule="constant"), dict(lr_schedule="cosine", min_lr_ratio=0.2),
                    dict(lr_schedule="warmup_cosine", warmup_steps=8), dict(lr_schedule="cosine", grad_accum_steps=2),
                    dict(lr_schedule="warmup_cosine", warmup_steps=8, grad_accum_steps=4)):
        config = TrainConfig(steps=total, learning_rate=3e-3, **changes)
        schedule = learning_rate(config, total)
        for step in range(1, total + 6):
            # Keras reads the schedule at its batch counter before the update of `step`.
            expected = schedule if isinstance(schedule, float) else float(schedule(step - 1))
            assert learning_rate_at(config, total, step) == pytest.approx(expected, rel=1e-5, abs=1e-9), (changes, step)


def test_a_constant_series_gets_a_range_around_its_value_not_around_zero(finished_run):
    assert finished_run.config.lr_schedule == "constant" and finished_run.config.learning_rate == 1e-3
    panel = MetricsPanel(finished_run)
    assert set(trace(panel, "learning_rate").y) == {1e-3}
    options = layout_value(panel, "yaxis3.autorangeoptions")
    low, high = options.minallowed, options.maxallowed
    assert 0 < low < 1e-3 < high < 2e-3  # plotly alone would draw it on -1..1
    assert list(options.include) == [low, high]
    for axis in ("yaxis", "yaxis4", "yaxis6"):  # loss, throughput, time left: their data inside
        options = layout_value(panel, f"{axis}.autorangeoptions")
        low, high = options.minallowed, options.maxallowed
        name = {"yaxis": "loss", "yaxis4": "samples_per_second", "yaxis6": "eta_seconds"}[axis]
        assert low < min(trace(panel, name).y) and max(trace(panel, name).y) < high
    panel.close()


def test_an_empty_panel_says_it_waits_for_the_first_step(runs_root):
    WAITING_TEXT = "waiting for the first step"
    run = Run.create(TrainConfig(steps=10), name="empty")
    run.set_status("running")
    panel = MetricsPanel(run, interval=3600.0)
    texts = [a.text for a in panel.figure.layout.annotations]
    assert texts.count(WAITING_TEXT) == 6 and "learning rate" in texts  # the subplot titles stay
    assert layout_value(panel, "yaxis.visible") is False  # no empty -1..4 axes
    run.record([{"type": "start", "step": 0, "total_steps": 10, "steps_per_epoch": 10},
                {"type": "step", "step": 1, "epoch": 0.1, "metrics": {"loss": 0.7}}])
    panel.redraw()
    texts = [a.text for a in panel.figure.layout.annotations]
    assert WAITING_TEXT not in texts and "learning rate" in texts
    assert layout_value(panel, "yaxis.visible") is True and layout_value(panel, "yaxis3.visible") is True
    panel.close()


def test_a_fine_tuning_switch_shows_its_rate_and_a_marker(runs_root):
    """After `FineTune`'s switch the run trains at the fine-tuning rate, not on the config's
    schedule: the learning-rate curve follows the optimizer, and a dashed line marks the step."""
    import keras

    from nbmodels import FineTune, TrainConfig, data, train

    class TwoStage(keras.Model):
        """A frozen "backbone" and a head: the least a model needs for FineTune."""

        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.backbone = keras.layers.Dense(16, activation="relu", trainable=False)
            self.head = keras.layers.Dense(10)

        def call(self, x):
            return self.head(self.backbone(x))

        def unfreeze(self, top=None):
            self.backbone.trainable = True

    digits = data.load("digits")
    config = TrainConfig(steps=10, batch_size=32, learning_rate=3e-3, lr_schedule="cosine")
    run = train(TwoStage, digits, config, fine_tune=FineTune(after_steps=4, unfreeze=None, learning_rate=2e-4),
                root=runs_root, verbose=False)
    assert run.status == "finished", run.message
    panel = MetricsPanel(run, mode="display")
    panel.redraw()
    lr = panel._series.curve("learning_rate")
    after = [value for step, value in zip(lr.x, lr.y) if step > 4]
    assert after == pytest.approx([2e-4] * 6)
    assert after[-1] == pytest.approx(float(keras.ops.convert_to_numpy(run.model.optimizer.learning_rate)))
    before = [value for step, value in zip(lr.x, lr.y) if step <= 4]
    assert before[0] == pytest.approx(3e-3) and before[-1] < 3e-3  # the cosine schedule until the switch
    lines = [shape for shape in panel._chart.figure.layout.shapes if shape.name == "fine_tune"]
    assert {shape.x0 for shape in lines} == {4} and len(lines) == 3


def test_a_legend_of_many_metrics_gets_rows_of_room_above_the_titles(runs_root):
    """Five retrieval metrics made a four-row legend that covered the subplot titles and the
    top of the charts (seen on notebook 04's screenshot): the top margin now grows with its rows,
    and the plot area keeps its height."""
    from nbmodels.dashboards import _series

    def panel_for(names):
        run = Run.create(TrainConfig(steps=4), name="legend", root=runs_root)
        run.record([{"type": "step", "step": s, "epoch": s / 4, "metrics": {n: 1.0 / s for n in names}}
                    for s in (1, 2)])
        panel = MetricsPanel(run)
        layout = panel.figure.layout
        panel.close()
        return layout

    few = panel_for(["loss", "accuracy"])
    many = panel_for(["loss", *(f"{m}_at_10_in_batch" for m in ("recall", "ndcg", "mrr", "map"))])
    assert many.margin.t >= few.margin.t + _series.LEGEND_ROW_HEIGHT  # two rows of five long names
    for layout in (few, many):
        assert layout.height - layout.margin.t - layout.margin.b == _series.PLOT_AREA_HEIGHT
        assert layout.legend.yanchor == "bottom" and layout.legend.y > 1  # above the plots and their titles
