"""Spark local mode against the single-machine ALS (``implicit``) on the same synthetic data.

The data and split are bench_scale.py's (power-law item popularity, its sizes; 75/25 per user,
seed 42); both engines get ``ImplicitALS``'s default settings (``SparkALS`` maps them to Spark's
definitions, see ``recsys.spark_als``), the same top-K (seen items masked, ties to the lower
item) and the same metrics. Each engine runs in its own process. Spark is timed twice after the
fit: top-K and metrics on the driver from the collected factors (what ``evaluate`` does), and
both as Spark jobs (``recommend_in_spark``, ``ranking_metrics_in_spark``), the path for users
that do not fit on one machine. Peak memory is each step's peak resident set (Linux VmHWM, reset
at the step's start) of the Python process and, for Spark, of the JVM it starts (local mode runs
driver and executors in that one JVM).

    nice -n 15 python 2-recommendation-system/benchmarks/bench_spark_als.py           # 10M
    python 2-recommendation-system/benchmarks/bench_spark_als.py --size 100K          # quick check

Writes outputs/benchmarks/bench_spark_als.json (``--out`` elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from bench_scale import SIZES, prepare, run_context

from mlshared.ranking_metrics import ranking_report
from mlshared.run import write_metrics_json
from recsys.evaluation import evaluable_users
from recsys.models.base import training_key
from recsys.models.mf import ImplicitALS

PROJECT = Path(__file__).resolve().parents[1]
K = 10
METRICS = ("ndcg", "precision", "recall", "map")


def _peak_rss_mib(pid: int | str = "self") -> float | None:
    """A process's peak resident set since its last reset (Linux VmHWM), None elsewhere."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((x for x in status.splitlines() if x.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def _reset_peak_rss(pid: int | str) -> None:
    with contextlib.suppress(OSError):  # not Linux, or no permission: peaks then run from start
        Path(f"/proc/{pid}/clear_refs").write_text("5")


class Steps:
    """Times named steps and records the peak RSS of this process (and the JVM) in each."""

    def __init__(self) -> None:
        self.record: dict[str, dict[str, float | None]] = {}
        self.jvm_pid: int | None = None

    @contextlib.contextmanager
    def step(self, name: str) -> Iterator[None]:
        pids: list[int | str] = ["self", *([self.jvm_pid] if self.jvm_pid else [])]
        for pid in pids:
            _reset_peak_rss(pid)
        start = time.perf_counter()
        yield
        entry: dict[str, float | None] = {"seconds": time.perf_counter() - start}
        entry["python_peak_rss_mib"] = _peak_rss_mib()
        if self.jvm_pid:
            entry["jvm_peak_rss_mib"] = _peak_rss_mib(self.jvm_pid)
        self.record[name] = entry
        print(f"  {name:28s} {entry['seconds']:8.1f} s", flush=True)


def means(recs: np.ndarray, relevance: sp.csr_matrix) -> dict[str, float]:
    report = ranking_report(recs, relevance, K)
    return {f"{m}@{K}": float(report[f"{m}@{K}"].mean()) for m in METRICS}


def run_implicit(data: Path) -> dict[str, Any]:
    steps = Steps()
    with steps.step("load"):
        train, relevance = (sp.load_npz(data / f).tocsr() for f in ("train.npz", "relevance.npz"))
        users = evaluable_users(relevance)
    model = ImplicitALS()
    with steps.step("fit"):
        model.fit(train)
    with steps.step("top-K"):
        recs = model.recommend(users, K, exclude=train)
    with steps.step("evaluate"):
        metrics = means(recs, relevance[users])
    return {"model": repr(model), "steps": steps.record, "metrics": metrics}


def run_spark(data: Path, driver_memory: str) -> dict[str, Any]:
    from recsys.spark_als import (
        SparkALS,
        interactions_frame,
        local_session,
        ranking_metrics_in_spark,
        recommendations_array,
    )

    steps = Steps()
    with steps.step("load"):
        train, relevance = (sp.load_npz(data / f).tocsr() for f in ("train.npz", "relevance.npz"))
        users = evaluable_users(relevance)
    with steps.step("start Spark"):
        spark = local_session(cores="*", shuffle_partitions=8, driver_memory=driver_memory)
    # spark-submit execs the JVM, so the gateway's process is the JVM itself (pyspark internal).
    steps.jvm_pid = spark.sparkContext._gateway.proc.pid  # type: ignore[union-attr]
    model = SparkALS()
    with steps.step("fit"):  # includes sending the training pairs to Spark (Arrow)
        model.fit(train)
    with steps.step("top-K on the driver"):
        recs = model.recommend(users, K, exclude=train)
    with steps.step("evaluate on the driver"):
        metrics = means(recs, relevance[users])
    with steps.step("send seen + relevant (Arrow)"):
        seen = interactions_frame(spark, train).cache()
        relevant = interactions_frame(spark, relevance).cache()
        seen.count(), relevant.count()
    with steps.step("top-K in Spark"):
        in_spark = model.recommend_in_spark(seen, K).cache()
        in_spark.count()
    with steps.step("evaluate in Spark"):
        spark_metrics = ranking_metrics_in_spark(in_spark, relevant, K)
    spark_recs = recommendations_array(in_spark, users, K)
    spark_version = spark.version
    java_version = spark.sparkContext._jvm.System.getProperty("java.version")  # type: ignore[union-attr]
    spark.stop()
    return {
        "versions": {"spark": spark_version, "java": java_version},
        "model": repr(model),
        "spark_params": {k: v for k, v in model.spark_params(train).items() if k != "seed"},
        "driver_memory": driver_memory,
        "steps": steps.record,
        "metrics": metrics,
        "metrics_in_spark": spark_metrics,
        "metrics_of_spark_top_k": means(spark_recs, relevance[users]),
        "top_k_lists_equal_share": float(np.mean(np.all(spark_recs == recs, axis=1))),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="10M", choices=list(SIZES))
    parser.add_argument("--driver-memory", default="8g", help="the Spark JVM's heap (local mode)")
    parser.add_argument("--note", default="", help="what the JSON should say about the machine")
    parser.add_argument(
        "--out", type=Path, default=PROJECT / "outputs/benchmarks/bench_spark_als.json"
    )
    parser.add_argument("--engine", choices=["implicit", "spark"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)  # internal: one engine
    args = parser.parse_args()
    if args.engine:
        if args.engine == "implicit":
            run = run_implicit(args.data)
        else:
            run = run_spark(args.data, args.driver_memory)
        (args.data / f"{args.engine}.json").write_text(json.dumps(run))
        return
    started = time.perf_counter()
    report: dict[str, Any] = {"k": K}
    context = run_context(args.note)
    with tempfile.TemporaryDirectory(prefix="bench_spark_als_") as tmp:
        print(f"== {args.size}: generating and splitting (bench_scale's data)", flush=True)
        report["data"] = prepare(args.size, Path(tmp))
        folder = Path(tmp) / args.size
        # The same digest means the same training data as another run's (bench_scale's).
        report["data"]["train_digest"] = training_key(sp.load_npz(folder / "train.npz"))
        for engine in ("implicit", "spark"):
            print(f"== {engine}", flush=True)
            command = [sys.executable, __file__, "--engine", engine, "--data", str(folder)]
            subprocess.run([*command, "--driver-memory", args.driver_memory], check=True)
            report[engine] = json.loads((folder / f"{engine}.json").read_text())
    report["side_by_side"] = side_by_side(report)
    context["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
    context["wall_seconds"] = time.perf_counter() - started
    out = write_metrics_json(args.out, report, **context)
    print(json.dumps(report["side_by_side"], indent=1))
    print(f"wrote {out}")


def side_by_side(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per way of running: seconds per step, peak memory (Python + JVM), NDCG, precision."""
    rows = []
    implicit, spark = report["implicit"], report["spark"]
    ways = (
        ("implicit (single machine)", implicit, ("fit", "top-K", "evaluate"), "metrics"),
        (
            "Spark fit, driver top-K",
            spark,
            ("fit", "top-K on the driver", "evaluate on the driver"),
            "metrics",
        ),
        (
            "Spark end to end",
            spark,
            ("fit", "top-K in Spark", "evaluate in Spark"),
            "metrics_in_spark",
        ),
    )
    for name, run, (fit, top_k, evaluate), metrics in ways:
        steps = [run["steps"][s] for s in (fit, top_k, evaluate)]
        peaks = [
            sum(v for k, v in s.items() if k.endswith("rss_mib") and v is not None) for s in steps
        ]
        rows.append(
            {
                "way": name,
                "start_s": run["steps"].get("start Spark", {"seconds": 0.0})["seconds"],
                "fit_s": steps[0]["seconds"],
                "top_k_s": steps[1]["seconds"],
                "evaluate_s": steps[2]["seconds"],
                "peak_rss_gib": max(peaks) / 1024,
                f"ndcg@{K}": run[metrics][f"ndcg@{K}"],
                f"precision@{K}": run[metrics][f"precision@{K}"],
            }
        )
    return rows


if __name__ == "__main__":
    main()
