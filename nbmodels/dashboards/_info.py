"""What the TrainingDashboard shows besides the form: the device table, the recipe line
(parameters and estimated memory) and which buttons are enabled. Pure functions.

Example:
>>> from nbmodels.devices import Device
>>> from nbmodels.dashboards._info import control_states, device_rows
>>> gpu = Device("GPU", 0, "NVIDIA H100", "/physical_device:GPU:0", memory_total=80 * 2**30,
...              compute_capability=(9, 0), recommended_precision="mixed_bfloat16")
>>> device_rows([gpu])
[('GPU 0', 'NVIDIA H100, 80.0 GiB, compute 9.0', 'mixed_bfloat16')]
>>> control_states("running", form_ok=True)
{'start': False, 'stop': True, 'resume': False}
"""

from __future__ import annotations

import html

from nbmodels.runs.rundir import ACTIVE, RESUMABLE


def device_rows(devices) -> list[tuple[str, str, str]]:
    """(device, description, recommended precision) for each accelerator; one "CPU only" row
    (with the CPU and its memory) when there is none."""
    from nbmodels.devices import format_bytes

    accelerators = [d for d in devices if d.kind != "CPU"]
    rows = []
    for device in accelerators:
        parts = [device.name]
        if device.memory_total is not None:
            parts.append(format_bytes(device.memory_total))
        if device.compute_capability is not None:
            parts.append("compute {}.{}".format(*device.compute_capability))
        rows.append((f"{device.kind} {device.index}", ", ".join(parts), device.recommended_precision))
    if not rows:
        cpus = [d for d in devices if d.kind == "CPU"]
        about = ", ".join([cpus[0].name] + ([format_bytes(cpus[0].memory_total)] if cpus[0].memory_total else [])) if cpus else ""
        rows.append(("CPU only", about, "float32"))
    return rows


def devices_html(devices) -> str:
    from nbmodels.devices import recommended_precision

    body = "".join(f"<tr><td><b>{html.escape(a)}</b></td><td>{html.escape(b)}</td><td>{html.escape(c)}</td></tr>"
                   for a, b, c in device_rows(devices))
    return (f"<table class='nbmodels-devices'><tr><th style='text-align:left'>device</th><th style='text-align:left'>"
            f"memory, capability</th><th style='text-align:left'>precision</th></tr>{body}</table>"
            f"<div>precision='auto' trains in <b>{html.escape(recommended_precision(devices))}</b> here.</div>")


def resolved_precision(precision: str, devices) -> str:
    """What precision='auto' means on these devices; other values as they are."""
    from nbmodels.devices import recommended_precision

    return recommended_precision(devices) if precision == "auto" else precision


def recipe_line(recipe, size: str, batch_size: int, precision: str) -> str:
    """'<title> <size>: N parameters, about M of device memory at batch B (precision)'."""
    from nbmodels.devices import format_bytes

    parameters = recipe.parameter_count(size)
    memory = recipe.estimate_memory(size, batch_size, precision)
    return (f"{recipe.title} — {size}: {parameters:,} parameters; about {format_bytes(memory)} of device memory "
            f"for batch {batch_size} in {precision}")


def control_states(status: str | None, form_ok: bool) -> dict[str, bool]:
    """Which of Start / Stop / Resume can be pressed, for the current run's status."""
    active = status in ACTIVE
    return {"start": form_ok and not active, "stop": status == "running", "resume": status in RESUMABLE}
