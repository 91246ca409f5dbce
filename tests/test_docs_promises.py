"""The docs promise only model families that exist: no sentence names vision or recommender
models before nbmodels has them (the README, the package description, the notebooks and every
docstring and comment in the package)."""

import re
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).parents[1]

# word that names a family -> where that family's models would live (DESIGN's layout)
FAMILIES = {
    r"\bvision\b|\bimage (classifier|model)s?\b|\bViT\b|\bconvnets?\b": "nbmodels/models/vision",
    r"\brecommender|\brecommendation models?\b|\btwo-tower\b|\bretrieval models?\b": "nbmodels/models/recommenders",
}


def documents() -> dict[str, str]:
    docs = {"README.md": (REPO / "README.md").read_text()}
    docs["pyproject.toml description"] = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["description"]
    docs["extension/package.json"] = (REPO / "extension" / "package.json").read_text()
    for path in sorted((REPO / "notebooks").glob("*.ipynb")):
        docs[str(path.relative_to(REPO))] = path.read_text()
    for path in sorted((REPO / "nbmodels").rglob("*.py")):
        docs[str(path.relative_to(REPO))] = path.read_text()
    return docs


@pytest.mark.parametrize("words, home", FAMILIES.items(), ids=["vision", "recommenders"])
def test_no_document_promises_a_model_family_that_does_not_exist(words, home):
    if (REPO / home).exists():
        pytest.skip(f"{home} exists: the docs may name it")
    found = [
        f"{name}: …{text[max(0, m.start() - 60):m.end() + 60]}…"
        for name, text in documents().items()
        for m in re.finditer(words, text, re.I)
    ]
    assert found == [], "\n".join(found)
