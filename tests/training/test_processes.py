"""Runs across processes: a killed run, MirroredStrategy on 2 logical CPUs, 2 workers."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from nbmodels import Run, resume
from nbmodels.cli import main as cli
from tests.training import scripts

REPO = Path(__file__).resolve().parents[2]


def child(*args, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "tests.training.scripts", *args],
        cwd=REPO,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def result_of(process, timeout=300):
    output, _ = process.communicate(timeout=timeout)
    lines = [line for line in output.splitlines() if line.startswith("RESULT ")]
    assert process.returncode == 0 and lines, output[-3000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_killed_process_leaves_a_readable_resumable_run(runs_root, capsys):
    process = child("long_run", str(runs_root))
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            runs = list(runs_root.glob("*/checkpoints/step-*"))
            if len(runs) >= 2:
                break
            assert process.poll() is None, process.communicate()[0][-3000:]
            time.sleep(0.2)
        else:
            pytest.fail("the child never wrote a checkpoint")
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()

    assert cli(["runs", "list"]) == 0
    listing = capsys.readouterr().out
    assert "interrupted" in listing and "killme" in listing
    run_id = next(runs_root.iterdir()).name
    run = Run.load(run_id)
    assert run.status == "interrupted"
    checkpoint_step = int(run.latest_checkpoint().name.split("-")[1])
    assert run.step >= checkpoint_step  # events after the checkpoint exist; resume drops them

    run.config = run.config.replace(steps=checkpoint_step + 30)
    resume(run, scripts.builder, scripts.xor_data(), verbose=False)
    assert run.status == "finished"
    steps = [e["step"] for e in Run.load(run_id).history]
    assert steps == list(range(1, checkpoint_step + 31))


def test_mirrored_on_two_logical_cpus_matches_single_device(runs_root):
    results = result_of(child("strategies"))
    single, mirrored = results["single"], results["mirrored"]
    assert mirrored["strategy"] == "mirrored" and mirrored["replicas"] == 2
    assert single["status"] == mirrored["status"] == "finished"
    assert single["loss"] < 0.45  # it learned
    # The global batch is split evenly, so the two runs average the same gradients.
    assert abs(mirrored["loss"] - single["loss"]) < 1e-3


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_process_multi_worker_run_matches_single_device(tmp_path):
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    workers = [
        child("worker", env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}}),
                             "NBMODELS_RUNS_DIR": str(tmp_path / "runs")})
        for i in range(2)
    ]
    chief, other = (result_of(w) for w in workers)
    single = result_of(child("strategies"))["single"]
    assert chief["strategy"] == "multi_worker" and chief["replicas"] == 2
    assert chief["status"] == other["status"] == "finished" and chief["steps"] == other["steps"] == 140
    assert Path(chief["root"]) == tmp_path / "runs"  # only the chief writes the shared runs folder
    assert Path(other["root"]) != tmp_path / "runs"
    assert abs(chief["loss"] - single["loss"]) < 1e-3
