"""Data loaders. Each returns ``{"train", "valid", "test"}`` DataFrames with a ``text`` column
and a ``label`` column in the package convention (1 = fake), plus any metadata columns the
source has (kept only so leak probes can use them; cleaning drops them from model inputs).

Hub loaders (ISOT, WELFake) are for Colab; every loader also reads local files.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import numpy as np
import pandas as pd

from misinfo.labels import FAKE, REAL, flip_if, liar_to_binary

Splits = dict[str, pd.DataFrame]

LIAR_COLUMNS: list[str] = [
    "id",
    "label6",
    "statement",
    "subject",
    "speaker",
    "speaker_job",
    "state",
    "party",
    "barely_true_count",
    "false_count",
    "half_true_count",
    "mostly_true_count",
    "pants_on_fire_count",
    "context",
]
LIAR_FILES = {"train": "train.tsv", "valid": "valid.tsv", "test": "test.tsv"}
ISOT_HF_NAME = "ErfanMoosaviMonazzah/fake-news-detection-dataset-English"
WELFAKE_HF_NAME = "davanstrien/WELFake"


def read_liar_tsv(path: str | Path) -> pd.DataFrame:
    """Read one official LIAR TSV (14 columns, no header). QUOTE_NONE matters: statements
    contain unbalanced quotes and the default parser silently merges rows."""
    path = Path(path)
    df = pd.read_csv(
        path,
        sep="\t",
        header=None,
        names=LIAR_COLUMNS,
        quoting=csv.QUOTE_NONE,
        dtype=str,
        keep_default_na=False,
        encoding="utf-8",
    )
    if df.shape[1] != len(LIAR_COLUMNS):
        raise ValueError(f"{path}: expected {len(LIAR_COLUMNS)} columns, got {df.shape[1]}")
    df["text"] = df["statement"].astype(str)
    df["label"] = [liar_to_binary(x) for x in df["label6"]]
    return df


def load_liar(path: str | Path) -> Splits:
    """LIAR binary (true/mostly-true/half-true = real, the rest = fake), official splits."""
    root = Path(path)
    missing = [f for f in LIAR_FILES.values() if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"LIAR folder {root} lacks {missing}. Download liar_dataset.zip from "
            "https://www.cs.ucsb.edu/~william/data/liar_dataset.zip, unzip it and set LIAR_PATH "
            "to the folder holding train.tsv, valid.tsv and test.tsv."
        )
    return {split: read_liar_tsv(root / name) for split, name in LIAR_FILES.items()}


def load_csv(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    fake_values: tuple[str, ...] = ("1", "fake", "false"),
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    title_column: str | None = None,
) -> Splits:
    """Any local CSV with a text and a label column; ``fake_values`` says which label values
    mean fake (compared as lower-case strings). Split stratified at random."""
    from sklearn.model_selection import train_test_split

    df = pd.read_csv(path, dtype=str, keep_default_na=False)
    for col in (text_column, label_column):
        if col not in df.columns:
            raise ValueError(f"{path}: no column {col!r}; columns are {list(df.columns)}")
    text = df[text_column].astype(str)
    if title_column:
        text = df[title_column].astype(str).str.strip() + ". " + text
    out = pd.DataFrame(
        {
            "text": text,
            "label": [
                FAKE if str(v).strip().lower() in {f.lower() for f in fake_values} else REAL
                for v in df[label_column]
            ],
        }
    )
    train, rest = train_test_split(
        out, test_size=valid_fraction + test_fraction, stratify=out["label"], random_state=seed
    )
    valid, test = train_test_split(
        rest,
        test_size=test_fraction / (valid_fraction + test_fraction),
        stratify=rest["label"],
        random_state=seed,
    )
    return {
        k: v.reset_index(drop=True)
        for k, v in {"train": train, "valid": valid, "test": test}.items()
    }


def load_isot_hf(name: str = ISOT_HF_NAME, cache_dir: str | None = None) -> Splits:
    """ISOT via the Hugging Face hub (train/validation/test; 0 = fake, 1 = real -> flipped).
    Keeps ``title``, ``subject`` and ``date`` so the leak probes can show what they give away;
    the model input is ``text`` only (title + body), cleaned later."""
    from datasets import load_dataset

    try:
        ds = load_dataset(name, cache_dir=cache_dir)
    except Exception as exc:
        raise RuntimeError(
            f"could not download {name} from https://huggingface.co/datasets/{name} ({exc}). "
            "Export it to CSV elsewhere and use load_csv / --data csv:PATH."
        ) from exc
    out: Splits = {}
    for split, key in (("train", "train"), ("valid", "validation"), ("test", "test")):
        df = ds[key].to_pandas()
        df["label"] = [flip_if(v, fake_value=0) for v in df["label"]]
        df["text"] = (df["title"].fillna("").str.strip() + ". " + df["text"].fillna("")).str.strip()
        out[split] = df.reset_index(drop=True)
    return out


_REUTERS = re.compile(r"\(Reuters\)")


def infer_fake_value_from_datelines(texts: pd.Series, raw_labels: pd.Series) -> int:
    """Which raw label value means fake, decided from the data: the class whose articles carry
    the "(Reuters)" dateline far more often is the real one (a check, since WELFake's card and
    paper disagree about the direction)."""
    has = texts.fillna("").str.contains(_REUTERS)
    rates = has.groupby(raw_labels.astype(int)).mean()
    if len(rates) != 2:
        raise ValueError(f"expected two label values, got {list(rates.index)}")
    real_value = int(rates.idxmax())
    return 1 - real_value


def load_welfake_hf(
    name: str = WELFAKE_HF_NAME,
    cache_dir: str | None = None,
    sample: int | None = 10_000,
    seed: int = 0,
) -> tuple[pd.DataFrame, dict[str, float]]:
    """WELFake (cross-dataset test only). Returns the frame and the label-direction check
    (Reuters-dateline rate per raw label and the inferred fake value)."""
    from datasets import load_dataset

    try:
        ds = load_dataset(name, cache_dir=cache_dir)
    except Exception as exc:
        raise RuntimeError(
            f"could not download {name} from https://huggingface.co/datasets/{name} ({exc})."
        ) from exc
    df = ds["train"].to_pandas()
    df = df[df["text"].fillna("").str.strip() != ""].reset_index(drop=True)
    fake_value = infer_fake_value_from_datelines(df["text"], df["label"])
    rates = df["text"].str.contains(_REUTERS).groupby(df["label"]).mean()
    check = {f"reuters_rate_raw_label_{int(k)}": float(v) for k, v in rates.items()}
    check["inferred_fake_value"] = float(fake_value)
    df["label"] = [flip_if(v, fake_value=fake_value) for v in df["label"]]
    df["text"] = (df["title"].fillna("").str.strip() + ". " + df["text"].fillna("")).str.strip()
    if sample is not None and len(df) > sample:
        df = df.sample(n=sample, random_state=seed).reset_index(drop=True)
    return df, check


# --------------------------------------------------------------------------- synthetic corpus
_TOPICS = [
    "economy",
    "health",
    "election",
    "climate",
    "vaccine",
    "taxes",
    "schools",
    "border",
    "energy",
    "crime",
]
_REAL_VERBS = ["reported", "announced", "said", "estimated", "published", "confirmed", "noted"]
_REAL_SOURCES = [
    "the ministry",
    "officials",
    "the agency",
    "researchers",
    "the committee",
    "a spokesperson",
]
_REAL_TAILS = [
    "according to a report released on Tuesday.",
    "in a statement, citing figures from last year.",
    "the figures show a change of 3 percent.",
    "the review covered 1,200 cases over two years.",
    "the data will be updated next quarter.",
]
_FAKE_OPENERS = [
    "SHOCKING:",
    "BREAKING!!",
    "You won't believe",
    "They don't want you to know",
    "EXPOSED:",
]
_FAKE_CLAIMS = [
    "the {t} cover-up is finally exposed",
    "secret plan to destroy {t} revealed",
    "elites hiding the truth about {t}",
    "{t} scam will ruin everyone",
    "miracle cure for {t} banned by insiders",
]
_FAKE_TAILS = [
    "Share before it's deleted!",
    "Wake up people!!",
    "The media won't tell you this!",
    "Spread the word!",
]
_NEUTRAL = ["Meanwhile", "However", "In addition", "Later", "Earlier"]


def synthetic_corpus(
    n: int = 600, seed: int = 0, noise: float = 0.1, datelines: bool = True
) -> pd.DataFrame:
    """Small labelled corpus with class-dependent wording and style, for smoke runs and tests.
    ``noise`` swaps style cues between classes so models cannot be perfect; some real texts get
    an agency dateline (and a few exact/near duplicates) so cleaning has something to do."""
    rng = np.random.default_rng(seed)
    rows: list[tuple[str, int]] = []
    for i in range(n):
        label = int(rng.integers(0, 2))
        style = label if rng.random() > noise else 1 - label
        topic = str(rng.choice(_TOPICS))
        if style == REAL:
            text = (
                f"{str(rng.choice(_REAL_SOURCES)).capitalize()} {rng.choice(_REAL_VERBS)} that {topic} "
                f"spending rose to {int(rng.integers(2, 90))} billion, {rng.choice(_REAL_TAILS)} "
                f"{rng.choice(_NEUTRAL)}, {rng.choice(_REAL_SOURCES)} {rng.choice(_REAL_VERBS)} new {topic} rules."
            )
            if datelines and rng.random() < 0.5:
                text = f"{rng.choice(['WASHINGTON', 'LONDON', 'BERLIN'])} (Reuters) - " + text
        else:
            claim = str(rng.choice(_FAKE_CLAIMS)).format(t=topic)
            text = (
                f"{rng.choice(_FAKE_OPENERS)} {claim}! {rng.choice(_NEUTRAL)} you need to see "
                f"why {topic} is a lie. {rng.choice(_FAKE_TAILS)}"
            )
        rows.append((text, label))
        if i % 50 == 7:  # exact duplicate
            rows.append((text, label))
        if i % 50 == 23:  # near duplicate: punctuation/case change
            rows.append((text.upper().replace(",", ""), label))
    return pd.DataFrame(rows, columns=["text", "label"])


def synthetic_splits(n: int = 600, seed: int = 0, noise: float = 0.1) -> Splits:
    """Synthetic corpus split 70/15/15 (stratified), no download."""
    from sklearn.model_selection import train_test_split

    df = synthetic_corpus(n=n, seed=seed, noise=noise)
    train, rest = train_test_split(df, test_size=0.3, stratify=df["label"], random_state=seed)
    valid, test = train_test_split(rest, test_size=0.5, stratify=rest["label"], random_state=seed)
    return {
        k: v.reset_index(drop=True)
        for k, v in {"train": train, "valid": valid, "test": test}.items()
    }


def load_data(spec: str, seed: int = 0, synthetic_size: int = 600) -> tuple[Splits, str]:
    """Parse a ``--data`` spec: ``synthetic``, ``liar:PATH``, ``isot`` (HF hub) or
    ``csv:PATH[:TEXT_COL:LABEL_COL]``. Returns the splits and a one-line description."""
    kind, _, rest = spec.partition(":")
    if kind == "synthetic":
        return synthetic_splits(
            n=synthetic_size, seed=seed
        ), f"synthetic corpus (n={synthetic_size}, seed={seed})"
    if kind == "liar":
        if not rest:
            raise ValueError(
                "use --data liar:PATH (the folder with train.tsv, valid.tsv, test.tsv)"
            )
        return load_liar(
            rest
        ), f"LIAR binary (statement only, official splits) from {Path(rest).name}"
    if kind == "isot":
        return load_isot_hf(), f"ISOT via {ISOT_HF_NAME} (title + text, cleaned)"
    if kind == "csv":
        parts = rest.split(":")
        path = parts[0]
        text_col = parts[1] if len(parts) > 1 else "text"
        label_col = parts[2] if len(parts) > 2 else "label"
        return load_csv(path, text_col, label_col, seed=seed), f"local CSV {Path(path).name}"
    raise ValueError(
        f"unknown data spec {spec!r}: use synthetic, liar:PATH, isot or csv:PATH[:TEXT:LABEL]"
    )
