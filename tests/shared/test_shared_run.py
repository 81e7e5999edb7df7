"""Run context: mode, output folders, metrics JSON, version checks, seeding and timing."""

from __future__ import annotations

import json
import random
import sys
import time
from datetime import datetime
from pathlib import Path

import numpy as np
import pytest

from mlshared import run


@pytest.fixture(autouse=True)
def _no_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(run.MODE_ENV_VAR, raising=False)


def test_run_mode_defaults_to_full() -> None:
    assert run.run_mode() == "full"


@pytest.mark.parametrize(
    ("value", "mode"),
    [("full", "full"), ("cpu", "cpu"), ("smoke", "smoke"), (" Smoke\n", "smoke"), ("", "full")],
)
def test_run_mode_valid_values(monkeypatch: pytest.MonkeyPatch, value: str, mode: str) -> None:
    monkeypatch.setenv("PORTFOLIO_MODE", value)
    assert run.run_mode() == mode


@pytest.mark.parametrize("value", ["gpu", "fast", "smoke-test"])
def test_run_mode_invalid_value(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("PORTFOLIO_MODE", value)
    with pytest.raises(ValueError, match=r"PORTFOLIO_MODE=.* is not a run mode.*full, cpu, smoke"):
        run.run_mode()


def test_output_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    assert run.output_dir(tmp_path) == tmp_path / "outputs"
    assert run.output_dir(tmp_path, "cpu") == tmp_path / "outputs"
    smoke = run.output_dir(tmp_path, "smoke")
    assert smoke == tmp_path / "outputs" / "smoke"
    assert smoke.is_dir()
    monkeypatch.setenv("PORTFOLIO_MODE", "smoke")
    nested = tmp_path / "new" / "project"
    assert run.output_dir(str(nested)) == nested / "outputs" / "smoke"
    assert (nested / "outputs" / "smoke").is_dir()
    assert run.output_dir(tmp_path, "full") == tmp_path / "outputs"  # explicit mode wins
    with pytest.raises(ValueError, match="mode must be one of full, cpu, smoke, got 'smoek'"):
        run.output_dir(tmp_path / "typo", "smoek")
    assert not (tmp_path / "typo").exists()


def _strict_json(path: Path) -> dict:
    def reject(constant: str) -> None:
        raise AssertionError(f"invalid JSON constant {constant}")

    return json.loads(path.read_text(), parse_constant=reject)


def test_write_metrics_json_is_valid_json_with_context(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PORTFOLIO_MODE", "cpu")
    metrics = {
        "accuracy": np.float32(0.75),
        "n": np.int64(12),
        "per_class": np.array([0.5, np.nan, 1.0]),
        "matrix": np.arange(4).reshape(2, 2),
        "nan": float("nan"),
        "np_nan": np.float64("nan"),
        "inf": np.float32("inf"),
        "flag": np.bool_(True),
        "nested": {"ci": (np.float64(0.1), np.float64(0.2)), 3: "int key"},
        "path": Path("outputs/fig.png"),
    }
    path = run.write_metrics_json(tmp_path / "sub" / "metrics.json", metrics, model="mlp", seed=3)
    assert path == tmp_path / "sub" / "metrics.json"
    data = _strict_json(path)
    assert data["mode"] == "cpu"
    assert data["model"] == "mlp" and data["seed"] == 3
    m = data["metrics"]
    assert m["accuracy"] == pytest.approx(0.75)
    assert m["n"] == 12
    assert m["per_class"] == [0.5, None, 1.0]
    assert m["matrix"] == [[0, 1], [2, 3]]
    assert m["nan"] is None and m["np_nan"] is None and m["inf"] is None
    assert m["flag"] is True
    assert m["nested"] == {"ci": [0.1, 0.2], "3": "int key"}
    assert m["path"] == str(Path("outputs/fig.png"))
    env = data["environment"]
    assert env["python"] == ".".join(map(str, sys.version_info[:3]))
    assert env["packages"]["numpy"] == np.__version__
    assert datetime.fromisoformat(data["created_utc"]).tzinfo is not None


def test_environment_summary_fields() -> None:
    env = run.environment_summary()
    assert {"python", "platform", "processor", "cpu_count", "memory_gb", "gpus", "colab"} <= set(
        env
    )
    assert env["colab"] is False
    assert isinstance(env["gpus"], list)
    assert env["memory_gb"] is None or env["memory_gb"] > 0
    json.dumps(env, allow_nan=False)


def test_in_colab(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run.in_colab() is False
    monkeypatch.setitem(sys.modules, "google.colab", object())
    assert run.in_colab() is True


def test_require_versions_passes_and_returns_versions() -> None:
    found = run.require_versions({"numpy": "1.20", "scipy": "1.0.0"})
    assert found == {"numpy": np.__version__, "scipy": pytest.importorskip("scipy").__version__}


def test_require_versions_fails_with_one_clear_message() -> None:
    with pytest.raises(RuntimeError) as info:
        run.require_versions({"numpy": "999.1", "surely-not-installed-pkg-xyz": "1.0"})
    message = str(info.value)
    assert f"numpy {np.__version__} is too old (need >= 999.1)" in message
    assert "surely-not-installed-pkg-xyz is not installed (need >= 1.0)" in message
    assert "pip install -r requirements.txt" in message


@pytest.mark.parametrize(
    ("installed", "minimum", "ok"),
    [
        ("2.16.1", "2.16", True),
        ("2.16", "2.16.0", True),
        ("2.9.0", "2.16", False),  # numeric, not string comparison
        ("2.13.0+cpu", "2.13", True),
        ("2.1.0+cu121", "2.1.5", False),  # local version digits are not a patch number
        ("1.0.0rc1", "1.0.1", False),  # pre-release digits are not a patch number
        ("3.0.0.dev20250101", "3.0", True),
        ("5.0.0", "4.57.1", True),
    ],
)
def test_require_versions_compares_numerically(
    monkeypatch: pytest.MonkeyPatch, installed: str, minimum: str, ok: bool
) -> None:
    monkeypatch.setattr(run.importlib.metadata, "version", lambda name: installed)
    if ok:
        assert run.require_versions({"pkg": minimum}) == {"pkg": installed}
    else:
        with pytest.raises(RuntimeError, match="too old"):
            run.require_versions({"pkg": minimum})


def test_seed_everything_makes_numpy_and_random_reproducible(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PYTHONHASHSEED", "keep")  # restored after the test
    run.seed_everything(123)
    first = (np.random.rand(5), random.random(), np.random.randint(0, 10**6, 3))  # noqa: NPY002
    run.seed_everything(123)
    second = (np.random.rand(5), random.random(), np.random.randint(0, 10**6, 3))  # noqa: NPY002
    np.testing.assert_array_equal(first[0], second[0])
    assert first[1] == second[1]
    np.testing.assert_array_equal(first[2], second[2])
    run.seed_everything(124)
    assert not np.array_equal(np.random.rand(5), first[0])  # noqa: NPY002
    assert run.os.environ["PYTHONHASHSEED"] == "124"


def test_seed_everything_seeds_imported_frameworks(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []

    class FakeCuda:
        @staticmethod
        def is_available() -> bool:
            return True

        @staticmethod
        def manual_seed_all(seed: int) -> None:
            calls.append(("cuda", seed))

    class FakeTorch:
        cuda = FakeCuda

        @staticmethod
        def manual_seed(seed: int) -> None:
            calls.append(("torch", seed))

    class FakeRandom:
        @staticmethod
        def set_seed(seed: int) -> None:
            calls.append(("tf", seed))

    class FakeTf:
        random = FakeRandom

    monkeypatch.setenv("PYTHONHASHSEED", "keep")
    monkeypatch.setitem(sys.modules, "torch", FakeTorch)
    monkeypatch.setitem(sys.modules, "tensorflow", FakeTf)
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    run.seed_everything(9)
    assert sorted(calls) == [("cuda", 9), ("tf", 9), ("torch", 9)]


def test_timer_measures_elapsed_time(monkeypatch: pytest.MonkeyPatch) -> None:
    ticks = iter([100.0, 102.5])
    monkeypatch.setattr(run.time, "perf_counter", lambda: next(ticks))
    with run.Timer() as timer:
        pass
    assert timer.seconds == pytest.approx(2.5)


def test_timer_real_clock_lower_bound() -> None:
    timer = run.Timer()
    assert timer.seconds == 0.0
    with timer:
        time.sleep(0.02)
    assert timer.seconds >= 0.02


def test_pick_recipe_replaces_fields_and_names_the_valid_choices() -> None:
    from dataclasses import dataclass

    from mlshared.run import pick_recipe

    @dataclass(frozen=True)
    class Toy:
        name: str
        epochs: int = 1

    recipes = {"cpu": Toy("cpu"), "smoke": Toy("smoke", 0)}
    assert pick_recipe(recipes, "cpu", epochs=3) == Toy("cpu", 3)
    assert recipes["cpu"].epochs == 1  # the stored recipe is not changed
    with pytest.raises(ValueError, match="unknown recipe 'gpu'; choose from cpu, smoke"):
        pick_recipe(recipes, "gpu")
    with pytest.raises(
        ValueError, match=r"unknown recipe fields \['epoch'\]; valid fields: name, epochs"
    ):
        pick_recipe(recipes, "cpu", epoch=3)
