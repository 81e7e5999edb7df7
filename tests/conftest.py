"""Suite-wide pytest setup: smoke mode by default and markers for notebook items.

nbval starts each notebook's kernel as a child process, so the run mode set here reaches the
notebooks as well as the unit tests.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from mlshared.run import MODE_ENV_VAR

REPO = Path(__file__).resolve().parents[1]


def _packages_of_this_checkout() -> dict[str, Path]:
    """Every package the repository holds: ``shared/mlshared`` and ``<project>/<package>``."""
    folders = [REPO / "shared" / "mlshared"]
    folders += [init.parent for init in REPO.glob("[0-9]-*/*/__init__.py")]
    return {folder.name: folder for folder in folders}


def _installed_elsewhere() -> list[str]:
    """Packages that import from another checkout: the suite would test the wrong code.

    A package that is not installed at all is left to fail (or be skipped) in its own tests: an
    environment may hold only some projects (``make test-colab`` splits them by Python version).
    """
    problems = []
    for name, folder in _packages_of_this_checkout().items():
        spec = importlib.util.find_spec(name)
        if spec is None or spec.origin is None:
            continue
        origin = Path(spec.origin).resolve().parent
        if origin != folder:
            problems.append(f"{name} imports from {origin}, not {folder}")
    return problems


def pytest_configure(config: pytest.Config) -> None:
    """Refuse to run against another checkout's packages (an editable install made elsewhere)."""
    problems = _installed_elsewhere()
    if problems:
        raise pytest.UsageError(
            "; ".join(problems) + ". Run `make setup` in this checkout (it installs every "
            "package editable from here)."
        )


# Tests never download or train for real unless a run asks for it explicitly.
os.environ.setdefault(MODE_ENV_VAR, "smoke")
os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every nbval cell item ``notebook`` so ``-m notebook`` / ``-m 'not notebook'`` work."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
