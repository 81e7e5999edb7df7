"""The scale benchmark at its tiny size, end to end, so it cannot rot; its generator and cap rules."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "2-recommendation-system/benchmarks/bench_scale.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_scale", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_scale"] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    yield module
    del sys.modules["bench_scale"]


def test_generator_gives_exact_distinct_pairs_with_a_power_law_head(bench):
    size = bench.Size(30_000, 500, 1_000)
    pairs = bench.synthetic_interactions(size, seed=1)
    assert len(pairs) == 30_000
    assert not pairs.duplicated(["user", "item"]).any()
    assert pairs["user"].between(0, 499).all() and pairs["item"].between(0, 999).all()
    counts = np.sort(np.bincount(pairs["item"], minlength=1_000))[::-1]
    assert counts[:10].sum() > 5 * counts[-10:].sum()  # the popular head dwarfs the tail
    np.testing.assert_array_equal(bench.synthetic_interactions(size, seed=1), pairs)


def test_tiny_run_times_every_step_and_records_the_guards_refusal(bench, tmp_path):
    out = tmp_path / "bench_scale.json"
    bench.main(["--sizes", "tiny", "--models", "MostPopular,EASE,ItemKNN",
                "--memory-budget-gib", "0.002", "--out", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["memory_budget_bytes"] == int(0.002 * 2**30)
    assert report["environment"]["cpu_count"] >= 1 and report["machine"]["cpu_count"] >= 1
    runs = {r["name"]: r for r in report["metrics"]["runs"]}
    ease = runs["EASE"]
    assert ease["status"] == "ok"
    assert set(ease["steps"]) == {"load", "fit", "score", "evaluate", "compare"}
    assert all(s["seconds"] >= 0 and s["peak_rss_mib"] > 10 for s in ease["steps"].values())
    assert 0 < ease["metrics"]["ndcg"] <= 1
    comparison = ease["comparison"]
    assert comparison["reference"] == "MostPopular" and comparison["n_users"] == 400
    assert comparison["ci_low"] <= comparison["diff"] <= comparison["ci_high"]
    assert runs["MostPopular"]["comparison"]["skipped"] == "no reference run"  # Random not run
    item_knn = runs["ItemKNN"]  # 5 x 500^2 x 8 bytes = 9.5 MiB > 2 MiB: refused up front
    assert item_knn["status"] == "refused" and "fit" not in item_knn["steps"]
    assert "needs about 9.5 MiB but only 2.0 MiB" in item_knn["message"]
    assert "Use ALS or BPR" in item_knn["message"]
    assert out.with_suffix(".png").stat().st_size > 10_000
    table = bench.markdown_table(report["metrics"]).splitlines()
    assert len(table) == 2 + 3 and all(row.count("|") == 9 for row in table)
    assert "| tiny | ItemKNN | ItemKNN builds five dense 500 x 500" in table[4]
    assert table[3].startswith("| tiny | EASE |") and table[3].endswith("vs MostPopular |")


def test_a_steps_peak_is_its_own_not_the_parents_at_spawn(bench):
    """getrusage's ru_maxrss in a child starts at the parent's RSS when it spawned the child."""
    parent = np.ones(400 * 2**20 // 8)  # 400 MiB resident here, in the parent
    probe = (
        "import importlib.util, sys; spec = importlib.util.spec_from_file_location('b', sys.argv[1]);"
        "b = importlib.util.module_from_spec(spec); sys.modules['b'] = b;"
        "spec.loader.exec_module(b); b._reset_peak_rss(); print(b._peak_rss_mib())"
    )
    child = subprocess.run([sys.executable, "-c", probe, str(SCRIPT)], capture_output=True,
                           text=True, check=True)  # fmt: skip
    assert parent.sum() > 0 and 10 < float(child.stdout) < 300


def test_a_run_over_the_cap_is_stopped_and_a_crash_is_recorded(bench, tmp_path):
    result = tmp_path / "result.json"
    result.write_text(json.dumps({"status": "started", "steps": {"fit": {"seconds": 9.0}}}))
    slow = bench.run_isolated([sys.executable, "-c", "import time; time.sleep(60)"], result, 1.0)
    assert slow["status"] == "over the cap: stopped after 1 s"
    assert slow["steps"] == {"fit": {"seconds": 9.0}} and slow["wall_seconds"] < 30
    crash = bench.run_isolated([sys.executable, "-c", "import os; os.abort()"], result, 30.0)
    assert crash["status"] == "crashed" and crash["returncode"] < 0


def test_bigger_sizes_are_skipped_only_when_over_the_cap(bench):
    def run(status, fit_s):
        return {"status": status, "size": "1M", "steps": {"load": {"seconds": 99.0},
                                                          "fit": {"seconds": fit_s}}}  # fmt: skip

    assert bench.skip_reason(None, 10.0, 100.0) is None
    assert bench.skip_reason(run("ok", 9.0), 10.0, 100.0) is None  # 90 s predicted
    assert bench.skip_reason(run("ok", 11.0), 10.0, 100.0).startswith(
        "not run: over the cap (at least 110 s predicted from 11 s at 1M x 10"
    )
    stopped = run("over the cap: stopped after 100 s", 100.0)
    assert bench.skip_reason(stopped, 2.5, 100.0) == "not run: over the cap at 1M"
    assert bench.skip_reason(run("refused", 0.0), 2.5, 100.0) is None  # the guard's answer again
