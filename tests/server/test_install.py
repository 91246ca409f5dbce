"""The installed package registers both halves of the extension with Jupyter."""

import re
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def jupyter(*args) -> str:
    done = subprocess.run([str(BIN / "jupyter"), *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return ANSI.sub("", done.stdout + done.stderr)


def test_labextension_is_installed_enabled_and_ok():
    listing = jupyter("labextension", "list")
    assert re.search(r"^\s*nbmodels v\S+ enabled OK \(python, nbmodels\)", listing, re.M), listing


def test_server_extension_is_enabled_and_validates():
    listing = jupyter("server", "extension", "list")
    assert re.search(r"^\s*nbmodels\.server enabled\s*$", listing, re.M), listing
    assert re.search(r"^\s*nbmodels\.server\s+OK\s*$", listing, re.M), listing
