"""`GenerationPlayground(model)`: type a prompt, pick a sampler, watch the tokens stream in.

The playground is a view over `nbmodels.generation.stream`: it checks nothing itself (the
call does, and its `ValueError` is shown next to the controls), runs the stream in a
background thread so Stop keeps working, and draws what arrives through the plain functions
below, which tests call without a browser:

- `probability_color(p)`: the background of a token the model gave probability `p`;
- `token_span(token)`: one token as an escaped, coloured `<span>` whose tooltip lists its
  top alternatives; `alternatives_html(token)`: the same alternatives as a small table;
- `sampler_label(...)`, `playground_summary(...)`: the settings and the stable text line.

Example:
>>> from nbmodels.dashboards.generation import probability_color, token_span
>>> from nbmodels.generation import Token
>>> probability_color(0.0), probability_color(0.5), probability_color(1.0)
('#f5a6a6', '#f5f5a6', '#a6f5a6')
>>> token_span(Token(0, 0, 3, "<", 0.5, ((3, "<", 0.5), (4, " ", 0.25))))
'<span class="nbmodels-token" style="background:#f5f5a6" title="&lt; 0.500&#10;  1. &lt; 0.500&#10;  2. ␣ 0.250">&lt;</span>'
"""

from __future__ import annotations

import colorsys
import html
import math
import threading
import time

import ipywidgets as widgets

from nbmodels.dashboards._attention import token_labels
from nbmodels.dashboards._kit.throttle import Throttle
from nbmodels.dashboards._kit.snapshot import SnapshotDisplay, table_html

# Which numeric controls each sampler reads; the others are hidden.
SAMPLER_CONTROLS = {
    "greedy": (),
    "temperature": ("temperature",),
    "top_k": ("top_k", "temperature"),
    "top_p": ("top_p", "temperature"),
    "beam": ("num_beams",),
}
_SAMPLER_TITLES = {"greedy": "greedy", "temperature": "temperature", "top_k": "top-k", "top_p": "top-p (nucleus)",
                   "beam": "beam search"}
# overflow-wrap: tokens are spans without spaces between them, which never wrap otherwise.
# break-spaces, not pre-wrap: spaces at a line's end wrap too; under pre-wrap they hang past
# the box, their colour painted over the panel beside it (a run of spaces is common output).
_OUTPUT_STYLE = ("font-family:monospace;white-space:break-spaces;overflow-wrap:anywhere;line-height:1.6;"
                 "border:1px solid #ddd;padding:6px;min-height:4em")
_ERROR = "#c62828"


# ---- what the playground shows, as plain functions ---------------------------------------------


def probability_color(probability: float) -> str:
    """A light background colour for a token of this probability: red (0) through yellow
    (0.5) to green (1), light enough to read black text on; grey when not a number."""
    if probability is None or not math.isfinite(probability):
        return "#dddddd"
    p = min(max(float(probability), 0.0), 1.0)
    r, g, b = colorsys.hls_to_rgb(p / 3, 0.807, 0.8)  # hue 0° (red) .. 120° (green)
    return "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in (r, g, b)))


def _label(text) -> str:
    return token_labels([text if text is not None else "?"])[0]


def alternatives_title(token) -> str:
    """The tooltip of a token: its own probability, then its top alternatives, one a line."""
    lines = [f"{_label(token.text)} {token.probability:.3f}"]
    lines += [f"{rank:>3}. {_label(text)} {p:.3f}" for rank, (_, text, p) in enumerate(token.alternatives, start=1)]
    return "\n".join(lines)


def token_span(token) -> str:
    """One generated token as HTML: its text (escaped; whitespace kept), coloured by its
    probability, with its alternatives in the tooltip."""
    title = html.escape(alternatives_title(token), quote=True).replace("\n", "&#10;")
    text = html.escape(token.text if token.text is not None else f"[{token.id}]")
    return (f'<span class="nbmodels-token" style="background:{probability_color(token.probability)}" '
            f'title="{title}">{text}</span>')


def output_html(prompt: str, tokens) -> str:
    """The prompt (plain) followed by the generated tokens (coloured spans)."""
    spans = "".join(token_span(token) for token in tokens)
    return f"<div style='{_OUTPUT_STYLE}'><span style='color:#555'>{html.escape(prompt)}</span>{spans}</div>"


def alternatives_html(token) -> str:
    """A small table of one token's top alternatives; the chosen one in bold."""
    if token is None:
        return ""
    rows = "".join(
        f"<tr style='font-weight:{'bold' if id == token.id else 'normal'}'><td>{rank}</td>"
        f"<td style='font-family:monospace;background:{probability_color(p)}'>{html.escape(_label(text))}</td>"
        f"<td style='text-align:right'>{p:.3f}</td></tr>"
        for rank, (id, text, p) in enumerate(token.alternatives, start=1)
    )
    return (f"<div><b>token {token.index}: {html.escape(_label(token.text))}</b> "
            f"(p={token.probability:.3f})<table><tr><th>#</th><th>token</th><th>p</th></tr>{rows}</table></div>")


def sampler_label(sampler: str, temperature: float, top_k: int, top_p: float, num_beams: int) -> str:
    """The sampler and the options it uses, e.g. "top_p 0.9 at temperature 0.8"."""
    if sampler == "greedy":
        return "greedy"
    if sampler == "temperature":
        return f"temperature {temperature:g}"
    if sampler == "top_k":
        return f"top_k {top_k} at temperature {temperature:g}"
    if sampler == "top_p":
        return f"top_p {top_p:g} at temperature {temperature:g}"
    return f"beam search, {num_beams} beams"


def playground_summary(settings: str, state: str) -> str:
    """The playground's stable text/plain line (no timings: they differ on every run)."""
    return f"GenerationPlayground: {settings}; {state}"


def throughput_line(count: int, seconds: float, reason: str | None) -> str:
    """The live status: tokens so far, their rate, and how it ended."""
    rate = f"{count / seconds:,.1f} tokens/s" if seconds > 0 and count else "– tokens/s"
    line = f"{count} tokens, {rate}"
    return line + (f", finish: {reason}" if reason else ", generating…")


# ---- the widget -------------------------------------------------------------------------------


class GenerationPlayground(SnapshotDisplay, widgets.VBox):
    """Continue a prompt with a language model and watch each token arrive, coloured by the
    probability the model gave it (red unlikely, green likely; hover for its top
    alternatives, the table on the right shows them for the chosen token).

    Generate runs `nbmodels.generation.stream` in a background thread, so Stop (which sets
    the stream's cancel event) works while it runs. Settings the stream refuses (a top_p of
    0, an empty prompt, a character the tokenizer does not know) are shown as a message
    under the controls. Beam search shows its tokens at the end (earlier ones can change
    until then). The first generation with a sampler compiles the loop, so it is slower.

    Args:
        model: a causal LM with a key/value cache (`nbmodels.models.GPT`).
        tokenizer: turns the prompt into ids and tokens into text; default `model.tokenizer`.
        prompt: the initial prompt.
        sampler, temperature, top_k, top_p, num_beams, max_new_tokens, seed: the initial
            settings (see `nbmodels.generation.generate`).
        top_n: alternatives recorded per token.
        chunk_size: steps of the compiled loop between updates, or "auto" (about 1/15 s of
            steps: few compiled calls for a small model, live tokens for a large one).
        jit_compile: compile the loop with XLA (see `nbmodels.generation.generate`).
        interval: seconds between redraws of the output at most.

    Example:
    >>> from nbmodels.data import CharTokenizer
    >>> from nbmodels.models import GPT, GPTConfig
    >>> from nbmodels.dashboards import GenerationPlayground
    >>> tokenizer = CharTokenizer.from_text("to be or not to be")
    >>> model = GPT(GPTConfig.preset("tiny", vocabulary_size=tokenizer.vocabulary_size), tokenizer=tokenizer)
    >>> playground = GenerationPlayground(model, prompt="to be", max_new_tokens=8)
    >>> playground.generate().join()
    >>> playground.summary()
    'GenerationPlayground: greedy, 8 new tokens, seed 0; 8 tokens, finish length'
    >>> playground.set(sampler="top_p", top_p=0.0); playground.generate() is None
    True
    >>> playground.error
    'TopP.top_p=0.0 is not allowed: it must be a finite number > 0 and <= 1.'
    """

    def __init__(self, model, tokenizer=None, *, prompt: str = "", sampler: str = "greedy",
                 temperature: float = 1.0, top_k: int = 40, top_p: float = 0.9, num_beams: int = 4,
                 max_new_tokens: int = 64, seed: int = 0, top_n: int = 5, chunk_size: int | str = "auto",
                 jit_compile: bool = True, interval: float = 0.1, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.tokenizer = tokenizer if tokenizer is not None else getattr(model, "tokenizer", None)
        if self.tokenizer is None:
            raise ValueError("GenerationPlayground needs a tokenizer: pass tokenizer=... or give the model one "
                             "(GPT(config, tokenizer=...)).")
        self.top_n, self.chunk_size, self.jit_compile = top_n, chunk_size, jit_compile

        # What the last (or current) generation produced; written by the generation thread.
        self.tokens: list = []
        self.prompt_text = ""
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.seconds = 0.0
        self._settings = ""  # the settings of the last generation, as a label
        self._thread: threading.Thread | None = None
        self._cancel = threading.Event()
        self._started = 0.0
        self._lock = threading.Lock()  # the generation thread appends while the kernel reads
        self._draw_lock = threading.RLock()  # one redraw at a time: kernel, throttle timer, generation thread

        # Labels as wide as their text ("initial"), controls that wrap onto a new line rather
        # than overflow a narrow notebook, and no fixed width wider than the output area ("auto"
        # fills a box; "100%" would add the widget's margins and overflow it).
        fit = {"description_width": "initial"}
        self._prompt = widgets.Textarea(value=prompt, placeholder="Type a prompt…", description="prompt",
                                        layout=widgets.Layout(width="auto", height="5em"), style=fit)
        self._sampler = widgets.Dropdown(options=[(title, name) for name, title in _SAMPLER_TITLES.items()],
                                         value=sampler, description="sampler", style=fit,
                                         layout=widgets.Layout(width="16em"))

        def number(kind, value, label, width="11em", **options):  # each its own Layout: shown or hidden alone
            return kind(value=value, description=label, style=fit, layout=widgets.Layout(width=width), **options)

        self.controls = {
            "temperature": number(widgets.FloatText, temperature, "temperature", step=0.1),
            "top_k": number(widgets.IntText, top_k, "top k"),
            "top_p": number(widgets.FloatText, top_p, "top p", step=0.05),
            "num_beams": number(widgets.IntText, num_beams, "beams"),
            "max_new_tokens": number(widgets.IntText, max_new_tokens, "max new tokens", width="14em"),
            "seed": number(widgets.IntText, seed, "seed"),
        }
        self._generate_button = widgets.Button(description="Generate", button_style="success", icon="play")
        self._stop_button = widgets.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self._message = widgets.HTML()
        # The output takes what room there is; the token details sit beside it, or under it
        # when the notebook is too narrow for both.
        self._output = widgets.HTML(output_html("", []), layout=widgets.Layout(flex="3 1 24em", min_width="0"))
        self._pick = widgets.IntSlider(value=0, min=0, max=0, description="token #", disabled=True,
                                       continuous_update=True, style=fit, layout=widgets.Layout(width="auto"))
        self._details = widgets.HTML()
        self._throttle = Throttle(self._redraw, interval)

        self._generate_button.on_click(lambda _: self.generate())
        self._stop_button.on_click(lambda _: self.stop())
        self._sampler.observe(self._sampler_changed, names="value")
        self._pick.observe(lambda _: self._show_details(), names="value")

        def row(*children):
            return widgets.HBox(children, layout=widgets.Layout(flex_flow="row wrap"))

        c = self.controls
        self.children = [
            self._prompt,
            row(self._sampler, c["temperature"], c["top_k"], c["top_p"], c["num_beams"]),
            row(c["max_new_tokens"], c["seed"], self._generate_button, self._stop_button),
            self._message,
            row(self._output, widgets.VBox([self._pick, self._details], layout=widgets.Layout(flex="1 1 16em",
                                                                                              min_width="0"))),
        ]
        self._sampler_changed()

    # ---- settings -----------------------------------------------------------------------------

    def set(self, **settings) -> None:
        """Change settings as the widgets do: `prompt`, `sampler`, `temperature`, `top_k`,
        `top_p`, `num_beams`, `max_new_tokens`, `seed`."""
        for name, value in settings.items():
            if name == "prompt":
                self._prompt.value = value
            elif name == "sampler":
                self._sampler.value = value
            elif name in self.controls:
                self.controls[name].value = value
            else:
                raise ValueError(f"GenerationPlayground has no setting {name!r}; it has prompt, sampler, "
                                 f"{', '.join(self.controls)}.")

    @property
    def settings(self) -> dict:
        """The current settings, as `stream` takes them (options the sampler ignores left out)."""
        sampler = self._sampler.value
        options = {name: self.controls[name].value for name in SAMPLER_CONTROLS[sampler]}
        return {"sampler": sampler, **options, "max_new_tokens": self.controls["max_new_tokens"].value,
                "seed": self.controls["seed"].value}

    def settings_label(self) -> str:
        c = {name: control.value for name, control in self.controls.items()}
        label = sampler_label(self._sampler.value, c["temperature"], c["top_k"], c["top_p"], c["num_beams"])
        return f"{label}, {c['max_new_tokens']} new tokens, seed {c['seed']}"

    def _sampler_changed(self, _change=None) -> None:
        used = SAMPLER_CONTROLS[self._sampler.value]
        for name in ("temperature", "top_k", "top_p", "num_beams"):
            self.controls[name].layout.display = None if name in used else "none"

    # ---- Generate / Stop ------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def generate(self):
        """Start generating in a background thread; returns the thread (join it to wait), or
        None when a generation is already running or the settings are refused (see `error`)."""
        from nbmodels.generation import stream

        if self.running:
            return None
        cancel = threading.Event()
        settings = self.settings
        try:
            tokens = stream(self.model, self._prompt.value, tokenizer=self.tokenizer, top_n=self.top_n,
                            chunk_size=self.chunk_size, jit_compile=self.jit_compile, cancel=cancel, **settings)
        except ValueError as error:  # the settings are the user's: a message, not a traceback
            self.error = str(error)
            self._say(self.error, error=True)
            return None
        with self._lock:
            self.tokens, self.prompt_text = [], self._prompt.value
            self.finish_reason, self.error, self.seconds = None, None, 0.0
            self._settings = self.settings_label()
            self._cancel = cancel
            self._started = time.perf_counter()
        self._generate_button.disabled, self._stop_button.disabled = True, False
        self._redraw()
        self._thread = threading.Thread(target=self._consume, args=(tokens,),
                                        name="nbmodels-generation", daemon=True)
        self._thread.start()
        return self._thread

    def stop(self) -> None:
        """Stop after the current chunk of the loop (what the Stop button does)."""
        self._cancel.set()

    def wait(self, timeout: float | None = None) -> str | None:
        """Wait for the current generation to end; returns its finish reason."""
        if self._thread is not None:
            self._thread.join(timeout)
        return self.finish_reason

    def _consume(self, tokens) -> None:
        # The generation thread: only list appends and widget trait writes here.
        error, reason = None, "error"
        try:
            for token in tokens:
                if token.row != 0:  # one prompt: beam search's other rows never come, but be safe
                    continue
                with self._lock:
                    self.tokens.append(token)
                    self.seconds = time.perf_counter() - self._started
                self._throttle()
            reason = tokens.result().finish_reasons[0]
        except Exception as exc:  # noqa: BLE001 - shown in the playground, not lost in a thread
            error = f"{type(exc).__name__}: {exc}"
        with self._lock:
            self.seconds = time.perf_counter() - self._started
            self.error = error
            self.finish_reason = reason
        self._throttle.cancel()
        self._redraw()
        self._generate_button.disabled, self._stop_button.disabled = False, True
        self.refresh_snapshot()

    # ---- drawing ------------------------------------------------------------------------------------

    def _redraw(self) -> None:
        with self._draw_lock:
            with self._lock:
                tokens, reason, seconds, error = list(self.tokens), self.finish_reason, self.seconds, self.error
            self._output.value = output_html(self.prompt_text, tokens)
            self._say(error or throughput_line(len(tokens), seconds, reason), error=bool(error))
            last = max(len(tokens) - 1, 0)
            follow = self._pick.value >= self._pick.max  # follow the newest token unless moved back
            self._pick.max, self._pick.disabled = last, not tokens
            if follow:
                self._pick.value = last
            self._show_details()

    def _show_details(self) -> None:
        with self._lock:
            token = self.tokens[self._pick.value] if self._pick.value < len(self.tokens) else None
        self._details.value = alternatives_html(token)

    def _say(self, text: str, error: bool = False) -> None:
        color = _ERROR if error else "inherit"
        self._message.value = f"<span style='color:{color}'>{html.escape(text)}</span>"

    def close(self) -> None:
        self.stop()
        self._throttle.cancel()
        super().close()

    # ---- outputs that survive ---------------------------------------------------------------------------

    def summary(self) -> str:
        with self._lock:
            if self.error and not self._settings:
                return playground_summary(self.settings_label(), "invalid settings")
            if not self._settings:
                return playground_summary(self.settings_label(), "no generation yet")
            state = f"{len(self.tokens)} tokens, " + (f"finish {self.finish_reason}" if self.finish_reason else "generating")
            return playground_summary(self._settings, state)

    def snapshot_html(self) -> str:
        with self._lock:
            tokens, reason = list(self.tokens), self.finish_reason
        rows = [("settings", self._settings or self.settings_label()),
                ("tokens", f"{len(tokens)}" + (f", finish {reason}" if reason else ""))]
        legend = "".join(f"<span style='background:{probability_color(p)};padding:0 4px'>p={p:g}</span>"
                         for p in (0.0, 0.25, 0.5, 0.75, 1.0))
        return (table_html(rows, title="GenerationPlayground") + output_html(self.prompt_text, tokens)
                + f"<div style='font-size:smaller'>{legend}</div>")
