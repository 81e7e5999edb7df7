"""Colab setup: get the repository and a project's requirements into a fresh Colab runtime.

The repository URL lives here, once; the notebooks' setup cells call :func:`setup_project`.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO_URL = "https://github.com/pmn2305/ml-projects"
REPO_DIR = Path("/content/ml-projects")


def setup_project(project_folder: str, repo_dir: Path = REPO_DIR, branch: str = "main") -> Path:
    """Clone (or update) the repository, ``cd`` into the project and install its requirements.

    Requirements state minimum versions only, so pip keeps Colab's TensorFlow / PyTorch.
    """
    if not (repo_dir / ".git").exists():
        subprocess.run(
            ["git", "clone", "--depth", "1", "--branch", branch, REPO_URL, str(repo_dir)],
            check=True,
        )
    else:
        subprocess.run(["git", "-C", str(repo_dir), "pull", "--ff-only"], check=True)
    project_dir = repo_dir / project_folder
    if not project_dir.is_dir():
        raise FileNotFoundError(f"{project_folder!r} is not a folder of {REPO_URL}")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-r", str(project_dir / "requirements.txt")],
        check=True,
    )
    os.chdir(project_dir)
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return project_dir
