"""Colab setup: get the repository and a project's requirements into a fresh Colab runtime.

The repository URL lives here, once; the notebooks' setup cells call :func:`setup_project`.
Each step that can fail (clone, update, pip) stops the notebook with a :class:`SetupError`
that names the step, the command and what to try, instead of a bare ``CalledProcessError``.
"""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO_URL = "https://github.com/pmn2305/ml-projects"
REPO_DIR = Path("/content/ml-projects")
_RESTART = "Runtime > Restart session, then run the setup cell again"


class SetupError(RuntimeError):
    """A setup step failed; the message says which, with the command and what to try."""


def _step(name: str, command: list[str], advice: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        said = (result.stderr or result.stdout or "").strip().splitlines()[-8:]
        raise SetupError(
            f"Colab setup failed at step '{name}': `{shlex.join(command)}` exited with "
            f"{result.returncode}.\n" + "\n".join(said) + f"\nWhat to try: {advice}"
        )


def setup_project(project_folder: str, repo_dir: Path = REPO_DIR, branch: str = "main") -> Path:
    """Clone (or update) the repository, install the project and ``cd`` into it.

    Requirements state minimum versions only, so pip keeps Colab's TensorFlow / PyTorch. The
    shared package and the project's package are reinstalled from the same commit every time,
    so re-running the cell after a ``git pull`` upgrades both together.
    """
    pip = [sys.executable, "-m", "pip", "install", "-q"]
    if not (repo_dir / ".git").exists():
        _step(
            "clone",
            ["git", "clone", "--depth", "1", "--branch", branch, REPO_URL, str(repo_dir)],
            f"check that the runtime has internet and that branch {branch!r} exists; {_RESTART}.",
        )
    else:
        _step(
            "update",
            ["git", "-C", str(repo_dir), "pull", "--ff-only"],
            f"the clone in {repo_dir} has local changes or has diverged: delete it "
            f"(!rm -rf {repo_dir}) and run the setup cell again.",
        )
    project_dir = repo_dir / project_folder
    if not project_dir.is_dir():
        raise FileNotFoundError(f"{project_folder!r} is not a folder of {REPO_URL}")
    _step(
        "requirements",
        [*pip, "-r", str(project_dir / "requirements.txt")],
        f"read pip's message above (usually the network or a package index outage); {_RESTART}.",
    )
    _step(
        "install packages",
        [*pip, "--no-deps", "--force-reinstall", str(repo_dir / "shared"), str(project_dir)],
        f"read pip's message above; {_RESTART}.",
    )
    importlib.invalidate_caches()  # the freshly installed packages are importable at once
    os.chdir(project_dir)
    return project_dir
