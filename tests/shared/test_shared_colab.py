"""Colab setup with subprocess calls recorded instead of run (no network)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from mlshared import colab


class Recorder:
    """Stands in for ``subprocess.run``: records each command, fails the ones told to."""

    def __init__(self) -> None:
        self.commands: list[list[str]] = []
        self.fail: dict[str, tuple[int, str]] = {}  # first word after the program -> (rc, stderr)

    def __call__(self, cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        self.commands.append(cmd)
        assert kwargs.get("capture_output") and kwargs.get("text")
        for word, (rc, stderr) in self.fail.items():
            if word in cmd:
                return subprocess.CompletedProcess(cmd, rc, "", stderr)
        return subprocess.CompletedProcess(cmd, 0, "", "")


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Recorder:
    recorder = Recorder()
    monkeypatch.setattr(colab.subprocess, "run", recorder)
    monkeypatch.chdir(os.getcwd())  # restores the working directory afterwards
    return recorder


def _pip(*args: str) -> list[str]:
    return [sys.executable, "-m", "pip", "install", "-q", *args]


def test_fresh_runtime_clones_installs_and_changes_directory(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / "2-recommendation-system").mkdir(parents=True)  # what the clone would create
    path_before = list(sys.path)
    project = colab.setup_project("2-recommendation-system", repo_dir=repo, branch="dev")
    assert project == repo / "2-recommendation-system"
    assert recorded.commands == [
        ["git", "clone", "--depth", "1", "--branch", "dev", colab.REPO_URL, str(repo)],
        _pip("-r", str(project / "requirements.txt")),
        _pip("--no-deps", "--force-reinstall", str(repo / "shared"), str(project)),
    ]
    assert Path.cwd() == project
    assert sys.path == path_before  # installed, not put on sys.path
    assert colab.REPO_URL == "https://github.com/pmn2305/ml-projects"


def test_existing_clone_is_pulled_and_both_packages_reinstalled(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / ".git").mkdir(parents=True)
    (repo / "1-image-classification").mkdir()
    colab.setup_project("1-image-classification", repo_dir=repo)
    assert recorded.commands[0] == ["git", "-C", str(repo), "pull", "--ff-only"]
    # re-running upgrades the shared package together with the project code
    assert recorded.commands[-1][-2:] == [
        str(repo / "shared"),
        str(repo / "1-image-classification"),
    ]
    assert len(recorded.commands) == 3


@pytest.mark.parametrize(
    ("failing", "step", "advice"),
    [
        ("clone", "clone", "has internet"),
        ("pull", "update", "rm -rf"),
        ("-r", "requirements", "Restart session"),
        ("--force-reinstall", "install packages", "Restart session"),
    ],
)
def test_a_failed_step_names_itself_the_command_and_what_to_try(
    recorded, tmp_path: Path, failing: str, step: str, advice: str
) -> None:
    repo = tmp_path / "ml-projects"
    (repo / "3-misinformation-detector").mkdir(parents=True)
    if failing == "pull":
        (repo / ".git").mkdir()
    recorded.fail[failing] = (1, "fatal: something went wrong\nERROR: the real cause")
    cwd = Path.cwd()
    with pytest.raises(colab.SetupError) as error:
        colab.setup_project("3-misinformation-detector", repo_dir=repo)
    message = str(error.value)
    assert f"step '{step}'" in message and "exited with 1" in message
    assert "ERROR: the real cause" in message and advice in message
    assert " ".join(recorded.commands[-1][:2]) in message  # the command, shell-quoted
    assert Path.cwd() == cwd  # no chdir after a failure
    assert recorded.commands[-1] == next(
        c for c in recorded.commands if failing in c
    )  # stopped there


def test_unknown_project_folder_is_a_clear_error(recorded, tmp_path: Path) -> None:
    repo = tmp_path / "ml-projects"
    (repo / ".git").mkdir(parents=True)
    cwd = Path.cwd()
    with pytest.raises(FileNotFoundError, match="'4-nope' is not a folder of https://github"):
        colab.setup_project("4-nope", repo_dir=repo)
    assert Path.cwd() == cwd  # no chdir and no pip install on failure
    assert [cmd[0] for cmd in recorded.commands] == ["git"]
