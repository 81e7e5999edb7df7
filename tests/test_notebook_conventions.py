"""The conventions every notebook follows (README, "Contributing"), checked on each one."""

from __future__ import annotations

import ast
import json
import re
import subprocess
from pathlib import Path

import pytest

from mlshared.colab import REPO_URL

ROOT = Path(__file__).resolve().parents[1]


def project_notebooks() -> list[Path]:
    """Every notebook git tracks plus any new one in a project folder: no hand-kept list."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "*.ipynb"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        listed = []
    found = {ROOT / p for p in listed} | set(ROOT.glob("[0-9]-*/*.ipynb"))
    return sorted(p for p in found if p.exists())


def load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


NOTEBOOKS = project_notebooks()
GPU_FRAMEWORKS = re.compile(r"^\s*(tensorflow|torch)\b", re.MULTILINE)
# Anchors (microsoft/recommenders quick starts, tensorflow/docs tutorials) average 4-8 lines.
MAX_MEAN_CELL_LINES = 8
MAX_CELL_LINES = 20


def _ids(paths: list[Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


def test_every_project_has_a_notebook() -> None:
    folders = sorted(p.name for p in ROOT.glob("[0-9]-*") if p.is_dir())
    with_notebook = sorted({nb.parent.name for nb in NOTEBOOKS})
    assert folders, "no project folders found"
    assert with_notebook == folders


@pytest.fixture(params=NOTEBOOKS, ids=_ids(NOTEBOOKS))
def notebook(request: pytest.FixtureRequest) -> tuple[Path, dict]:
    return request.param, load(request.param)


def _code_cells(nb: dict) -> list[dict]:
    return [c for c in nb["cells"] if c["cell_type"] == "code"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def test_outputs_are_stripped(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    dirty = [
        i for i, c in enumerate(_code_cells(nb)) if c.get("outputs") or c.get("execution_count")
    ]
    assert not dirty, f"{path.name}: code cells {dirty} have outputs; strip them before committing"


def test_kernelspec_is_the_shared_python3(notebook: tuple[Path, dict]) -> None:
    _, nb = notebook
    assert nb["nbformat"] == 4
    assert nb["metadata"]["kernelspec"]["name"] == "python3"
    assert nb["metadata"]["kernelspec"]["language"] == "python"


def test_title_and_colab_badge(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    first = nb["cells"][0]
    assert first["cell_type"] == "markdown"
    text = _source(first)
    assert len(re.findall(r"^# ", text, re.MULTILINE)) == 1, "exactly one H1 title"
    repo_path = REPO_URL.removeprefix("https://github.com/")
    own = path.relative_to(ROOT).as_posix()
    badge = f"https://colab.research.google.com/github/{repo_path}/blob/main/{own}"
    assert badge in text, f"the Colab badge must link to {badge}"
    h1_count = sum(
        len(re.findall(r"^# ", _source(c), re.MULTILINE))
        for c in nb["cells"]
        if c["cell_type"] == "markdown"
    )
    assert h1_count == 1, "one H1 per notebook"


def test_setup_section_installs_from_the_one_repo_url(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    headings = [_source(c) for c in nb["cells"] if c["cell_type"] == "markdown"]
    assert any(re.search(r"^## Setup", h, re.MULTILINE) for h in headings)
    first_code = _source(_code_cells(nb)[0])
    assert "google.colab" in first_code and "setup_project" in first_code
    assert f'setup_project("{path.parent.name}")' in first_code
    assert f"git+{REPO_URL}#subdirectory=shared" in first_code
    # a failed pip line does not stop a cell: the import right after it must, with a message
    assert "except ImportError" in first_code and "Setup step" in first_code


def test_exactly_one_parameters_cell(notebook: tuple[Path, dict]) -> None:
    _, nb = notebook
    tagged = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1 and tagged[0]["cell_type"] == "code"
    assert "run_mode()" in _source(tagged[0]), "the mode is read in the parameters cell"


def test_gpu_notebooks_request_a_colab_gpu(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    requirements = (path.parent / "requirements.txt").read_text()
    if not GPU_FRAMEWORKS.search(requirements):
        pytest.skip(f"{path.parent.name} needs no deep-learning framework")
    assert nb["metadata"].get("accelerator") == "GPU"
    assert "gpuType" in nb["metadata"].get("colab", {})


def test_notebooks_assert_their_results(notebook: tuple[Path, dict]) -> None:
    path, nb = notebook
    asserts = sum(_source(c).count("assert ") for c in _code_cells(nb))
    assert asserts >= 3, f"{path.name} should check its results with asserts (found {asserts})"


def _python(cell: dict) -> str:
    """A code cell's source with IPython's ``!`` and ``%`` lines replaced by ``pass``."""
    lines = _source(cell).splitlines()
    return "\n".join(re.sub(r"^(\s*)[!%].*$", r"\1pass", line) for line in lines)


def _code_lines(cell: dict) -> list[str]:
    return [
        line
        for line in _source(cell).splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_notebooks_stay_thin(notebook: tuple[Path, dict]) -> None:
    """Logic lives in the packages: short cells, no function or class definitions."""
    path, nb = notebook
    lengths = [len(_code_lines(c)) for c in _code_cells(nb)]
    long = {i: n for i, n in enumerate(lengths) if n > MAX_CELL_LINES}
    assert not long, f"{path.name}: code cells over {MAX_CELL_LINES} lines (cell: lines): {long}"
    mean = sum(lengths) / len(lengths)
    assert mean <= MAX_MEAN_CELL_LINES, f"{path.name}: {mean:.1f} code lines per cell on average"
    defined = [
        node.name
        for cell in _code_cells(nb)
        for node in ast.walk(ast.parse(_python(cell)))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
    ]
    assert not defined, f"{path.name} defines {defined}: move them into the project's package"


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while parts and parts[-1] == 0:  # "2.16" and "2.16.0" are the same minimum
        parts.pop()
    return tuple(parts)


def requirement_minimums(path: Path) -> dict[str, str]:
    """``name>=version`` lines of a requirements file (comments and markers ignored)."""
    found = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9_.\-]*)\s*>=\s*([0-9][0-9.]*)", line)
        if match:
            found[_canonical(match.group(1))] = match.group(2)
    return found


def notebook_minimums(nb: dict) -> dict[str, str]:
    """The literal dict each ``require_versions({...})`` call in the notebook checks."""
    found: dict[str, str] = {}
    for cell in _code_cells(nb):
        for node in ast.walk(ast.parse(_python(cell))):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "id", getattr(node.func, "attr", "")) == "require_versions"
            ):
                found |= {_canonical(k): v for k, v in ast.literal_eval(node.args[0]).items()}
    return found


def test_notebook_version_checks_agree_with_requirements(notebook: tuple[Path, dict]) -> None:
    """One minimum per package: what the notebook checks is what requirements.txt installs."""
    path, nb = notebook
    required = requirement_minimums(path.parent / "requirements.txt")
    checked = notebook_minimums(nb)
    assert checked, f"{path.name} checks no package versions (mlshared.run.require_versions)"
    disagree = {
        name: (version, required.get(name))
        for name, version in checked.items()
        if name not in required or _release(version) != _release(required[name])
    }
    assert not disagree, (
        f"{path.name}: notebook minimum vs requirements.txt minimum differ: {disagree}"
    )


def test_requirement_minimum_parser_reads_the_forms_we_use(tmp_path: Path) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("# c\nnumpy>=2.0  # why\nscikit_learn >= 1.3\nfoo==1\n\nai-edge-litert>=1.1\n")
    assert requirement_minimums(req) == {
        "numpy": "2.0",
        "scikit-learn": "1.3",
        "ai-edge-litert": "1.1",
    }
    nb = {"cells": [{"cell_type": "code", "source": '!pip x\nrequire_versions({"NumPy": "2"})'}]}
    assert notebook_minimums(nb) == {"numpy": "2"}
    assert _release("2.16") == _release("2.16.0") != _release("2.1.6")
