"""`TrainingDashboard`: configure, start, stop and resume training, and watch it; `ConfigForm`."""

from __future__ import annotations

import html

import ipywidgets as widgets
from traitlets import Dict, Instance

from nbmodels.checks import ConfigError
from nbmodels.config import TrainConfig
from nbmodels.dashboards import form as form_logic
from nbmodels.dashboards._info import control_states, devices_html, recipe_line, resolved_precision
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay, table_html
from nbmodels.dashboards.metrics import MetricsPanel
from nbmodels.runs.formatting import run_line, status_text
from nbmodels.runs.rundir import FAILED

# Wide enough for the longest field name ("grad_accum_steps"), so the boxes line up.
_LABEL = {"description_width": "11em"}
CUSTOM = "custom"  # the picker's entry for a builder passed to the dashboard
NONE_CHOICE = "None"  # how an option picker shows (and gives back) a None choice


def _field_widget(spec: form_logic.FieldSpec, value):
    # "auto": the widget fills its grid cell, however wide the notebook is.
    common = {"description": spec.name, "style": _LABEL, "layout": widgets.Layout(width="auto")}
    if spec.kind == "int":
        return widgets.IntText(value=value, **common)
    if spec.kind == "float":
        return widgets.FloatText(value=value, **common)
    if spec.kind == "choice":
        return widgets.Dropdown(options=list(spec.choices), value=value, **common)
    return widgets.Text(value=value, placeholder=spec.placeholder, continuous_update=False, **common)


class ConfigForm(widgets.VBox):
    """A form with one widget per `TrainConfig` field; errors show next to their field.

    `config` is the valid config the form describes, or None while any field is wrong;
    `errors` maps field names to messages ("" for one no field owns). Both are traits:
    observe them to react.

    Args:
        config: the initial values (default `TrainConfig()`).
        replicas: devices the global batch is split over (checks batch_size divides).

    Example:
    >>> from nbmodels import TrainConfig
    >>> from nbmodels.dashboards import ConfigForm
    >>> form = ConfigForm(TrainConfig(steps=50))
    >>> form.widgets["batch_size"].value = 0
    >>> form.config is None, form.errors["batch_size"]
    (True, 'batch_size=0 is not allowed: it must be a whole number >= 1.')
    >>> form.widgets["batch_size"].value = 16
    >>> form.config == TrainConfig(steps=50, batch_size=16)
    True
    """

    config = Instance(TrainConfig, allow_none=True)
    errors = Dict()

    def __init__(self, config: TrainConfig | None = None, replicas: int = 1, **kwargs):
        super().__init__(**kwargs)
        values = form_logic.form_values(config or TrainConfig())
        self.widgets = {spec.name: _field_widget(spec, values[spec.name]) for spec in form_logic.FIELD_SPECS}
        self._error_labels = {name: widgets.HTML() for name in [*self.widgets, form_logic.GENERAL]}
        self._replicas = replicas
        self._quiet = False
        for label in self._error_labels.values():
            label.layout.display = "none"  # shown with a message
        # Each field with its error under it, across the field's whole width (beside it, an
        # error wrapped into a narrow column); as many columns of at least 30em (room for a
        # label and a placeholder) as the notebook has room for.
        cells = [widgets.VBox([w, self._error_labels[name]]) for name, w in self.widgets.items()]
        grid = widgets.Layout(grid_template_columns="repeat(auto-fill, minmax(min(100%, 30em), 1fr))",
                              grid_gap="0 1.5em", width="100%")
        self.children = [widgets.GridBox(cells, layout=grid), self._error_labels[form_logic.GENERAL]]
        for w in self.widgets.values():
            w.observe(self._validate, names="value")
        self._validate()

    @property
    def replicas(self) -> int:
        return self._replicas

    @replicas.setter
    def replicas(self, value: int) -> None:
        self._replicas = value
        self._validate()

    def values(self) -> dict:
        """Every widget's value, by field name."""
        return {name: w.value for name, w in self.widgets.items()}

    def set_config(self, config: TrainConfig) -> None:
        """Show this config in the widgets (one validation at the end)."""
        self._quiet = True
        try:
            for name, value in form_logic.form_values(config).items():
                self.widgets[name].value = value
        finally:
            self._quiet = False
        self._validate()

    def _validate(self, _change=None) -> None:
        if self._quiet:
            return
        config, errors = form_logic.config_from_form(self.values(), self._replicas)
        self._show_errors(errors)
        self.config = config

    def show_error(self, error: ValueError) -> bool:
        """Place an error found after the form was valid (a device this machine lacks, found
        when training starts) next to its field; False if no field of the form owns it."""
        field = error.field if isinstance(error, ConfigError) and error.owner == "TrainConfig" else None
        if field not in self.widgets:
            return False
        self._show_errors({**self.errors, field: form_logic.error_text(error)})
        return True

    def _show_errors(self, errors: dict) -> None:
        for name, label in self._error_labels.items():
            message = errors.get(name, "")
            # Lines as tall as the text, not as a widget row (28 px).
            label.value = f"<div style='color:#c62828;line-height:1.3'>{html.escape(message)}</div>" if message else ""
            label.layout.display = None if message else "none"
        self.errors = errors


class TrainingDashboard(SnapshotDisplay, widgets.VBox):
    """Configure a training run, start it in a background thread, stop, resume and watch it.

    The picker lists the recipes of `nbmodels.recipes` (each with size presets; the line
    under it shows the parameter count and estimated device memory for the chosen batch and
    precision) and, when `builder` and `data` are given, that custom model. A recipe's own
    options with a known set of values (its `option_choices`, e.g. the vision recipes'
    augmentation) are dropdowns next to the size and dataset, passed to `recipe.train`. The form edits
    every `TrainConfig` field and shows invalid values and combinations next to their field.
    Start trains in a background thread so Stop keeps working; Stop asks the run to stop
    after its current step, and the run ends 'stopped' with a checkpoint that Resume
    continues from. The embedded `MetricsPanel` shows the run live.

    Args:
        recipes: the recipes to offer; default `nbmodels.recipes.list_recipes()`.
        builder, data: a custom model builder and its data, as for `nbmodels.train`.
        name: the custom run's name (default the builder's name).
        config: the initial TrainConfig (default the first recipe's, else `TrainConfig()`).
        root: the runs folder (default `$NBMODELS_RUNS_DIR` or `~/.nbmodels/runs`).
        loss, metrics: for the custom model, as for `nbmodels.train`.
        devices: the devices to show (default `nbmodels.devices()`).
        interval, mode: the MetricsPanel's redraw interval and chart mode.

    Example:
    >>> import keras, tempfile
    >>> from nbmodels import TrainConfig, data
    >>> from nbmodels.dashboards import TrainingDashboard
    >>> def mlp():
    ...     return keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    >>> board = TrainingDashboard(recipes=[], builder=mlp, data=data.load("digits"),
    ...                           config=TrainConfig(steps=20), root=tempfile.mkdtemp())
    >>> board.start().wait()
    'finished'
    >>> board.summary()
    "TrainingDashboard: custom mlp, run 'mlp' finished at step 20/20, ..."
    """

    def __init__(self, recipes=None, *, builder=None, data=None, name: str | None = None,
                 config: TrainConfig | None = None, root=None, loss=None, metrics=None, devices=None,
                 interval: float = 0.5, mode: str | None = None, **kwargs):
        super().__init__(**kwargs)
        if recipes is None:
            from nbmodels.recipes import list_recipes

            recipes = list_recipes()
        self.recipes = {recipe.name: recipe for recipe in recipes}
        if (builder is None) != (data is None):
            raise ValueError("TrainingDashboard needs both builder= and data= for a custom model, or neither.")
        self._custom = None
        if builder is not None:
            self._custom = {"builder": builder, "data": data, "loss": loss, "metrics": metrics,
                            "name": name or getattr(builder, "__name__", "run").strip("<>") or "run"}
        if not self.recipes and self._custom is None:
            raise ValueError("TrainingDashboard has nothing to train: no recipes, and no builder= and data= given.")
        self.root = root
        if devices is None:
            from nbmodels.devices import devices as list_devices

            devices = list_devices()
        self.devices = list(devices)
        self.run = None

        targets = [(recipe.title, recipe.name) for recipe in self.recipes.values()]
        if self._custom is not None:
            targets.append((f"custom: {self._custom['name']}", CUSTOM))
        # Each picker as wide as its longest entry, wrapping onto a new line when narrow.
        picker = {"style": {"description_width": "initial"}}
        self._target = widgets.Dropdown(options=targets, description="model", **picker,
                                        layout=widgets.Layout(width="max-content", max_width="100%"))
        self._size = widgets.Dropdown(options=[], description="size", **picker,
                                      layout=widgets.Layout(width="max-content", max_width="100%"))
        self._dataset = widgets.Dropdown(options=[], description="dataset", **picker,
                                         layout=widgets.Layout(width="max-content", max_width="100%"))
        self._options: dict[str, widgets.Dropdown] = {}  # the recipe's own options, by name
        self._pickers = widgets.HBox(layout=widgets.Layout(flex_flow="row wrap", width="100%", grid_gap="0 1em"))
        self._about = widgets.HTML()
        first = self._recipe()
        self.form = ConfigForm(config or (first.config if first is not None else TrainConfig()),
                               replicas=self._replicas())
        self._start_button = widgets.Button(description="Start", button_style="success", icon="play")
        self._stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop")
        self._resume_button = widgets.Button(description="Resume", button_style="info", icon="repeat")
        self._message = widgets.HTML()
        self.panel = MetricsPanel(None, interval=interval, mode=mode)
        self.charts = self.panel.charts

        self._start_button.on_click(lambda _: self.start())
        self._stop_button.on_click(lambda _: self.stop())
        self._resume_button.on_click(lambda _: self.resume())
        self._target.observe(self._target_changed, names="value")
        self._size.observe(self._describe, names="value")
        self.form.observe(self._form_changed, names="config")

        self.children = [
            widgets.HTML("<b>Devices</b>" + devices_html(self.devices)),
            self._pickers,
            self._about,
            self.form,
            widgets.HBox([self._start_button, self._stop_button, self._resume_button]),
            self._message,
            self.panel,
        ]
        self._target_changed(apply_config=config is None)

    # ---- the picker -----------------------------------------------------------------------

    def _recipe(self):
        return self.recipes.get(self._target.value)

    def _replicas(self) -> int:
        # What the default strategy splits the batch over: every GPU (or one CPU).
        return max(1, sum(1 for d in self.devices if d.kind == "GPU"))

    def _target_changed(self, _change=None, apply_config: bool = True) -> None:
        recipe = self._recipe()
        sizes = list(recipe.sizes) if recipe is not None else []
        datasets = list(recipe.datasets) if recipe is not None else []
        self._size.options, self._dataset.options = sizes, datasets
        if recipe is not None:
            self._size.value = recipe.default_size
            self._dataset.value = recipe.default_dataset
            if apply_config:
                self.form.set_config(recipe.config)
        self._size.layout.display = self._dataset.layout.display = None if recipe is not None else "none"
        for picker in self._options.values():
            picker.close()  # the previous recipe's
        self._options = self._option_pickers(recipe)
        self._pickers.children = [self._target, self._size, self._dataset, *self._options.values()]
        self._describe()

    @staticmethod
    def _option_pickers(recipe) -> dict:
        """A dropdown per option of `recipe` with a known set of values, at its default; none
        for a custom model or a recipe without such options."""
        if recipe is None:
            return {}
        pickers = {}
        for option, choices in recipe.option_choices.items():
            default = recipe.train_options.get(option, choices[0])
            # None (e.g. weights=None) as the text "None": a Dropdown takes a None value for "nothing
            # selected" and shows a blank box that no pick of that entry fills.
            shown = [NONE_CHOICE if choice is None else choice for choice in choices]
            # As wide as the label and the longest choice: nothing clipped.
            pickers[option] = widgets.Dropdown(options=shown, value=NONE_CHOICE if default is None else default,
                                               description=option,
                                               style={"description_width": "initial"},
                                               layout=widgets.Layout(width="max-content", max_width="100%"))
        return pickers

    def options(self) -> dict:
        """The recipe's own options as the dropdowns show them (what Start passes to `train`)."""
        return {option: None if picker.value == NONE_CHOICE else picker.value
                for option, picker in self._options.items()}

    def _form_changed(self, _change) -> None:
        self._describe()
        self._update_controls()

    def _describe(self, _change=None) -> None:
        recipe, config = self._recipe(), self.form.config
        if recipe is None:
            data = self._custom["data"]
            about = html.escape(f"custom model {self._custom['name']!r} on {getattr(data, 'name', type(data).__name__)}")
        elif config is None or self._size.value is None:
            about = html.escape(f"{recipe.title}: {recipe.description}")
        else:
            precision = resolved_precision(config.precision, self.devices)
            line = recipe_line(recipe, self._size.value, config.batch_size, precision)
            about = f"{html.escape(recipe.description)}<br><b>{html.escape(line)}</b>"
        # Lines as tall as the text: an HTML widget's lines are a widget row high (28 px).
        self._about.value = f"<div style='line-height:1.4'>{about}</div>"

    # ---- Start / Stop / Resume --------------------------------------------------------------

    def start(self):
        """Start a run with the form's config, in a background thread; returns it (or None
        when the form is invalid or the run could not start: the message says why)."""
        config = self.form.config
        if config is None:
            self._say("Fix the fields marked in red first.", error=True)
            return None
        try:
            recipe = self._recipe()
            if recipe is not None:
                run = recipe.train(size=self._size.value, dataset=self._dataset.value, config=config,
                                   root=self.root, background=True, verbose=False, **self.options())
            else:
                from nbmodels.training.loop import train

                custom = self._custom
                run = train(custom["builder"], custom["data"], config, loss=custom["loss"], metrics=custom["metrics"],
                            name=custom["name"], root=self.root, background=True, verbose=False)
        except Exception as error:  # noqa: BLE001 - a form is no place for a stack trace
            if self.form.show_error(error):
                self._say(f"Could not start: fix {error.field}, marked in red.", error=True)
            else:
                self._say(f"Could not start: {type(error).__name__}: {error}", error=True)
            return None
        self._watch(run)
        return run

    def stop(self) -> None:
        """Ask the run to stop after its current step; it checkpoints and ends 'stopped'."""
        if self.run is not None and self.run.active:
            self.run.request_stop()
            self._say("Stopping after the current step…")

    def resume(self):
        """Continue a stopped or interrupted run from its last checkpoint, in the background."""
        run = self.run
        if run is None:
            return None
        # No status check here: a status read earlier may be stale; resume() itself refuses a
        # finished run, or one another process or thread trains (saying who), and we show why.
        try:
            recipe = self._recipe()
            if recipe is not None and run.job is None:  # a recipe run from another process
                from nbmodels.recipes import resume

                resume(run, background=True, verbose=False)
            else:
                from nbmodels.training import resume

                resume(run, background=True, verbose=False)
        except Exception as error:  # noqa: BLE001
            self._say(f"Could not resume: {type(error).__name__}: {error}", error=True)
            return None
        self._status_changed()
        return run

    def _watch(self, run) -> None:
        if self.run is not None:
            self.run.unobserve(self._status_changed, names="status")
        self.run = run
        run.observe(self._status_changed, names="status")
        self.panel.set_run(run)
        self._status_changed()

    def _status_changed(self, _change=None) -> None:
        # Called from the training thread too: only widget trait writes here.
        run = self.run
        self._update_controls()
        self._say(f"Run {run.id}: {status_text(run)}", error=run.status in FAILED)
        if not run.active:
            self.refresh_snapshot()

    def _update_controls(self) -> None:
        states = control_states(self.run.status if self.run is not None else None, self.form.config is not None)
        self._start_button.disabled = not states["start"]
        self._stop_button.disabled = not states["stop"]
        self._resume_button.disabled = not states["resume"]

    def _say(self, text: str, error: bool = False) -> None:
        color = "#c62828" if error else "inherit"
        self._message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def close(self) -> None:
        if self.run is not None:
            self.run.unobserve(self._status_changed, names="status")
            self.run = None
        self.panel.close()
        super().close()

    # ---- outputs that survive -----------------------------------------------------------------

    def _target_label(self) -> str:
        recipe = self._recipe()
        return f"{recipe.name} {self._size.value}" if recipe is not None else f"custom {self._custom['name']}"

    def summary(self) -> str:
        return f"TrainingDashboard: {self._target_label()}, {run_line(self.run)}"

    def snapshot_html(self) -> str:
        config = self.form.config
        changed = {k: v for k, v in (config.to_dict() if config else {}).items() if v != TrainConfig().to_dict()[k]}
        rows = [("model", self._target_label()),
                *([("options", ", ".join(f"{k}={v!r}" for k, v in self.options().items()))] if self._options else []),
                ("config", ", ".join(f"{k}={v!r}" for k, v in changed.items()) or "defaults")]
        return table_html(rows, title="TrainingDashboard") + self.panel.snapshot_html()
