"""Speed benchmark: model fit times, metric computation vs ranx and recommenders, permutation test.

Run from the repository root (``make bench``) or anywhere:
    MOVIELENS_PATH=/path/to/ml-100k python 2-recommendation-system/benchmarks/bench_recsys.py
Writes 2-recommendation-system/outputs/benchmarks/bench_recsys.json. Without MOVIELENS_PATH the
checksummed GroupLens zip is downloaded; ``--synthetic`` uses generated data instead (no network).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from mlshared.ranking_metrics import catalogue_coverage, novelty, ranking_report
from mlshared.run import write_metrics_json
from mlshared.statistics import paired_permutation_test
from recsys.data import load_movielens, synthetic_movielens
from recsys.evaluation import evaluable_users, item_popularity
from recsys.models.ease import EASE
from recsys.models.registry import make_model
from recsys.recipes import GRIDS
from recsys.splitting import split_per_user

PROJECT = Path(__file__).resolve().parents[1]
K = 10


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    """Median wall time of ``repeats`` calls (seconds) and all the samples."""
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    return statistics.median(samples), samples


def tuned_params() -> dict[str, dict]:
    """Parameters chosen on validation by the last real run, else each grid's first point.

    A model the last run did not have (a new baseline) gets its grid's first point.
    """
    path = PROJECT / "outputs" / "metrics.json"
    saved = json.loads(path.read_text())["metrics"]["best_params"] if path.is_file() else {}
    return {
        name: saved.get(name, {p: v[0] for p, v in grid.items()}) for name, grid in GRIDS.items()
    }


def all_metrics(recs: np.ndarray, relevance, pop: np.ndarray, n_items: int) -> dict:
    """Everything the notebook reports per user: P, R, NDCG, MAP, hit rate, MRR, novelty, coverage."""
    out = ranking_report(recs, relevance, K)
    out["novelty"] = novelty(recs, pop)
    out["coverage"] = catalogue_coverage(recs, n_items)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--synthetic", action="store_true", help="generated data, no download")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = (
        synthetic_movielens(943, 1682, seed=0)
        if args.synthetic
        else load_movielens(os.environ.get("MOVIELENS_PATH"))
    )
    split = split_per_user(data.ratings, data.n_users, data.n_items, seed=42)
    train, relevance = split.train_matrix(), split.relevance()
    users = evaluable_users(relevance)
    params = tuned_params()
    report: dict[str, object] = {"dataset": data.name, "users": int(users.size), "k": K}
    # The machine may be shared: record how busy it was, so slow numbers can be read in context.
    report["load_average_1m_at_start"] = os.getloadavg()[0]

    fits = {}
    ease_l2 = float(params.get("EASE", {}).get("l2", 500.0))
    for name in GRIDS:

        def fit(name: str = name) -> None:  # a fresh model each time: the hybrid's EASE included
            make_model(name, data.items, ease=EASE(l2=ease_l2), **params[name]).fit(train)

        median, samples = timed(fit, max(2, args.repeats // 2))
        fits[name] = {"median_s": median, "samples_s": samples, "params": params[name]}
        print(f"fit {name:12s} {median:6.2f} s")
    report["fit_seconds"] = fits
    report["fit_target_s"] = 5.0
    report["all_fit_within_target"] = all(f["median_s"] <= 5.0 for f in fits.values())

    ease = make_model("EASE", data.items, **params["EASE"]).fit(train)
    recs = ease.recommend(users, K, exclude=train)
    rel = relevance[users]
    pop = item_popularity(train)
    ours, _ = timed(lambda: all_metrics(recs, rel, pop, data.n_items), 20)
    report["metrics_ours_ms"] = ours * 1e3
    print(f"all metrics, all users (ours): {ours * 1e3:.2f} ms")

    import ranx

    qrels = ranx.Qrels(
        {str(u): {str(i): float(v) for i, v in zip(rel[r].indices, rel[r].data, strict=True)}
         for r, u in enumerate(users)}
    )  # fmt: skip
    run = ranx.Run(
        {
            str(u): {str(i): float(K - j) for j, i in enumerate(recs[r]) if i >= 0}
            for r, u in enumerate(users)
        }
    )
    names = [f"{m}@{K}" for m in ("precision", "recall", "ndcg", "map", "hit_rate", "mrr")]
    ranx.evaluate(qrels, run, names)  # numba JIT warm-up, not timed
    ranx_s, _ = timed(lambda: ranx.evaluate(qrels, run, names), 10)
    report["metrics_ranx_ms"] = ranx_s * 1e3
    report["ranx_over_ours"] = ranx_s / ours
    print(
        f"ranx (prebuilt Qrels/Run, JIT warm): {ranx_s * 1e3:.2f} ms -> {ranx_s / ours:.1f}x ours"
    )

    try:
        import pandas as pd
        from recommenders.evaluation import python_evaluation as pe
    except ImportError:  # pragma: no cover - optional peer
        report["metrics_recommenders_ms"] = None
        print("recommenders not installed: pip install --no-deps recommenders")
    else:
        uu, ii = rel.nonzero()
        truth = pd.DataFrame({"userID": users[uu], "itemID": ii, "rating": rel.data})
        rows = [
            (u, i, float(K - j))
            for r, u in enumerate(users)
            for j, i in enumerate(recs[r])
            if i >= 0
        ]
        pred = pd.DataFrame(rows, columns=["userID", "itemID", "prediction"])

        def recommenders_metrics() -> None:
            for fn in (pe.precision_at_k, pe.recall_at_k, pe.ndcg_at_k, pe.map_at_k):
                fn(truth, pred, k=K)

        rec_s, _ = timed(recommenders_metrics, 3)
        report["metrics_recommenders_ms"] = rec_s * 1e3
        report["recommenders_over_ours"] = rec_s / ours
        print(
            f"recommenders (pandas, P/R/NDCG/MAP only): {rec_s * 1e3:.1f} ms -> {rec_s / ours:.1f}x ours"
        )
    report["metrics_target"] = {"max_ms": 20.0, "min_speedup_vs_recommenders": 10.0}

    als = make_model("ALS", data.items, **params["ALS"]).fit(train)
    ndcg_ease = ranking_report(recs, rel, K)[f"ndcg@{K}"]
    ndcg_als = ranking_report(als.recommend(users, K, exclude=train), rel, K)[f"ndcg@{K}"]
    perm_s, _ = timed(lambda: paired_permutation_test(ndcg_ease, ndcg_als, 10_000), 5)
    report["permutation_test_10k_s"] = perm_s
    report["permutation_target_s"] = 2.0
    print(f"randomisation test, 10,000 permutations, {users.size} users: {perm_s:.3f} s")

    report["load_average_1m_at_end"] = os.getloadavg()[0]
    out = write_metrics_json(PROJECT / "outputs" / "benchmarks" / "bench_recsys.json", report)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
