"""Colab setup with subprocess calls recorded instead of run (no network)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from mlshared import colab


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> list[tuple[list[str], dict]]:
    calls: list[tuple[list[str], dict]] = []
    monkeypatch.setattr(colab.subprocess, "run", lambda cmd, **kw: calls.append((cmd, kw)))
    monkeypatch.chdir(os.getcwd())  # restores the working directory afterwards
    monkeypatch.setattr(sys, "path", list(sys.path))
    return calls


def test_fresh_runtime_clones_installs_and_changes_directory(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / "2-recommendation-system").mkdir(parents=True)  # what the clone would create
    project = colab.setup_project("2-recommendation-system", repo_dir=repo, branch="dev")
    assert project == repo / "2-recommendation-system"
    commands = [cmd for cmd, _ in recorded]
    assert commands == [
        ["git", "clone", "--depth", "1", "--branch", "dev", colab.REPO_URL, str(repo)],
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            str(project / "requirements.txt"),
        ],
    ]
    assert all(kw.get("check") is True for _, kw in recorded)
    assert Path.cwd() == project
    assert sys.path[0] == str(project)
    assert colab.REPO_URL == "https://github.com/pmn2305/ml-projects"


def test_existing_clone_is_pulled_not_recloned(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / ".git").mkdir(parents=True)
    (repo / "1-image-classification").mkdir()
    colab.setup_project("1-image-classification", repo_dir=repo)
    assert recorded[0][0] == ["git", "-C", str(repo), "pull", "--ff-only"]
    assert recorded[1][0][-1] == str(repo / "1-image-classification" / "requirements.txt")
    assert len(recorded) == 2
    # calling twice does not put the project on sys.path twice
    colab.setup_project("1-image-classification", repo_dir=repo)
    assert sys.path.count(str(repo / "1-image-classification")) == 1


def test_unknown_project_folder_is_a_clear_error(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / ".git").mkdir(parents=True)
    cwd = Path.cwd()
    with pytest.raises(FileNotFoundError, match="'4-nope' is not a folder of https://github"):
        colab.setup_project("4-nope", repo_dir=repo)
    assert Path.cwd() == cwd  # no chdir and no pip install on failure
    assert [cmd[0] for cmd, _ in recorded] == ["git"]
