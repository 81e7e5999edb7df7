"""CPU inference benchmark: throughput and latency of each member and of the ensemble, fp32
and dynamic int8, against a plain ``transformers.pipeline("text-classification")`` on the same
model and texts, in one run; plus single-text latency through the whole ensemble, the app's
first-result time after loading, and peak memory. Writes outputs/benchmarks/bench_inference.json.

    python benchmarks/bench_inference.py [--models models] [--n 64]

Uses the trained artifacts in --models (the cpu recipe's MiniLM member) when they hold a
transformer; otherwise TRANSFORMER_MODEL (or the offline MiniLM) with an untrained head, which
times the same computation (speed does not depend on the weights' values).
"""

from __future__ import annotations

import argparse
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from misinfo.detector import load_detector
from misinfo.models import MemberKind
from misinfo.recipes import OFFLINE_MINILM
from misinfo.transformer import (
    TransformerClassifier,
    quantize_dynamic_int8,
    resolve_model,
)

PROJECT = Path(__file__).resolve().parents[1]

MAX_LENGTH = 256


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (Linux ru_maxrss is in KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def throughput(fn: Any, texts: list[str], repeats: int = 1) -> dict[str, float]:
    """texts/s of one batch call over all texts (after one warm-up call on a few texts)."""
    fn(texts[:4])
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(texts)
        times.append(time.perf_counter() - t0)
    best = min(times)
    return {"texts_per_s": len(texts) / best, "seconds": best, "n_texts": len(texts)}


def latency(fn: Any, text: str, runs: int = 15) -> dict[str, float]:
    """Single-text latency: median and p95 over runs (after a warm-up)."""
    fn([text])
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn([text])
        times.append(time.perf_counter() - t0)
    return {
        "median_s": statistics.median(times),
        "p95_s": float(np.quantile(times, 0.95)),
        "runs": runs,
    }


def load_texts(n: int) -> tuple[list[str], list[str], str]:
    """Short texts (LIAR test statements if LIAR_PATH is set, else synthetic) and long texts
    (statements joined until each exceeds 256 tokens, so truncation at 256 is exercised)."""
    import os

    if os.environ.get("LIAR_PATH"):
        from misinfo.data import load_liar

        pool = load_liar(os.environ["LIAR_PATH"])["test"]["text"].tolist()
        source = "LIAR test statements"
    else:
        from misinfo.data import synthetic_corpus

        pool = synthetic_corpus(max(4 * n, 400), seed=1)["text"].tolist()
        source = "synthetic corpus"
    rng = np.random.default_rng(0)
    short = [pool[i] for i in rng.choice(len(pool), n, replace=False)]
    long = []
    for _ in range(n):
        parts: list[str] = []
        while len(" ".join(parts).split()) < 260:
            parts.append(pool[int(rng.integers(len(pool)))])
        long.append(" ".join(parts))
    return short, long, source


def main(argv: list[str] | None = None) -> int:
    """Run every measurement once and write the JSON."""
    import os

    import torch

    from mlshared.run import write_metrics_json

    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--models", default=os.environ.get("MISINFO_MODELS_DIR", str(PROJECT / "models"))
    )
    parser.add_argument("--n", type=int, default=64, help="texts per throughput measurement")
    parser.add_argument(
        "--threads", type=int, default=None, help="torch threads (default: torch's)"
    )
    parser.add_argument(
        "--out", default=str(PROJECT / "outputs" / "benchmarks" / "bench_inference.json")
    )
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results: dict[str, Any] = {"max_length": MAX_LENGTH, "torch_threads": torch.get_num_threads()}
    short, long, source = load_texts(args.n)
    results["texts"] = {
        "source": source,
        "n": args.n,
        "long_texts": "statements joined to >= 260 words (truncated at 256 tokens)",
    }

    models = Path(args.models)
    tmp = None
    if not (models / "manifest.json").is_file():
        from misinfo.train import train

        tmp = tempfile.TemporaryDirectory()
        models = Path(tmp.name) / "m"
        train("quick", "synthetic", models, log=None)
        results["artifacts"] = "quick recipe on the synthetic corpus (no trained models found)"
    else:
        results["artifacts"] = str(models)

    # --- the app's path (as app.py loads): load + warm-up, then the first result for one text
    t0 = time.perf_counter()
    detector = load_detector(models)
    load_s = time.perf_counter() - t0
    from misinfo.features import text_features

    steps = {}
    for step, fn in (
        ("predict", lambda: detector.predict([short[0]])),
        ("explain", lambda: detector.explain(short[0])),
        ("token_attributions", lambda: detector.token_attributions(short[0])),
        ("text_features", lambda: text_features([short[0]])),
    ):
        t0 = time.perf_counter()
        fn()
        steps[step] = time.perf_counter() - t0
    results["app_path"] = {
        "load_s (includes warm-up)": load_s,
        "first_result_s": sum(steps.values()),
        "first_result_steps_s": steps,
        "members": detector.member_names,
        "trained_max_length": detector.manifest.max_length,
    }
    # everything below runs the transformer at MAX_LENGTH tokens, whatever it was trained with
    detector = load_detector(models, max_length=MAX_LENGTH)

    transformer_name = next(
        (m for m in detector.member_names if detector.members[m].kind is MemberKind.TRANSFORMER),
        None,
    )
    if transformer_name is not None:
        tdir = models / detector.manifest.member_paths[transformer_name]
        transformer = TransformerClassifier.load(tdir, name=transformer_name, max_length=MAX_LENGTH)
        results["transformer"] = {
            "member": transformer_name,
            "weights": "trained (artifacts)",
            "path": str(tdir),
        }
    else:
        default = resolve_model(os.environ.get("TRANSFORMER_MODEL") or OFFLINE_MINILM)
        transformer = TransformerClassifier(default, max_length=MAX_LENGTH)
        transformer._init_model()
        transformer.model.eval()
        tdir = Path(default)
        results["transformer"] = {
            "member": "transformer",
            "weights": "pretrained body, untrained head",
            "path": default,
        }
    transformer.eval_batch_size = 16

    members: dict[str, Any] = {}
    for name, member in detector.members.items():
        if member.kind is not MemberKind.TRANSFORMER:
            members[name] = member.decision_function
    members["transformer_fp32"] = transformer.decision_function
    int8 = TransformerClassifier(str(tdir), max_length=MAX_LENGTH)
    int8.tokenizer, int8.model, int8.quantized = (
        transformer.tokenizer,
        quantize_dynamic_int8(_copy_model(transformer.model)),
        True,
    )
    int8.eval_batch_size = 16
    members["transformer_int8"] = int8.decision_function

    from transformers import pipeline

    pipe = pipeline(
        "text-classification",
        model=transformer.model,
        tokenizer=transformer.tokenizer,
        device=-1,
        truncation=True,
        max_length=MAX_LENGTH,
    )
    members["hf_pipeline_fp32"] = lambda texts: pipe(texts, batch_size=16)

    for length_name, texts in (("short", short), ("long_256", long)):
        table = {}
        for name, fn in members.items():
            table[name] = throughput(fn, texts)
            print(
                f"{length_name:9s} {name:18s} {table[name]['texts_per_s']:8.1f} texts/s", flush=True
            )
        results[f"throughput_{length_name}"] = table
        ours, ref = (
            table["transformer_fp32"]["texts_per_s"],
            table["hf_pipeline_fp32"]["texts_per_s"],
        )
        results[f"ratio_ours_vs_pipeline_{length_name}"] = ours / ref
        results[f"ratio_int8_vs_fp32_{length_name}"] = (
            table["transformer_int8"]["texts_per_s"] / ours
        )

    # whole ensemble through the Detector (what the app and batch CLI call), fp32 and int8
    det_int8 = load_detector(models, quantize_int8=True, max_length=MAX_LENGTH)
    for tag, det in (("fp32", detector), ("int8", det_int8)):
        results[f"ensemble_{tag}"] = {
            "throughput_short": throughput(det.predict, short),
            "throughput_long_256": throughput(det.predict, long),
            "single_text_latency_short": latency(det.predict, short[1]),
            "single_text_latency_long_256": latency(det.predict, long[1]),
        }
        print(tag, results[f"ensemble_{tag}"]["single_text_latency_long_256"], flush=True)
    results["peak_rss_mb"] = peak_rss_mb()
    targets = {
        "int8_transformer_long_256_texts_per_s >= 8 (DistilBERT-size target; measured on MiniLM-L6, a smaller model)": results[
            "throughput_long_256"
        ]["transformer_int8"]["texts_per_s"]
        >= 8,
        "single text through the whole ensemble < 0.5 s (long, fp32)": results["ensemble_fp32"][
            "single_text_latency_long_256"
        ]["median_s"]
        < 0.5,
        "peak memory < 1.5 GB": results["peak_rss_mb"] < 1536,
        "app first result < 1 s after load": results["app_path"]["first_result_s"] < 1.0,
    }
    results["targets_met"] = targets
    path = write_metrics_json(args.out, results, benchmark="bench_inference")
    print("wrote", path)
    if tmp is not None:
        tmp.cleanup()
    return 0


def _copy_model(model: Any) -> Any:
    import copy

    return copy.deepcopy(model)


if __name__ == "__main__":
    sys.exit(main())
