"""Cleaning that is shown, not hidden: every step returns counts for the README.

- agency datelines and tags ("WASHINGTON (Reuters) - ", "(AP)", "Featured image via ...")
  are stripped because in ISOT they alone separate the classes;
- metadata columns that leak the label (subject, date, speaker history...) are dropped from
  model inputs;
- exact and near duplicates are removed within each split and across splits (a test text that
  also sits in train inflates test scores).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from misinfo.data import Splits

# (name, pattern) pairs; order matters (dateline before bare tag).
DATELINE_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "dateline_agency",
        re.compile(
            # a title-case place at the very start, or an ALL-CAPS place anywhere (ISOT puts
            # the title before the body, so "Title. WASHINGTON (Reuters) - ..." is common)
            r"(?:^\s*[A-Z][A-Za-z.'\-]*(?:[ ,/]+[A-Z][A-Za-z.'\-]*)*\s*"
            r"|\b[A-Z][A-Z.'\-]+(?:[ ,/]+[A-Z][A-Z.'\-]+)*\s*)?"
            r"\((?:Reuters|AP|AFP|CNN|Bloomberg|UPI)\)\s*[-\u2013\u2014:]*\s*"
        ),
    ),
    ("agency_tag", re.compile(r"\((?:Reuters|AP|AFP|Bloomberg|UPI)\)\s*[-\u2013\u2014]?\s*")),
    (
        "featured_image",
        re.compile(
            r"(?:Featured|Photo|Image|Header)\s+image\s+(?:via|by|credit)[^\n]*$", re.I | re.M
        ),
    ),
    ("image_via", re.compile(r"\b(?:Image|Photo)s?\s+(?:via|by|credit:)\s+[^\n.]*\.?", re.I)),
    ("twitter_pic", re.compile(r"pic\.twitter\.com/\S+")),
    ("url", re.compile(r"https?://\S+|www\.\S+")),
    ("wire_says", re.compile(r"^\s*\d*\s*(?:21st Century Wire|21WIRE)\s+says\s*", re.I)),
]

LEAKY_COLUMNS: list[str] = [
    # ISOT / WELFake
    "subject",
    "date",
    "title",
    # LIAR metadata: speaker history counts include the statement's own label
    "speaker",
    "speaker_job",
    "state",
    "party",
    "context",
    "barely_true_count",
    "false_count",
    "half_true_count",
    "mostly_true_count",
    "pants_on_fire_count",
    "label6",
    "id",
]

_NORMALISE = re.compile(r"[^a-z0-9]+")


def strip_datelines(text: str, counts: dict[str, int] | None = None) -> str:
    """Remove agency datelines/tags and image credits; ``counts`` (if given) tallies per pattern."""
    out = text
    for name, pattern in DATELINE_PATTERNS:
        out, n = pattern.subn(" ", out)
        if counts is not None and n:
            counts[name] = counts.get(name, 0) + 1
    return re.sub(r"\s+", " ", out).strip()


def normalise_for_dedup(text: str) -> str:
    """Case, punctuation and whitespace removed: texts equal under this are near duplicates."""
    return _NORMALISE.sub(" ", text.lower()).strip()


@dataclass
class CleaningReport:
    """Counts for every cleaning step, per split, so the README can show them."""

    rows_in: dict[str, int] = field(default_factory=dict)
    dateline_hits: dict[str, dict[str, int]] = field(default_factory=dict)
    dropped_columns: list[str] = field(default_factory=list)
    empty_removed: dict[str, int] = field(default_factory=dict)
    exact_dupes_within: dict[str, int] = field(default_factory=dict)
    near_dupes_within: dict[str, int] = field(default_factory=dict)
    dupes_across: dict[str, int] = field(default_factory=dict)
    conflicting_label_groups: dict[str, int] = field(default_factory=dict)
    rows_out: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON / the manifest."""
        return dict(self.__dict__)

    def table(self) -> pd.DataFrame:
        """One row per split, one column per count (dateline hits summed)."""
        rows = []
        for split in self.rows_in:
            rows.append(
                {
                    "split": split,
                    "rows_in": self.rows_in[split],
                    "datelines_stripped": sum(self.dateline_hits.get(split, {}).values()),
                    "empty_removed": self.empty_removed.get(split, 0),
                    "exact_dupes_within": self.exact_dupes_within.get(split, 0),
                    "near_dupes_within": self.near_dupes_within.get(split, 0),
                    "dupes_of_earlier_splits": self.dupes_across.get(split, 0),
                    "rows_out": self.rows_out.get(split, 0),
                }
            )
        return pd.DataFrame(rows).set_index("split")


def near_duplicate_pairs(
    texts_a: list[str],
    texts_b: list[str] | None = None,
    threshold: float = 0.9,
    block: int | None = None,
) -> list[tuple[int, int]]:
    """Pairs (i, j) whose word 1-2-gram TF-IDF cosine is >= threshold. Within one list
    (texts_b None) only i < j. Hashed features and blocked sparse products keep memory bounded
    on long-article corpora (ISOT's 40k articles have millions of distinct bigrams)."""
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer

    same = texts_b is None
    corpus = texts_a if texts_b is None else texts_a + list(texts_b)
    if not corpus:
        return []
    hashed = HashingVectorizer(
        ngram_range=(1, 2), n_features=2**20, alternate_sign=False, norm=None, dtype=np.float32
    ).transform(corpus)
    x = TfidfTransformer(sublinear_tf=True).fit_transform(hashed).astype(np.float32)
    xa = x[: len(texts_a)]
    xb = xa if same else x[len(texts_a) :]
    if block is None:
        block = int(np.clip(2e7 / max(xb.shape[0], 1), 100, 2000))
    pairs: list[tuple[int, int]] = []
    for start in range(0, xa.shape[0], block):
        sims = (xa[start : start + block] @ xb.T).tocoo()
        keep = sims.data >= threshold
        for i, j in zip(sims.row[keep] + start, sims.col[keep], strict=True):
            if same and j <= i:
                continue
            pairs.append((int(i), int(j)))
    return pairs


def _dedupe_within(df: pd.DataFrame, threshold: float) -> tuple[pd.DataFrame, int, int, int]:
    """Keep the first of each exact / near duplicate group; count conflicting-label groups."""
    exact_key = df["text"].str.strip()
    exact_mask = exact_key.duplicated(keep="first")
    n_exact = int(exact_mask.sum())
    conflicts = int((df.groupby(exact_key)["label"].nunique() > 1).sum())
    df = df[~exact_mask].reset_index(drop=True)
    norm = df["text"].map(normalise_for_dedup)
    norm_mask = norm.duplicated(keep="first")
    drop = set(np.flatnonzero(norm_mask.to_numpy()).tolist())
    if threshold < 1.0:
        for i, j in near_duplicate_pairs(df["text"].tolist(), threshold=threshold):
            if i not in drop:
                drop.add(j)
    keep = np.array([i not in drop for i in range(len(df))], dtype=bool)
    return df[keep].reset_index(drop=True), n_exact, len(drop), conflicts


def clean_splits(
    splits: Splits,
    strip: bool = True,
    near_threshold: float = 0.9,
    order: tuple[str, ...] = ("train", "valid", "test"),
) -> tuple[Splits, CleaningReport]:
    """Strip datelines, drop leaky columns, remove empty texts, then exact and near
    duplicates within each split and, for later splits, texts (near-)duplicating an earlier
    split (train wins, then valid), so evaluation never scores a text the model trained on."""
    report = CleaningReport()
    cleaned: Splits = {}
    for split in order:
        df = splits[split].copy()
        report.rows_in[split] = len(df)
        hits: dict[str, int] = {}
        if strip:
            df["text"] = [strip_datelines(str(t), hits) for t in df["text"]]
        else:
            df["text"] = df["text"].astype(str).str.strip()
        report.dateline_hits[split] = hits
        leaky = [c for c in df.columns if c in LEAKY_COLUMNS]
        report.dropped_columns = sorted(set(report.dropped_columns) | set(leaky))
        df = df[["text", "label"]]
        empty = df["text"].str.strip() == ""
        report.empty_removed[split] = int(empty.sum())
        df = df[~empty].reset_index(drop=True)
        df, n_exact, n_within, conflicts = _dedupe_within(df, near_threshold)
        report.exact_dupes_within[split] = n_exact
        report.near_dupes_within[split] = n_within
        report.conflicting_label_groups[split] = conflicts
        # across: drop rows matching any earlier (already cleaned) split
        earlier = [cleaned[s] for s in order if s in cleaned]
        n_across = 0
        if earlier:
            prev = pd.concat(earlier, ignore_index=True)
            prev_norm = set(prev["text"].map(normalise_for_dedup))
            mask = df["text"].map(normalise_for_dedup).isin(prev_norm).to_numpy().copy()
            if near_threshold < 1.0:
                for i, _ in near_duplicate_pairs(
                    df["text"].tolist(), prev["text"].tolist(), near_threshold
                ):
                    mask[i] = True
            n_across = int(mask.sum())
            df = df[~mask].reset_index(drop=True)
        report.dupes_across[split] = n_across
        report.rows_out[split] = len(df)
        cleaned[split] = df
    return cleaned, report
