"""Scale benchmark: fit, top-K scoring of every user and evaluation from 100K to 25M interactions.

Each (size, model) runs in a fresh Python process, so one model's memory cannot inflate
another's and a crash or a kill ends only that run. Peak memory is the peak resident set size
(RSS) of each step: Linux's high-water mark VmHWM, reset before the step through
/proc/self/clear_refs (elsewhere ``resource.getrusage``'s peak so far, which on Linux also counts
the parent's RSS at the moment it started the process). RSS, not tracemalloc, because the
question is what the machine must hold, and ``implicit`` allocates outside Python.

A run over ``--cap-s`` seconds is stopped and recorded as over the cap with the steps it finished;
a bigger size is then not run (time grows at least in proportion to the interactions), nor is one
whose previous size times the growth in interactions already exceeds the cap. A model the memory
guard refuses is recorded with the guard's message: that refusal is the feature under test.

    nice -n 15 python 2-recommendation-system/benchmarks/bench_scale.py --memory-budget-gib 8
    python 2-recommendation-system/benchmarks/bench_scale.py --sizes tiny --out /tmp/scale.json

Writes outputs/benchmarks/bench_scale.json and bench_scale.png (time and peak memory against
interactions, log-log, one line per model).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp

from mlshared.run import write_metrics_json
from recsys.splitting import split_per_user

PROJECT = Path(__file__).resolve().parents[1]
OUT = PROJECT / "outputs" / "benchmarks"
K = 10
GIB = 1024**3


@dataclass(frozen=True)
class Size:
    """One synthetic dataset: about MovieLens's ratio of interactions to users at each size."""

    interactions: int
    users: int
    items: int


SIZES = {
    "tiny": Size(20_000, 400, 500),
    "100K": Size(100_000, 1_000, 2_000),
    "1M": Size(1_000_000, 8_000, 4_000),
    "10M": Size(10_000_000, 80_000, 12_000),
    "25M": Size(25_000_000, 160_000, 20_000),
}
DEFAULT_SIZES = ("100K", "1M", "10M", "25M")
DEFAULT_MODELS = (
    "Random", "MostPopular", "EASE", "ALS", "BPR", "ImplicitBPR", "ItemKNN", "RP3beta",
)  # fmt: skip
# Whom each model's paired comparison is with (the baselines run first): MostPopular, except
# for the baselines themselves.
REFERENCE = {"Random": None, "MostPopular": "Random"}


def synthetic_interactions(size: Size, seed: int = 0, exponent: float = 1.0) -> pd.DataFrame:
    """Exactly ``size.interactions`` distinct (user, item) pairs with power-law item popularity.

    The project's ``synthetic_movielens`` holds a dense users x items matrix of logits (26 GB at
    the top size), so this is a separate, sparse generator. The item of popularity rank r is drawn
    with weight (r + 10)^-exponent (Zipf with a flattened head); items fall into 20 taste groups
    and each user draws half of their items from a favourite group (by popularity within it), so
    personalised models have something to find beyond popularity. User activity is log-normal
    (sigma 1), at least 5 and at most a third of the catalogue.
    """
    rng = np.random.default_rng(seed)
    n_users, n_items, n_groups = size.users, size.items, 20
    weight = (rng.permutation(n_items) + 10.0) ** -exponent  # popularity rank -> weight
    group = rng.integers(0, n_groups, n_items)
    by_group = np.argsort(group, kind="stable")  # items laid out group after group
    within = np.cumsum(weight[by_group])
    starts = np.searchsorted(group[by_group], np.arange(n_groups))
    offset = np.r_[0.0, within][starts]  # weight before each group
    total = np.r_[within[starts[1:] - 1], within[-1]] - offset  # each group's weight
    group_cdf = group[by_group] + (within - offset[group[by_group]]) / total[group[by_group]]
    global_cdf = np.cumsum(weight) / weight.sum()
    favourite = rng.integers(0, n_groups, n_users)
    activity = rng.lognormal(0.0, 1.0, n_users)
    activity = np.clip(activity / activity.sum() * size.interactions, 5, n_items // 3)
    user_p = activity / activity.sum()
    keys, new_share = np.empty(0, dtype=np.int64), 0.5
    while keys.size < size.interactions:  # draw with replacement, keep distinct pairs, top up
        m = int(1.2 * (size.interactions - keys.size) / new_share) + 100
        users = rng.choice(n_users, size=m, p=user_p)
        u01 = rng.random(m)
        liked = rng.random(m) < 0.5
        items = np.minimum(np.searchsorted(global_cdf, u01), n_items - 1)
        pos = np.searchsorted(group_cdf, favourite[users[liked]] + u01[liked])
        items[liked] = by_group[np.minimum(pos, n_items - 1)]
        merged = np.concatenate([keys, users.astype(np.int64) * n_items + items])
        merged.sort()  # sort-based distinct: NumPy 2.4's hash-based np.unique is far slower here
        distinct = merged[np.r_[True, merged[1:] != merged[:-1]]]
        new_share = max((distinct.size - keys.size) / m, 0.01)
        keys = distinct
    keys = np.sort(rng.choice(keys, size=size.interactions, replace=False))
    return pd.DataFrame({"user": keys // n_items, "item": keys % n_items, "rating": 1.0})


def prepare(size_name: str, workdir: Path, seed: int = 0) -> dict[str, Any]:
    """Generate one size, split it as the project does (per user 75/25, seed 42), save both sides."""
    size = SIZES[size_name]
    start = time.perf_counter()
    ratings = synthetic_interactions(size, seed)
    split = split_per_user(ratings, size.users, size.items, 0.75, "random", 42)
    train, relevance = split.train_matrix(), split.relevance()
    folder = workdir / size_name
    folder.mkdir(parents=True, exist_ok=True)
    sp.save_npz(folder / "train.npz", train, compressed=False)
    sp.save_npz(folder / "relevance.npz", relevance, compressed=False)
    counts = np.sort(np.bincount(ratings["item"].to_numpy(), minlength=size.items))[::-1]
    top = max(1, size.items // 100)
    return {
        "interactions": size.interactions,
        "users": size.users,
        "items": size.items,
        "train_interactions": int(train.nnz),
        "test_interactions": int(relevance.nnz),
        "evaluated_users": int(np.count_nonzero(np.diff(relevance.indptr))),
        "density": size.interactions / (size.users * size.items),
        "top_1pct_items_share": float(counts[:top].sum() / counts.sum()),
        "prepare_seconds": time.perf_counter() - start,
    }


# ------------------------------------------------------------------ one run, in its own process


def _reset_peak_rss() -> bool:
    """Reset the process's RSS high-water mark (Linux 4.0+); False where that is not possible."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def _peak_rss_mib() -> float:
    """This process's RSS high-water mark: VmHWM where /proc has it, else ``ru_maxrss``."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024**2 if sys.platform == "darwin" else peak / 1024  # bytes there, KiB here


@contextlib.contextmanager
def _step(record: dict[str, Any], name: str, result_path: Path) -> Iterator[None]:
    """Time one step and record its peak RSS; save the record so a killed run keeps its steps."""
    reset = _reset_peak_rss()
    start = time.perf_counter()
    yield
    record["steps"][name] = {
        "seconds": time.perf_counter() - start,
        "peak_rss_mib": _peak_rss_mib(),
        "peak_since": "step start" if reset else "process start",
    }
    result_path.write_text(json.dumps(record))


def run_job(job: dict[str, Any]) -> None:
    """Load one size, then fit, score, evaluate and compare one model; results go to job['result']."""
    from mlshared.ranking_metrics import ranking_report
    from recsys.comparison import compare_pair
    from recsys.evaluation import evaluable_users
    from recsys.models.memory import InsufficientMemoryError, available_memory_bytes
    from recsys.models.registry import make_model

    result_path, folder = Path(job["result"]), Path(job["data"])
    record: dict[str, Any] = {"status": "started", "steps": {}}
    with _step(record, "load", result_path):
        train = sp.load_npz(folder / "train.npz").tocsr()
        relevance = sp.load_npz(folder / "relevance.npz").tocsr()
        users = evaluable_users(relevance)
    model = make_model(job["model"], pd.DataFrame())
    if job["memory_limit"] is not None:  # a budget, but never more than the machine has free
        free = available_memory_bytes()
        model.memory_limit = job["memory_limit"] if free is None else min(job["memory_limit"], free)
    record |= {"model": repr(model), "memory_limit": model.memory_limit}
    try:
        with _step(record, "fit", result_path):
            model.fit(train)
    except InsufficientMemoryError as refusal:
        record |= {"status": "refused", "message": str(refusal)}
        result_path.write_text(json.dumps(record))
        return
    with _step(record, "score", result_path):
        recs = model.recommend(users, K, exclude=train)
    with _step(record, "evaluate", result_path):
        per_user = ranking_report(recs, relevance[users], K)
        record["metrics"] = {
            m: float(per_user[f"{m}@{K}"].mean()) for m in ("ndcg", "precision", "recall")
        }
    np.save(folder / f"{job['model']}.ndcg.npy", per_user[f"ndcg@{K}"])
    reference = folder / f"{job['reference']}.ndcg.npy"
    if job["reference"] and reference.is_file():
        with _step(record, "compare", result_path):
            row = compare_pair(per_user[f"ndcg@{K}"], np.load(reference))
        record["comparison"] = {"reference": job["reference"], "metric": f"ndcg@{K}"} | row
    elif job["reference"]:
        record["comparison"] = {"reference": job["reference"], "skipped": "no reference run"}
    record["status"] = "ok"
    result_path.write_text(json.dumps(record))


# ------------------------------------------------------------------ the driver


def run_isolated(command: Sequence[str], result_path: Path, cap_s: float) -> dict[str, Any]:
    """Run one job's process under the time cap; its record, whatever became of it."""
    start = time.perf_counter()
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=cap_s)
    except subprocess.TimeoutExpired:
        outcome: dict[str, Any] = {"status": f"over the cap: stopped after {cap_s:.0f} s"}
    else:
        outcome = {"status": "crashed", "returncode": done.returncode}
        if done.returncode != 0:
            outcome["stderr_tail"] = done.stderr[-2000:]
    record = json.loads(result_path.read_text()) if result_path.is_file() else {"steps": {}}
    if record.get("status") in {"ok", "refused"}:
        outcome = {}
    return record | outcome | {"wall_seconds": time.perf_counter() - start}


def work_seconds(record: dict[str, Any]) -> float:
    """Seconds of the steps that grow with the data (everything but loading it)."""
    return sum(s["seconds"] for name, s in record.get("steps", {}).items() if name != "load")


def skip_reason(previous: dict[str, Any] | None, growth: float, cap_s: float) -> str | None:
    """Why a model is not run at the next size: it was over the cap, or would be by extrapolation.

    Every model here reads every interaction and scores users x items, so its time grows at
    least in proportion to the interactions.
    """
    if previous is None:
        return None
    if str(previous["status"]).startswith(("over the cap", "not run")):
        return f"not run: over the cap at {previous['size']}"
    predicted = work_seconds(previous) * growth
    if previous["status"] == "ok" and predicted > cap_s:
        return (
            f"not run: over the cap (at least {predicted:.0f} s predicted from "
            f"{work_seconds(previous):.0f} s at {previous['size']} x {growth:g} the interactions)"
        )
    return None


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default=",".join(DEFAULT_SIZES), help=f"of {', '.join(SIZES)}")
    parser.add_argument("--models", default=",".join(DEFAULT_MODELS))
    parser.add_argument("--cap-s", type=float, default=3600.0, help="time cap per (size, model)")
    parser.add_argument(
        "--memory-budget-gib", type=float, default=None,
        help="cap on each model's memory_limit (default: the memory the machine has available)",
    )  # fmt: skip
    parser.add_argument("--note", default="", help="what the JSON should say about the machine")
    parser.add_argument("--out", type=Path, default=OUT / "bench_scale.json")
    parser.add_argument(
        "--workdir", type=Path, default=None, help="data files (default: a temp dir)"
    )
    parser.add_argument("--job", type=Path, help=argparse.SUPPRESS)  # internal: one run
    args = parser.parse_args(argv)
    if args.job:
        run_job(json.loads(args.job.read_text()))
        return args.job
    sizes, models = args.sizes.split(","), args.models.split(",")
    unknown = [s for s in sizes if s not in SIZES]
    if unknown:
        parser.error(f"unknown size(s) {', '.join(unknown)}; choose from {', '.join(SIZES)}")
    budget = None if args.memory_budget_gib is None else int(args.memory_budget_gib * GIB)
    with tempfile.TemporaryDirectory(prefix="bench_scale_") as tmp:
        workdir = args.workdir or Path(tmp)
        report = run_all(sizes, models, args.cap_s, budget, workdir, args.out, args.note)
    plot(report, args.out.with_suffix(".png"))
    print(markdown_table(report))
    print(f"wrote {args.out} and {args.out.with_suffix('.png')}")
    return args.out


def run_context(note: str = "") -> dict[str, Any]:
    """The command line and the machine's state, for a benchmark JSON (shared with
    bench_spark_als.py)."""
    return {
        "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]]),
        "machine": {
            "cpu_count": os.cpu_count(),
            "nice": os.nice(0),
            "load_average_1m_at_start": os.getloadavg()[0],
            "note": note,
        },
    }


def run_all(
    sizes: Sequence[str],
    models: Sequence[str],
    cap_s: float,
    budget: int | None,
    workdir: Path,
    out: Path,
    note: str = "",
) -> dict[str, Any]:
    """Every (size, model) in order, the JSON rewritten after each so a long run can be watched."""
    context = run_context(note) | {
        "cap_s": cap_s,
        "memory_budget_bytes": budget,
        "peak_memory": "peak RSS (VmHWM) of each step, reset at the step's start (Linux "
        "clear_refs); the process runs only that (size, model)",
    }
    report: dict[str, Any] = {"sizes": {}, "runs": []}
    last: dict[str, dict[str, Any]] = {}
    for i, size_name in enumerate(sizes):
        print(f"== {size_name}: generating", flush=True)
        report["sizes"][size_name] = prepare(size_name, workdir)
        growth = SIZES[size_name].interactions / SIZES[sizes[i - 1]].interactions if i else 1.0
        for name in models:
            reason = skip_reason(last.get(name), growth, cap_s)
            if reason:
                record: dict[str, Any] = {"status": reason, "steps": {}}
            else:
                result = workdir / size_name / f"{name}.json"
                job = {
                    "data": str(workdir / size_name),
                    "model": name,
                    "reference": REFERENCE.get(name, "MostPopular"),
                    "memory_limit": budget,
                    "result": str(result),
                }
                job_path = workdir / size_name / f"{name}.job.json"
                job_path.write_text(json.dumps(job))
                command = [sys.executable, str(Path(__file__).resolve()), "--job", str(job_path)]
                load = os.getloadavg()[0]
                record = run_isolated(command, result, cap_s) | {"load_average_1m": load}
            record |= {"size": size_name, "name": name}
            last[name] = record
            report["runs"].append(record)
            print(f"{size_name:>5} {name:12s} {record['status'][:60]:60s} "
                  f"{work_seconds(record):8.1f} s", flush=True)  # fmt: skip
            context["machine"]["load_average_1m_at_end"] = os.getloadavg()[0]
            write_metrics_json(out, report, **context)
    return report


def _seconds(value: float) -> str:
    return "<0.01" if value < 0.005 else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def markdown_table(report: dict[str, Any]) -> str:
    """The README's scale table: one row per (size, model), what stopped a run in its place."""
    lines = [
        "| interactions | model | fit (s) | score all users (s) | evaluate + compare (s) "
        "| peak RSS (GiB) | NDCG@10 | NDCG@10 − reference [95% CI] |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in report["runs"]:
        steps = r["steps"]
        if r["status"] != "ok":
            why = r.get("message", r["status"]).split(". ")[0]  # the refusal's first sentence
            lines.append(f"| {r['size']} | {r['name']} | {why} | | | | | |")
            continue
        seconds = {name: _seconds(step["seconds"]) for name, step in steps.items()}
        evaluate = steps["evaluate"]["seconds"] + steps.get("compare", {}).get("seconds", 0.0)
        peak = max(step["peak_rss_mib"] for step in steps.values()) / 1024
        c = r.get("comparison", {})
        vs = (
            f"{c['diff']:+.3f} [{c['ci_low']:+.3f}, {c['ci_high']:+.3f}] vs {c['reference']}"
            if "diff" in c
            else "–"
        )
        lines.append(
            f"| {r['size']} | {r['name']} | {seconds['fit']} | {seconds['score']} | "
            f"{_seconds(evaluate)} | {peak:.2f} | {r['metrics']['ndcg']:.3f} | {vs} |"
        )
    return "\n".join(lines)


def plot(report: dict[str, Any], path: Path) -> Path:
    """Work time and peak memory against interactions, log-log, one line per model."""
    import matplotlib.pyplot as plt

    from mlshared.plotting import apply_style, save_figure

    apply_style()
    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    for name in dict.fromkeys(r["name"] for r in report["runs"]):
        runs = [r for r in report["runs"] if r["name"] == name]
        done = [r for r in runs if r["status"] == "ok"]
        notes = [f"{r['status'].split(':')[0]} at {r['size']}" for r in runs if r["status"] != "ok"]
        label = name + (f" ({notes[0]})" if notes else "")
        x = [report["sizes"][r["size"]]["interactions"] for r in done]
        peak = [max(s["peak_rss_mib"] for s in r["steps"].values()) / 1024 for r in done]
        (line,) = ax_time.plot(x, [work_seconds(r) for r in done], marker="o", label=label)
        ax_mem.plot(x, peak, marker="o", color=line.get_color())
    for ax, ylabel in ((ax_time, "fit + scoring + evaluation (s)"), (ax_mem, "peak RSS (GiB)")):
        ax.set(xscale="log", yscale="log", xlabel="interactions", ylabel=ylabel)
    ax_time.set_title("Time")
    ax_mem.set_title("Peak memory of the largest step")
    fig.legend(loc="center left", bbox_to_anchor=(1.0, 0.5))
    fig.tight_layout()
    saved = save_figure(fig, path.parent, path.name)
    plt.close(fig)
    return saved


if __name__ == "__main__":
    main()
