"""Suite-wide pytest setup: smoke mode by default and markers for notebook items.

nbval starts each notebook's kernel as a child process, so the run mode set here reaches the
notebooks as well as the unit tests.
"""

from __future__ import annotations

import os

import pytest

from mlshared.run import MODE_ENV_VAR

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
