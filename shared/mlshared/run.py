"""Run context: which recipe runs, reproducible seeds, and where results go.

The run mode is read from one environment variable, here and nowhere else, so that a notebook,
``make test`` and CI all agree on what "smoke" means.
"""

from __future__ import annotations

import dataclasses
import importlib
import importlib.metadata
import json
import os
import platform
import random
import re
import sys
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

    RecipeT = TypeVar("RecipeT", bound=DataclassInstance)
else:
    RecipeT = TypeVar("RecipeT")

MODE_ENV_VAR = "PORTFOLIO_MODE"
MODES = ("full", "cpu", "smoke")
Mode = Literal["full", "cpu", "smoke"]

# Packages whose versions are worth recording next to a result.
_TRACKED_PACKAGES = (
    "numpy",
    "scipy",
    "pandas",
    "scikit-learn",
    "statsmodels",
    "tensorflow",
    "keras",
    "torch",
    "transformers",
    "implicit",
)


def run_mode() -> Mode:
    """Return the run mode from ``PORTFOLIO_MODE``; ``full`` when unset so Colab gets the real run."""
    value = os.environ.get(MODE_ENV_VAR, "").strip().lower() or "full"
    if value not in MODES:
        raise ValueError(
            f"{MODE_ENV_VAR}={value!r} is not a run mode; use one of {', '.join(MODES)} "
            f"(or leave it unset for 'full')."
        )
    return value  # type: ignore[return-value]


def pick_recipe(recipes: Mapping[str, RecipeT], name: str, **overrides: Any) -> RecipeT:
    """The recipe called ``name`` with some fields replaced (a notebook's ``OVERRIDES``).

    Every project's ``recipe_for`` is this: a typo must never run with a silently ignored
    knob, so an unknown recipe or field is an error that names the valid ones.
    """
    if name not in recipes:
        raise ValueError(f"unknown recipe {name!r}; choose from {', '.join(recipes)}")
    recipe = recipes[name]
    fields = [f.name for f in dataclasses.fields(recipe)]
    unknown = sorted(set(overrides) - set(fields))
    if unknown:
        raise ValueError(f"unknown recipe fields {unknown}; valid fields: {', '.join(fields)}")
    return dataclasses.replace(recipe, **overrides)


def in_colab() -> bool:
    """True inside a Google Colab kernel."""
    return "google.colab" in sys.modules


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, and TensorFlow / PyTorch when they are already imported.

    Frameworks that are not imported are not imported here: importing TensorFlow just to seed
    it would cost seconds and memory in projects that never use it.
    """
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 - libraries still draw from the legacy global RNG
    os.environ["PYTHONHASHSEED"] = str(seed)
    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].random.set_seed(seed)
    if "keras" in sys.modules and hasattr(sys.modules["keras"], "utils"):
        keras_utils = sys.modules["keras"].utils
        if hasattr(keras_utils, "set_random_seed"):
            keras_utils.set_random_seed(seed)
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return versions


def _memory_gb() -> float | None:
    try:
        pages = os.sysconf("SC_PHYS_PAGES")
        page_size = os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None
    return round(pages * page_size / 1024**3, 1)


def _gpus() -> list[str]:
    """GPU names from frameworks that are already imported (never imports one)."""
    names: list[str] = []
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        if torch.cuda.is_available():
            names += [torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())]
    if not names and "tensorflow" in sys.modules:
        tf = sys.modules["tensorflow"]
        names += [d.name for d in tf.config.list_physical_devices("GPU")]
    return names


def environment_summary() -> dict[str, Any]:
    """Describe the hardware and software a result was produced on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "memory_gb": _memory_gb(),
        "gpus": _gpus(),
        "colab": in_colab(),
        "packages": _package_versions(),
    }


def output_dir(project_dir: str | os.PathLike[str], mode: Mode | None = None) -> Path:
    """Where a run writes figures and metrics: ``outputs/`` (real runs) or ``outputs/smoke/``.

    Smoke runs go to a git-ignored subfolder so a test run never overwrites the committed
    results of a real run.
    """
    mode = mode or run_mode()
    if mode not in MODES:  # a typo must not send a test run into the committed outputs/
        raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    path = Path(project_dir) / "outputs"
    if mode == "smoke":
        path = path / "smoke"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _to_builtin(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return _to_builtin(value.tolist())
    if isinstance(value, np.generic):
        return _to_builtin(value.item())  # np.float64(nan) must become null too
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None  # JSON has no NaN/inf; null is explicit about "not available"
    return value


def write_metrics_json(
    path: str | os.PathLike[str], metrics: Mapping[str, Any], **context: Any
) -> Path:
    """Write metrics with the run mode, time and environment beside them.

    A number without the hardware and mode that produced it cannot be compared, so the
    context travels in the same file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "mode": run_mode(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "environment": environment_summary(),
        **_to_builtin(context),
        "metrics": _to_builtin(metrics),
    }
    path.write_text(json.dumps(payload, indent=2, sort_keys=False, allow_nan=False) + "\n")
    return path


def _version_tuple(version: str) -> tuple[int, ...]:
    parts = []
    for piece in version.split("."):
        # Leading digits only: "0+cu121" is 0 and "0rc1" is 0, not 121 or 1.
        digits = re.match(r"\d*", piece).group()  # type: ignore[union-attr]  # \d* always matches
        if not digits:
            break
        parts.append(int(digits))
        if not piece.isdigit():
            break
    return tuple(parts)


def require_versions(minimums: Mapping[str, str]) -> dict[str, str]:
    """Check installed packages against minimum versions and fail with one clear message.

    Minimums rather than pins, so Colab's preinstalled stack is used instead of reinstalled.
    """
    found: dict[str, str] = {}
    problems = []
    for name, minimum in minimums.items():
        try:
            version = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            problems.append(f"{name} is not installed (need >= {minimum})")
            continue
        found[name] = version
        have, need = _version_tuple(version), _version_tuple(minimum)
        width = max(len(have), len(need))  # "2.16" is the same release as "2.16.0"
        if have + (0,) * (width - len(have)) < need + (0,) * (width - len(need)):
            problems.append(f"{name} {version} is too old (need >= {minimum})")
    if problems:
        raise RuntimeError(
            "Package requirements not met: "
            + "; ".join(problems)
            + ". Install the project's requirements: pip install -r requirements.txt"
        )
    return found


class Timer:
    """Wall-clock timer for ``with`` blocks; ``seconds`` holds the elapsed time."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._start = 0.0

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._start
