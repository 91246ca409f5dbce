"""What `TrainConfig(xla="auto")` should mean on this device: XLA off vs on, per model family and size.

For every recipe family, at the size the tests and CI notebooks use (`tiny`) and at a realistic
notebook size, the same training through the recipe's public API (`recipe.train(size, config=...,
data=...)`, i.e. `nbmodels.train`) runs with `TrainConfig(xla="off")` and `TrainConfig(xla="on")`,
interleaved (off on, on off, ...: the order flips every round), same seed, same steps, one
validation and one checkpoint at the end (`validate_every = checkpoint_every = steps`):

  case              recipe / size           data (generated or embedded: offline), batch
  gpt_tiny          char_gpt tiny           python_docs, context 16, batch 12
  gpt_baby          char_gpt baby           python_docs, context 64, batch 12 (bench/shakespeare.py's model)
  textcls_tiny      text_classifier tiny    key_token (4,000 x 32 tokens), batch 32
  textcls_small     text_classifier small   key_token, 4,000 x 64 tokens, vocabulary 20,000 (IMDB's), batch 32
  convnet_tiny      convnet tiny            digits 8x8, batch 32
  convnet_mnist     convnet mnist           generated 28x28x1, 10 classes, 6,000 images, batch 32
  vit_tiny          vit tiny                digits 8x8, batch 32
  vit_digits        vit digits              digits 8x8 (the vision notebook's default), batch 32
  vit_small         vit small               generated 28x28x1 (as convnet_mnist), batch 32
  transfer_tiny     transfer tiny           generated 32x32x3 shapes (the vision notebook's), 600 images,
                                            3 classes, weights None, the whole backbone trained from step 2
                                            (fine_tune after_steps=1: the phase that is 10 of the notebook's
                                            12 epochs; both phases compile, as in the notebook), batch 32
  transfer_mnv3s    transfer mobilenet_v3_small  the same (the vision notebook's default size)
  two_tower_tiny    two_tower tiny          synthetic_interactions (600 users, 400 items), batch 256
  two_tower_small   two_tower small         synthetic_interactions shaped like MovieLens 100k (943 users,
                                            1,682 items, ~100k interactions), batch 256
  ranking_tiny      ranking tiny (dcn)      synthetic_interactions, task ranking, batch 256
  ranking_small     ranking small (dcn)     MovieLens-100k-shaped, task ranking, batch 256

The vision cases train without augmentation: every augmentation preset fails to compile under
XLA (their random affine transforms are ImageProjectiveTransformV3, MixUp/CutMix draw from a gamma
distribution: StatelessRandomGammaV3; neither has an XLA kernel). Before the cases, one short
training per preset (convnet tiny, XLA on) probes that and reports the error verbatim.

steps_per_execution is TrainConfig's default (auto) except for transfer (4 a call: auto picks 32
there, a 6 s call, and the timing needs calls after the two compiling ones); `--steps-per-execution`
sets it for all. Steps per training: 160 for tiny models (several calls of 32), fewer for slow
ones; the slowest two (textcls_small, transfer_mnv3s) run one round.

Per training, from the run's own events (every step recorded with a time; a compiled call's time
is spread over its steps):
  first step s   wall time from the call to the end of step 1 (estimated: the end of the first,
                 compiling call(s) less their other steps at ms/step): build, data to tensors,
                 tracing, compiling (XLA's included) and step 1
  ms/step        median step time after the compiling call(s) and the first WARMUP steps
  wall s         the whole call (steps, one validation, one checkpoint)
  fixed s        wall - steps x ms/step: what a run pays once whatever its length (start-up,
                 compiling - both phases' for transfer, validation's too -, validation, checkpoint)
Over rounds: the median ms/step, the minimum of the once-a-run seconds (on a shared machine a
training's start-up now and then stalls for tens of seconds, in either setting). Then: on/off ms/step ratio, the extra fixed seconds XLA costs, the whole
call measured and at `--long` steps (fixed + long x ms/step, extrapolated), and the break-even:
extra fixed seconds / ms saved per step, the run length from which XLA's compiling is paid
back. A typical run's length is the notebook's (or, for tiny sizes, the CI notebooks') number of
steps; a case "wants XLA" when XLA's whole call at that length is shorter.

Before the cases one untimed training of each setting (gpt_tiny) takes the process's one-off
costs (TensorFlow's runtime, XLA's first use) out of every case; those two are reported apart.
Errors are caught per training and reported verbatim; final training and validation losses of
off and on are compared loosely (finite, same order of magnitude; exact equality is not
expected from a differently fused graph).

The last line: for how many cases today's `auto` (as `nbmodels.training.distribute.resolve`
decides it on this machine) picks the faster setting at the typical run length (target: all).

    python bench/xla_auto.py [--rounds 2] [--long 500] [--cases gpt_tiny ...] [--steps N]
                             [--steps-per-execution N] [--no-probes] [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import json
import math
import os
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from typing import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow loads

import numpy as np  # noqa: E402

from _common import machine, verdict  # noqa: E402  (bench/ is on sys.path when run as a script)

STEPS_PER_EXECUTION = None  # --steps-per-execution; None: the TrainConfig default
WARMUP = 5  # steps whose times are left out of ms/step (tracing, the first executions, a phase switch)
SEED = 0
# Notebook lengths in epochs (notebooks/*.ipynb defaults) and the CI ones (Makefile NOTEBOOK_TEST_SIZES),
# used to say how long a typical run of a case is.
NOTEBOOK_EPOCHS = {"text_classifier": 4, "convnet": 15, "vit": 15, "transfer": 12, "two_tower": 5, "ranking": 5}
CI_EPOCHS = {"text_classifier": 4, "convnet": 3, "vit": 3, "transfer": 3, "two_tower": 2, "ranking": 2}
GPT_STEPS = {"notebook": 1000, "ci": 150}


# ---- the cases -------------------------------------------------------------------------


@dataclasses.dataclass
class Case:
    key: str
    family: str  # the recipe's name
    size: str  # the recipe's size
    scale: str  # "tiny" (tests, CI notebooks) or "notebook" (a realistic notebook size on CPU)
    data: Callable  # () -> Dataset
    what: str
    options: dict = dataclasses.field(default_factory=dict)  # the recipe's own train() options
    steps: int = 160  # per training: enough compiled calls after the first to time (tiny models run 32 a call)
    compiled_calls: int = 1  # calls that compile (left out of ms/step): 2 with a fine-tuning switch
    steps_per_execution: int | None = None  # None: TrainConfig's default (auto) unless --steps-per-execution
    max_rounds: int | None = None  # fewer rounds for the slowest cases (the whole bench in ~15 minutes)
    batch_size: int | None = None  # None: the recipe's


def _mnist_shaped(n: int = 7000, seed: int = 0):
    """28x28x1 images in [0, 1], 10 classes: a blurred random template per class plus noise
    (learnable, so losses mean something), named "mnist" so augmentation "auto" is MNIST's."""
    from nbmodels.data import Dataset

    rng = np.random.default_rng(seed)
    templates = rng.uniform(0, 1, (10, 7, 7)).repeat(4, axis=1).repeat(4, axis=2)  # (10, 28, 28)
    y = rng.integers(0, 10, n).astype("int32")
    x = np.clip(0.6 * templates[y] + 0.4 * rng.uniform(0, 1, (n, 28, 28)), 0, 1).astype("float32")[..., None]
    split = n * 6 // 7
    return Dataset(name="mnist", task="classification", train=(x[:split], y[:split]),
                   validation=(x[split:], y[split:]), num_classes=10)


def _shapes(n_per_class: int = 200, size: int = 32, seed: int = 0):
    """The vision notebook's circles, squares and triangles (32x32 RGB in [0, 1]) as arrays, named
    "image_folder" so augmentation "auto" is the notebook's ("natural")."""
    from nbmodels.data import Dataset

    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] + 0.5
    images, labels = [], []
    for label, kind in enumerate(("circle", "square", "triangle")):
        for _ in range(n_per_class):
            cy, cx = rng.uniform(10, 22, 2)
            r = rng.uniform(5, 9)
            if kind == "circle":
                mask = (yy - cy) ** 2 + (xx - cx) ** 2 <= r ** 2
            elif kind == "square":
                mask = (abs(yy - cy) <= r * 0.8) & (abs(xx - cx) <= r * 0.8)
            else:
                mask = (yy <= cy + r * 0.8) & (abs(xx - cx) <= (yy - (cy - r)) * 0.6)
            image = rng.uniform(0, 60, (size, size, 3))
            image[mask] = rng.uniform(90, 255, 3)
            images.append(image / 255.0)
            labels.append(label)
    order = rng.permutation(len(images))
    x = np.asarray(images, "float32")[order]
    y = np.asarray(labels, "int32")[order]
    split = len(x) * 4 // 5
    return Dataset(name="image_folder", task="classification", train=(x[:split], y[:split]),
                   validation=(x[split:], y[split:]), num_classes=3)


def _recipe_data(recipe: str, size: str, dataset: str | None = None, **options):
    def load():
        from nbmodels import recipes

        return recipes.get_recipe(recipe).data(dataset, size, **options)
    return load


MOVIELENS_100K_SHAPED = {"n_users": 943, "n_items": 1682, "interactions_per_user": 106}
# Augmentation's random affine layers (RandomRotation, RandomTranslation, RandomZoom) are ImageProjectiveTransformV3,
# which XLA cannot compile (see the probes): the vision cases time the models without augmentation.
NO_AUGMENTATION = {"augmentation": "none"}
TRANSFER_OPTIONS = {**NO_AUGMENTATION, "weights": None,
                    "fine_tune": {"after_steps": 1, "unfreeze": None, "learning_rate": 1e-3}}
AUGMENTATION_PROBES = ("shapes", "natural", "mixup", "cutmix")  # each trained once with XLA on (convnet tiny)

CASES = [
    Case("gpt_tiny", "char_gpt", "tiny", "tiny", _recipe_data("char_gpt", "tiny", "python_docs"),
         "char GPT tiny (2 layers, 32 wide, context 16), python_docs, batch 12"),
    Case("gpt_baby", "char_gpt", "baby", "notebook", _recipe_data("char_gpt", "baby", "python_docs"),
         "char GPT baby (4 layers, 128 wide, context 64), python_docs, batch 12", steps=72),
    Case("textcls_tiny", "text_classifier", "tiny", "tiny", _recipe_data("text_classifier", "tiny", "key_token"),
         "text classifier tiny (1 layer, 32 wide), key_token 4000 x 32, batch 32"),
    Case("textcls_small", "text_classifier", "small", "notebook",
         _recipe_data("text_classifier", "small", "key_token", sequence_length=64, vocabulary_size=20000),
         "text classifier small (4 layers, 256 wide), key_token 4000 x 64, vocabulary 20000, batch 32", steps=32,
         max_rounds=1),
    Case("convnet_tiny", "convnet", "tiny", "tiny", _recipe_data("convnet", "tiny", "digits"),
         "convnet tiny, digits 8x8, no augmentation, batch 32", options=NO_AUGMENTATION),
    Case("convnet_mnist", "convnet", "mnist", "notebook", _mnist_shaped,
         "convnet mnist (keras.io's), generated 28x28x1, no augmentation, batch 32", options=NO_AUGMENTATION),
    Case("vit_tiny", "vit", "tiny", "tiny", _recipe_data("vit", "tiny", "digits"),
         "ViT tiny (2 layers, 32 wide, patches 2), digits 8x8, no augmentation, batch 32", options=NO_AUGMENTATION),
    Case("vit_digits", "vit", "digits", "notebook", _recipe_data("vit", "digits", "digits"),
         "ViT digits (2 layers, 64 wide), digits 8x8, no augmentation, batch 32", options=NO_AUGMENTATION),
    Case("vit_small", "vit", "small", "notebook", _mnist_shaped,
         "ViT small (4 layers, 128 wide, patches 4), generated 28x28x1, no augmentation, batch 32",
         options=NO_AUGMENTATION, steps=64),
    Case("transfer_tiny", "transfer", "tiny", "tiny", _shapes,
         "transfer tiny (MobileNetV3-small 0.25 minimalistic), 32x32x3 shapes, backbone trained, batch 32",
         options=TRANSFER_OPTIONS, steps=48, compiled_calls=2, steps_per_execution=4),
    Case("transfer_mnv3s", "transfer", "mobilenet_v3_small", "notebook", _shapes,
         "transfer MobileNetV3-small, 32x32x3 shapes, backbone trained, batch 32", options=TRANSFER_OPTIONS,
         steps=48, compiled_calls=2, steps_per_execution=4, max_rounds=1),
    Case("two_tower_tiny", "two_tower", "tiny", "tiny", _recipe_data("two_tower", "tiny"),
         "two-tower tiny (16 dims), synthetic 600 users x 400 items, batch 256"),
    Case("two_tower_small", "two_tower", "small", "notebook",
         _recipe_data("two_tower", "small", **MOVIELENS_100K_SHAPED),
         "two-tower small (32 dims, MLP 64), synthetic MovieLens-100k-shaped, batch 256", steps=96),
    Case("ranking_tiny", "ranking", "tiny", "tiny", _recipe_data("ranking", "tiny"),
         "ranking tiny (DCN), synthetic 600 x 400, batch 256"),
    Case("ranking_small", "ranking", "small", "notebook", _recipe_data("ranking", "small", **MOVIELENS_100K_SHAPED),
         "ranking small (DCN, 2 cross layers, MLP 64-32), synthetic MovieLens-100k-shaped, batch 256", steps=96),
]


# ---- one training ----------------------------------------------------------------------


def config_for(case: Case, steps: int, xla: str):
    from nbmodels import recipes

    base = recipes.get_recipe(case.family).config
    changes = dict(epochs=None, steps=steps, validate_every=steps, checkpoint_every=steps, seed=SEED, xla=xla)
    per_call = STEPS_PER_EXECUTION or case.steps_per_execution
    if per_call is not None and "steps_per_execution" in {f.name for f in dataclasses.fields(base)}:
        changes["steps_per_execution"] = per_call
    if case.batch_size:
        changes["batch_size"] = case.batch_size
    if base.lr_schedule == "warmup_cosine":
        changes["warmup_steps"] = min(base.warmup_steps, max(1, steps // 10))
    return base.replace(**changes)


def train_once(case: Case, data, steps: int, xla: str) -> dict:
    """One `recipe.train` call; times from its events, or the error verbatim."""
    from nbmodels import recipes

    recipe = recipes.get_recipe(case.family)
    config = config_for(case, steps, xla)
    root = tempfile.mkdtemp(prefix="xla-auto-")
    started_wall, started = time.time(), time.perf_counter()
    try:
        run = recipe.train(case.size, config=config, data=data, root=root, verbose=False,
                           name=f"{case.key}-{xla}", **case.options)
        wall = time.perf_counter() - started
        events = [json.loads(line) for line in (run.path / "events.jsonl").read_text().splitlines() if line.strip()]
        status, message = run.status, run.message
        validation = dict(run.validation or {})
    except Exception as error:  # noqa: BLE001 - a bench reports; the error is the result
        return {"xla": xla, "error": f"{type(error).__name__}: {error}",
                "traceback_tail": traceback.format_exc()[-3000:], "wall_s": time.perf_counter() - started}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    start = next((e for e in events if e.get("type") == "start"), {})
    steps_seen = {e["step"]: e for e in events if e.get("type") == "step"}
    result = {"xla": xla, "xla_resolved": start.get("xla"), "status": status, "message": message,
              "wall_s": wall, "steps": max(steps_seen, default=0)}
    if status != "finished" or 1 not in steps_seen:
        result["error"] = f"run ended {status!r}: {message}"
        return result
    # Steps run `steps_per_execution` (k) per compiled call and the Run spreads a call's time
    # over its steps. Left out: the first call(s) (tracing, compiling; transfer's phase switch
    # compiles a second time) and the first WARMUP steps; ms/step is the median of the rest.
    per_call = int(start.get("steps_per_execution") or 1)
    skip = max(WARMUP, per_call * case.compiled_calls)
    order = sorted(steps_seen)
    times = {k: steps_seen[k]["time"] for k in order}
    deltas = [times[k] - times[k - 1] for k in order if k > skip and k - 1 in times]
    if len(deltas) < 3:
        result["error"] = f"too few steps to time: {len(order)} steps, {per_call} a call, the first {skip} left out"
        return result
    ms = 1000.0 * statistics.median(deltas)
    last = steps_seen[order[-1]]["metrics"]
    result.update(
        steps_per_execution=per_call,
        build_s=start.get("time", started_wall) - started_wall,
        # to the end of step 1, estimated: the end of the untimed first steps less all but one of them at ms/step
        first_step_s=times[skip] - started_wall - (skip - 1) * ms / 1000.0,
        ms_per_step=ms,
        ms_per_step_mean=1000.0 * (times[order[-1]] - times[skip]) / (order[-1] - skip),
        timed_steps=len(deltas),
        after_last_step_s=started_wall + wall - times[order[-1]],  # validation, checkpoint, finishing
        fixed_s=wall - steps * ms / 1000.0,
        loss=last.get("loss"),
        val_loss=validation.get("val_loss"),
        val_metrics={k: v for k, v in validation.items() if isinstance(v, (int, float))},
        parameters=start.get("parameters"),
    )
    return result


def typical_steps(case: Case, data, scale: str) -> int:
    """How many steps the notebook (scale "notebook") or the CI notebooks ("ci") train this case for."""
    from nbmodels import recipes

    if case.family == "char_gpt":
        return GPT_STEPS[scale]
    batch = case.batch_size or recipes.get_recipe(case.family).config.batch_size
    epochs = (NOTEBOOK_EPOCHS if scale == "notebook" else CI_EPOCHS)[case.family]
    x = data.train[0]
    n = len(next(iter(x.values()))) if isinstance(x, dict) else len(x)
    return epochs * (n // batch)


def auto_choice(case: Case, data, steps: int) -> bool | None:
    """What `TrainConfig(xla="auto")` chooses on this machine for a `steps`-step run of the case
    (`nbmodels.training.execution.use_xla` on the built model); None if it cannot be asked."""
    from nbmodels import recipes
    from nbmodels.training import distribute, execution
    from nbmodels.training.inputs import as_training_data

    try:
        config = config_for(case, steps, "auto")
        overrides = {"weights": None} if case.family == "transfer" else {}
        model = recipes.get_recipe(case.family).builder(case.size, data, **overrides)()
        training_data = as_training_data(data)
        model(training_data.example_features())
        return execution.use_xla(config, model, accelerated=distribute.resolve(config).accelerated,
                                 total_steps=steps, tokens_per_sample=training_data.tokens_per_sample)
    except Exception as error:  # noqa: BLE001 - a bench reports, it does not stop
        print(f"  {case.key}: cannot ask auto ({type(error).__name__}: {error})", flush=True)
        return None


# ---- the comparison --------------------------------------------------------------------


def summarize(case: Case, trainings: list[dict], steps: int, long: int, run_steps: int) -> dict:
    """Medians per setting, the ratio, XLA's extra fixed cost, the break-even and the verdict."""
    by_mode = {mode: [t for t in trainings if t["xla"] == mode] for mode in ("off", "on")}
    errors = {mode: [t["error"] for t in ts if "error" in t] for mode, ts in by_mode.items()}
    ok = {mode: [t for t in ts if "error" not in t] for mode, ts in by_mode.items()}
    summary = {"case": case.key, "family": case.family, "size": case.size, "scale": case.scale, "what": case.what,
               "steps": steps, "typical_steps": run_steps, "errors": {m: e for m, e in errors.items() if e}}
    medians = {}
    for mode, ts in ok.items():
        if ts:
            # ms/step: the median over rounds. Once-a-run seconds: the minimum, the least disturbed -
            # on a shared machine a training's start-up now and then stalls for 20-50 s, in either setting.
            medians[mode] = {"ms_per_step": statistics.median(t["ms_per_step"] for t in ts),
                             **{key: min(t[key] for t in ts)
                                for key in ("first_step_s", "build_s", "wall_s", "fixed_s", "after_last_step_s")}}
            medians[mode]["loss"] = ts[0]["loss"]
            medians[mode]["val_loss"] = ts[0]["val_loss"]
            medians[mode]["parameters"] = ts[0]["parameters"]
            medians[mode]["steps_per_execution"] = ts[0]["steps_per_execution"]
    summary["medians"] = medians
    if "off" not in medians or "on" not in medians:
        summary["verdict"] = "XLA failed" if errors["on"] else "no result"
        summary["wants_xla"] = False if errors["on"] else None
        return summary
    off, on = medians["off"], medians["on"]
    saved_ms = off["ms_per_step"] - on["ms_per_step"]
    extra_s = on["fixed_s"] - off["fixed_s"]
    if saved_ms > 0:
        break_even = 0 if extra_s <= 0 else math.ceil(1000.0 * extra_s / saved_ms)
    else:
        break_even = None  # XLA is not faster per step: it never pays
    wall_at = {mode: {n: m["fixed_s"] + n * m["ms_per_step"] / 1000.0 for n in (steps, long, run_steps)}
               for mode, m in medians.items()}
    summary.update(
        ratio=on["ms_per_step"] / off["ms_per_step"],
        extra_first_step_s=on["first_step_s"] - off["first_step_s"],
        extra_fixed_s=extra_s,
        break_even_steps=break_even,
        wall_s={mode: {str(n): v for n, v in w.items()} for mode, w in wall_at.items()},
        wall_ratio_short=wall_at["on"][steps] / wall_at["off"][steps],
        wall_ratio_long=wall_at["on"][long] / wall_at["off"][long],
        wall_ratio_typical=wall_at["on"][run_steps] / wall_at["off"][run_steps],
        wants_xla=wall_at["on"][run_steps] < wall_at["off"][run_steps],
        losses=_loss_check(on, off),
    )
    if break_even is None:
        summary["verdict"] = f"XLA never pays (its step is {summary['ratio']:.2f}x the plain one)"
    elif break_even == 0:
        summary["verdict"] = "XLA pays from step 1"
    else:
        summary["verdict"] = f"XLA pays from {break_even} steps"
    return summary


def _loss_check(on: dict, off: dict) -> str:
    notes = []
    for key in ("loss", "val_loss"):
        a, b = off.get(key), on.get(key)
        if a is None or b is None:
            notes.append(f"{key} missing")
        elif not (math.isfinite(a) and math.isfinite(b)):
            notes.append(f"{key} not finite (off {a}, on {b})")
        elif max(a, b) > 0.01 and not 0.5 <= b / max(a, 1e-12) <= 2.0:  # (both near 0: converged, not compared)
            notes.append(f"{key} differs (off {a:.4g}, on {b:.4g})")
    return "; ".join(notes) or "same order, finite"


def family_recommendation(family: str, summaries: list[dict], probes: list[dict]) -> str:
    """One line: what auto should mean for this family on this device, and why."""
    cases = [s for s in summaries if s["family"] == family]
    failed = [s for s in cases if s.get("errors", {}).get("on")]
    measured = [s for s in cases if "ratio" in s]
    if failed and not measured:
        return f"{family}: off (XLA fails: {_first_line(failed[0]['errors']['on'][0])})"
    if not measured:
        return f"{family}: no measurement"
    wants = [s for s in measured if s["wants_xla"]]
    parts = ", ".join(f"{s['size']} {s['ratio']:.2f}x/step, {_pays(s['break_even_steps'])}, typical run "
                      f"{s['typical_steps']}" for s in measured)
    if len(wants) == len(measured):
        choice = "on"
    elif not wants:
        choice = "off"
    else:
        notebook = [s for s in measured if s["scale"] == "notebook"]
        choice = "on at notebook sizes, off at tiny" if notebook and all(s["wants_xla"] for s in notebook) else "mixed"
    line = f"{family}: {choice} ({parts})"
    if any(s["family"] == family and s.get("options", {}).get("augmentation") == "none" for s in cases) and probes:
        broken = [p["preset"] for p in probes if "error" in p]
        if broken:
            line += f"; but XLA fails with augmentation {'/'.join(broken)} in the step (see the probes)"
    if failed:
        line += f"; XLA failed in {', '.join(s['case'] for s in failed)}"
    return line


def _first_line(text: str) -> str:
    lines = [line for line in text.splitlines() if "unsupported" in line or "No registered" in line]
    return (lines[0] if lines else text.splitlines()[0])[:300]


def _pays(steps) -> str:
    return "never pays" if steps is None else "pays from step 1" if steps == 0 else f"pays from {steps} steps"


def _steps(value) -> str:
    return "never" if value is None else str(value)


# ---- main ------------------------------------------------------------------------------


def probe_augmentation(preset: str) -> dict:
    """One short training of convnet tiny on digits with this augmentation preset and XLA on."""
    case = dataclasses.replace(next(c for c in CASES if c.key == "convnet_tiny"), options={"augmentation": preset})
    result = train_once(case, case.data(), 32, "on")
    return {"preset": preset, **{k: v for k, v in result.items() if k in ("error", "wall_s", "status", "loss")}}


def resummarize(path: str, out: str | None) -> int:
    """Summaries, recommendations and the table again from a stored result's trainings."""
    with open(path) as f:
        results = json.load(f)
    by_key = {c.key: c for c in CASES}
    cases = []
    for stored in results["cases"]:
        case = by_key[stored["case"]]
        summary = summarize(case, stored["trainings"], stored.get("steps", case.steps), results["settings"]["long"],
                            stored["typical_steps"])
        summary["auto_xla"] = auto_choice(case, case.data(), stored["typical_steps"])
        cases.append({**{k: v for k, v in stored.items() if k not in summary}, **summary})
    results["cases"] = cases
    families = list(dict.fromkeys(c["family"] for c in cases))
    results["recommendations"] = [family_recommendation(f, cases, results["augmentation_probes"]) for f in families]
    _print(results)
    if out:
        with open(out, "w") as f:
            f.write(json.dumps(results, indent=1, default=str) + "\n")
        print(f"wrote {out}")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=None,
                        help="steps per training for every case (default: each case's, 32..160)")
    parser.add_argument("--long", type=int, default=500, help="the long run, extrapolated")
    parser.add_argument("--rounds", type=int, default=2, help="trainings of each setting per case, interleaved")
    parser.add_argument("--cases", nargs="*", default=[], help="only these cases (names as in the docstring)")
    parser.add_argument("--no-probes", action="store_true", help="skip the augmentation-under-XLA probes")
    parser.add_argument("--steps-per-execution", type=int, default=None,
                        help="TrainConfig.steps_per_execution for both settings (default: the config's, auto)")
    parser.add_argument("--json", help="also write the results here")
    parser.add_argument("--from-json", help="train nothing: summarize and print the trainings stored in this file")
    args = parser.parse_args(argv)
    if args.from_json:
        return resummarize(args.from_json, args.json)
    if args.steps is not None and args.steps <= WARMUP + 5:
        parser.error(f"--steps must be more than {WARMUP + 5}")
    unknown = set(args.cases) - {c.key for c in CASES}
    if unknown:
        parser.error(f"unknown cases {sorted(unknown)}; known: {[c.key for c in CASES]}")
    cases = [c for c in CASES if not args.cases or c.key in args.cases]
    if args.steps is not None:
        cases = [dataclasses.replace(c, steps=args.steps) for c in cases]
    global STEPS_PER_EXECUTION
    STEPS_PER_EXECUTION = args.steps_per_execution

    import keras
    import tensorflow as tf

    from nbmodels import TrainConfig
    from nbmodels.training import distribute

    began, load_before = time.perf_counter(), os.getloadavg()
    auto_now = distribute.resolve(TrainConfig()).xla
    print(f"xla_auto: {len(cases)} cases, {args.rounds} rounds; today's auto on this machine: xla "
          f"{'on' if auto_now else 'off'}; load average {_load()}", flush=True)

    warm_case = next(c for c in CASES if c.key == "gpt_tiny")
    warm_data = warm_case.data()
    process_first = [train_once(warm_case, warm_data, 64, mode) for mode in ("off", "on")]
    for t in process_first:
        print(f"  process warm-up, xla {t['xla']}: first step {t.get('first_step_s', float('nan')):.1f} s "
              f"{t.get('error', '')}", flush=True)

    probes = [] if args.no_probes else [probe_augmentation(preset) for preset in AUGMENTATION_PROBES]
    for probe in probes:
        print(f"  augmentation {probe['preset']!r} under XLA: "
              f"{'fails: ' + _first_line(probe['error']) if 'error' in probe else 'trains'}", flush=True)

    summaries = []
    for case in cases:
        case_began, load_case = time.perf_counter(), os.getloadavg()[0]
        try:
            data = case.data()
        except Exception as error:  # noqa: BLE001
            summaries.append({"case": case.key, "family": case.family, "size": case.size, "scale": case.scale,
                              "what": case.what, "errors": {"data": [f"{type(error).__name__}: {error}"]},
                              "verdict": "no data", "wants_xla": None, "trainings": []})
            print(f"  {case.key}: data failed: {error}", flush=True)
            continue
        trainings = []
        for index in range(min(args.rounds, case.max_rounds or args.rounds)):
            if any("error" in t for t in trainings if t["xla"] == "on"):
                break  # XLA failed: its error is the result, no more rounds
            for mode in (("off", "on") if index % 2 == 0 else ("on", "off")):
                t = train_once(case, data, case.steps, mode)
                trainings.append(t)
                if "error" in t:
                    print(f"  {case.key} xla {mode}: ERROR {_first_line(t['error'])}", flush=True)
                else:
                    print(f"  {case.key} xla {mode}: first step {t['first_step_s']:.1f} s, {t['ms_per_step']:.2f} "
                          f"ms/step ({t['steps_per_execution']} a call), wall {t['wall_s']:.1f} s (after the last "
                          f"step {t['after_last_step_s']:.1f}), loss {t['loss']:.4g}, val_loss "
                          f"{t['val_loss'] if t['val_loss'] is None else round(t['val_loss'], 4)}", flush=True)
        summary = summarize(case, trainings, case.steps, args.long,
                            typical_steps(case, data, "notebook" if case.scale == "notebook" else "ci"))
        summary["auto_xla"] = auto_choice(case, data, summary["typical_steps"])
        summary.update(options=case.options, steps_per_execution_setting=case.steps_per_execution or "auto",
                       rounds=min(args.rounds, case.max_rounds or args.rounds), trainings=trainings, load_before=load_case,
                       load_after=os.getloadavg()[0], seconds=time.perf_counter() - case_began)
        summaries.append(summary)
        print(f"  {case.key}: {summary['verdict']} ({summary['seconds']:.0f} s, load {load_case:.2f} -> "
              f"{summary['load_after']:.2f})", flush=True)
        del data

    families = list(dict.fromkeys(c.family for c in cases))
    results = {
        "benchmark": "xla_auto",
        "date": dt.date.today().isoformat(),
        "command": "python bench/xla_auto.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "machine": machine(tensorflow=tf.__version__, keras=keras.__version__,
                           gpus=len(tf.config.list_physical_devices("GPU")),
                           intra_op_threads=tf.config.threading.get_intra_op_parallelism_threads()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "seconds": time.perf_counter() - began,
        "settings": {"long": args.long, "rounds": args.rounds, "warmup_steps_left_out": WARMUP, "seed": SEED,
                     "steps_per_execution": STEPS_PER_EXECUTION or "TrainConfig default",
                     "notebook_epochs": NOTEBOOK_EPOCHS, "ci_epochs": CI_EPOCHS, "gpt_steps": GPT_STEPS},
        "auto_today": "on" if auto_now else "off",
        "process_first_trainings": process_first,
        "augmentation_probes": probes,
        "cases": summaries,
        "recommendations": [family_recommendation(f, summaries, probes) for f in families],
    }
    _print(results)
    if args.json:
        with open(args.json, "w") as f:
            f.write(json.dumps(results, indent=1, default=str) + "\n")
        print(f"wrote {args.json}")
    return 0


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg())


def _print(r: dict) -> None:
    m, s = r["machine"], r["settings"]
    print()
    print(f"xla_auto: nbmodels.train through each recipe, TrainConfig(xla='off') vs xla='on', {s['rounds']} rounds "
          f"interleaved, medians; one validation + checkpoint at the end; steps_per_execution: "
          f"{s['steps_per_execution']}")
    print(f"machine: {m['processor']}, {m['usable_cpus']} usable CPUs, {m['gpus']} GPUs; tensorflow {m['tensorflow']}, "
          f"keras {m['keras']}; load average before {r['load_average_before'][0]:.2f}, end "
          f"{r['load_average_end'][0]:.2f}; {r['seconds'] / 60:.1f} min")
    for t in r["process_first_trainings"]:
        if "first_step_s" in t:
            print(f"process's first training, xla {t['xla']}: {t['first_step_s']:.1f} s to step 1 (one-off, not in the "
                  "cases)")
    for probe in r["augmentation_probes"]:
        print(f"augmentation {probe['preset']!r} in the XLA step (convnet tiny): "
              f"{'FAILS: ' + _first_line(probe['error']) if 'error' in probe else 'trains'}")
    print()
    long = str(s["long"])
    print(f"{'case':<16} {'off ms':>7} {'on ms':>7} {'ratio':>6} {'1st off':>7} {'1st on':>7} {'+fixed':>7} "
          f"{'pays@':>6} {'steps':>5} {'wall off/on':>13} {'wall' + long + ' off/on':>15} {'typ.':>5} "
          f"{'typ. off/on':>13} {'load':>5}  verdict; losses")
    for c in r["cases"]:
        if "ratio" not in c:
            errors = "; ".join(f"{k}: {_first_line(v[0])}" for k, v in c.get("errors", {}).items())
            print(f"{c['case']:<16} {c['verdict']}: {errors}")
            continue
        off, on = c["medians"]["off"], c["medians"]["on"]
        ws, short, typical = c["wall_s"], str(c["steps"]), str(c["typical_steps"])
        print(f"{c['case']:<16} {off['ms_per_step']:>7.2f} {on['ms_per_step']:>7.2f} {c['ratio']:>6.2f} "
              f"{off['first_step_s']:>7.1f} {on['first_step_s']:>7.1f} {c['extra_fixed_s']:>+7.1f} "
              f"{_steps(c['break_even_steps']):>6} {c['steps']:>5} {ws['off'][short]:>6.1f}/{ws['on'][short]:<6.1f} "
              f"{ws['off'][long]:>7.1f}/{ws['on'][long]:<7.1f} {c['typical_steps']:>5} "
              f"{ws['off'][typical]:>6.1f}/{ws['on'][typical]:<6.1f} {c['load_before']:>5.2f}  "
              f"{c['verdict']}; {c['losses']}")
    print("(ms: median ms/step once compiled; 1st: seconds from the call to the end of step 1; +fixed: XLA's extra "
          "once-a-run seconds (wall - steps x ms/step, on - off: compiling, validation, checkpoint); pays@: the run "
          "length from which XLA's whole call is shorter; wall: the whole call in s at the measured length (steps), "
          f"at {long} steps and at a typical run's length (typ.: the notebook's steps, or the CI notebooks' for tiny "
          "sizes), the last two extrapolated as fixed + steps x ms/step)")
    print()
    print("failures and result changes:")
    noted = False
    for c in r["cases"]:
        for mode, errors in c.get("errors", {}).items():
            for error in dict.fromkeys(errors):
                print(f"  {c['case']} xla {mode}: {error}")
                noted = True
        if c.get("losses") and c["losses"] != "same order, finite":
            print(f"  {c['case']}: {c['losses']}")
            noted = True
    for probe in r["augmentation_probes"]:
        if "error" in probe:
            print(f"  augmentation {probe['preset']!r}, xla on: {probe['error']}")
            noted = True
    if not noted:
        print("  none: every training finished under both settings, final losses finite and of the same order")
    print()
    print(f"what xla='auto' should mean on this CPU, per family (today's auto: {r['auto_today']}):")
    for line in r["recommendations"]:
        print(f"  {line}")
    judged = [c for c in r["cases"] if c.get("wants_xla") is not None and c.get("auto_xla") is not None]
    print("auto's choice per case, for a typical run (training/execution.py: use_xla):")
    for c in judged:
        agrees = "right" if c["wants_xla"] == c["auto_xla"] else "WRONG"
        print(f"  {c['case']:<16} {c['typical_steps']:>5} steps: auto {'on ' if c['auto_xla'] else 'off'}, "
              f"faster {'on ' if c['wants_xla'] else 'off'} -> {agrees}")
    right = sum(1 for c in judged if c["wants_xla"] == c["auto_xla"])
    print(f"xla_auto: auto picks the faster setting for a typical run in {right}/"
          f"{len(judged)} cases (target {len(judged)}/{len(judged)}) "
          f"{verdict(right, len(judged)) if judged else 'MISS'}")


if __name__ == "__main__":
    sys.exit(main())
