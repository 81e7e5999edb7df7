"""Data loaders. Each returns ``{"train", "valid", "test"}`` DataFrames with a ``text`` column
and a ``label`` column in the package convention (1 = fake), plus any metadata columns the
source has (kept only so leak probes can use them; cleaning drops them from model inputs).

Hub loaders (ISOT, WELFake) are for Colab; every loader also reads local files. Local CSVs go
through :mod:`misinfo.tabular`, the reader the app and the batch command use, so encodings,
separators and file-type checks behave the same; every data mistake (missing file or column,
malformed line, a label outside the mapping, an unknown spec) is a one-line
:class:`~misinfo.tabular.TabularError`.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from misinfo.labels import FAKE, REAL, LabelMapping, flip_if, liar_to_binary
from misinfo.tabular import TabularError, find_column, read_table

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
        raise TabularError(
            f"LIAR folder {root} lacks {missing}. Download liar_dataset.zip from "
            "https://www.cs.ucsb.edu/~william/data/liar_dataset.zip, unzip it and set LIAR_PATH "
            "to the folder holding train.tsv, valid.tsv and test.tsv."
        )
    return {split: read_liar_tsv(root / name) for split, name in LIAR_FILES.items()}


def read_labelled_csv(
    path: str | Path,
    text_column: str | Sequence[str] = "text",
    label_column: str = "label",
    labels: LabelMapping | None = None,
    title_column: str | None = None,
) -> pd.DataFrame:
    """One labelled CSV as ``text`` and ``label`` (1 = fake), read by the shared reader;
    ``labels`` says which values mean fake and real (default: ``LabelMapping()``); a sequence
    of text columns means the first the file has (a dataset published with either name)."""
    table = read_table(path, max_bytes=None)
    if not isinstance(text_column, str):
        text_column = next((c for c in text_column if c in table.header), text_column[0])
    try:
        columns = [find_column(table, c) for c in (text_column, label_column)]
        title = find_column(table, title_column) if title_column else None
    except TabularError as exc:
        raise TabularError(
            f"{exc} Name the columns in the data spec, e.g. csv:text=COLUMN:label=COLUMN:PATH."
        ) from exc
    frame = table.frame()
    text = frame[columns[0]].astype(str)
    if title is not None:
        text = frame[title].astype(str).str.strip() + ". " + text
    mapping = labels or LabelMapping()
    try:
        y = mapping.apply(frame[columns[1]], column=label_column)
    except ValueError as exc:
        raise TabularError(f"{Path(path).name}: {exc}") from exc
    return pd.DataFrame({"text": text.to_numpy(), "label": y})


def _two_classes(df: pd.DataFrame, where: str) -> None:
    """Training needs both classes; say so before anything is fitted."""
    if df["label"].nunique() < 2:
        raise TabularError(
            f"{where} has only {'fake' if df['label'].iloc[0] == FAKE else 'real'} labels: "
            "training needs both classes (check the label mapping)."
        )


def load_csv(
    path: str | Path,
    text_column: str = "text",
    label_column: str = "label",
    labels: LabelMapping | None = None,
    valid_fraction: float = 0.1,
    test_fraction: float = 0.1,
    seed: int = 0,
    title_column: str | None = None,
) -> Splits:
    """One local CSV with a text and a label column, split stratified at random (for a
    dataset with official splits use :func:`load_csv_splits`)."""
    from sklearn.model_selection import train_test_split

    out = read_labelled_csv(path, text_column, label_column, labels, title_column)
    _two_classes(out, Path(path).name)
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


# File names tried for each split of a dataset folder, first match wins.
SPLIT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.csv", "train.tsv"),
    "valid": ("valid.csv", "validation.csv", "val.csv", "dev.csv", "valid.tsv", "dev.tsv"),
    "test": ("test.csv", "test.tsv"),
}
# CONSTRAINT 2021 (Patwa et al.): the shared task's release names its files Constraint_Train.csv,
# Constraint_Val.csv and english_test_with_labels.csv with a `tweet` column; copies renamed to
# train/valid/test.csv with a `text` column are read too. Labels are `fake` / `real`.
CONSTRAINT_FILES: dict[str, tuple[str, ...]] = {
    "train": ("train.csv", "Constraint_Train.csv"),
    "valid": ("valid.csv", "Constraint_Val.csv"),
    "test": ("test.csv", "english_test_with_labels.csv", "Constraint_Test.csv"),
}
CONSTRAINT_URL = "https://github.com/diptamath/covid_fake_news (data/)"


def load_csv_splits(
    folder: str | Path,
    text_column: str | Sequence[str] = "text",
    label_column: str = "label",
    labels: LabelMapping | None = None,
    title_column: str | None = None,
    files: Mapping[str, Sequence[str]] = SPLIT_FILES,
) -> Splits:
    """A dataset that comes as official split files (a folder with train/valid/test CSVs,
    e.g. CONSTRAINT's train.csv, valid.csv, test.csv with columns id,text,label), used as
    they are: no resplitting, so results are comparable with published ones."""
    root = Path(folder)
    if not root.is_dir():
        raise TabularError(f"{root}: no such folder (expected train, valid and test CSVs in it).")
    paths = {}
    for split, names in files.items():
        found = next((root / n for n in names if (root / n).is_file()), None)
        if found is None:
            raise TabularError(f"{root} has no {split} file: expected one of {', '.join(names)}.")
        paths[split] = found
    splits = {
        split: read_labelled_csv(path, text_column, label_column, labels, title_column)
        for split, path in paths.items()
    }
    _two_classes(splits["train"], paths["train"].name)
    return splits


def load_constraint(folder: str | Path) -> Splits:
    """CONSTRAINT's official train / valid / test splits as released (or renamed copies), labels
    ``fake`` / ``real`` only: any other value is an error, never a guess."""
    if not Path(folder).is_dir():
        raise TabularError(
            f"{folder}: no such folder. CONSTRAINT's files (Constraint_Train.csv, "
            f"Constraint_Val.csv, english_test_with_labels.csv) are at {CONSTRAINT_URL}; "
            "point CONSTRAINT_PATH or --data constraint:PATH at the folder holding them."
        )
    fake_real = LabelMapping.from_values(["fake"], ["real"])
    return load_csv_splits(folder, ("text", "tweet"), "label", fake_real, files=CONSTRAINT_FILES)


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


SPEC_OPTIONS = ("text", "label", "fake", "real", "title")
SPEC_HELP = (
    "synthetic | liar:PATH | constraint:PATH | isot | csv[:OPTION=VALUE...]:FILE | "
    "csvdir[:OPTION=VALUE...]:FOLDER "
    "(options: text=COLUMN, label=COLUMN, title=COLUMN, fake=V1,V2, real=V1,V2)"
)


def parse_data_spec(spec: str) -> tuple[str, dict[str, str], str]:
    """``KIND[:OPTION=VALUE...][:PATH]`` -> (kind, options, path).

    Options come before the path and the path is everything after them, so a path may
    contain ``:`` (``csvdir:text=tweet:/data/a:b``, ``csv:C:\\data\\x.csv``).
    """
    kind, _, rest = spec.partition(":")
    options: dict[str, str] = {}
    parts = rest.split(":") if rest else []
    while parts and re.fullmatch(r"\w+=.*", parts[0]) and parts[0].split("=")[0] in SPEC_OPTIONS:
        key, _, value = parts.pop(0).partition("=")
        options[key] = value
    return kind, options, ":".join(parts)


def _values(option: str | None) -> list[str] | None:
    return None if option is None else [v for v in option.split(",") if v.strip()]


def load_data(spec: str, seed: int = 0, synthetic_size: int = 600) -> tuple[Splits, str]:
    """Load the splits a ``--data`` spec names (see ``SPEC_HELP``). Returns the splits and a
    one-line description; every mistake in the spec or the files is a TabularError."""
    kind, options, path = parse_data_spec(spec)
    if options and kind not in ("csv", "csvdir"):
        raise TabularError(f"{kind!r} takes no options ({sorted(options)}); use {SPEC_HELP}")
    if kind == "synthetic":
        return synthetic_splits(
            n=synthetic_size, seed=seed
        ), f"synthetic corpus (n={synthetic_size}, seed={seed})"
    if kind == "liar":
        if not path:
            raise TabularError(
                "use --data liar:PATH (the folder with train.tsv, valid.tsv, test.tsv)"
            )
        return load_liar(
            path
        ), f"LIAR binary (statement only, official splits) from {Path(path).name}"
    if kind == "constraint":
        if not path:
            raise TabularError(
                "use --data constraint:PATH (the folder with train.csv, valid.csv, test.csv)"
            )
        splits = load_constraint(path)
        return splits, (
            "CONSTRAINT 2021 COVID-19 fake news (social-media posts, official splits) "
            f"from {Path(path).name}"
        )
    if kind == "isot":
        return load_isot_hf(), f"ISOT via {ISOT_HF_NAME} (title + text, cleaned)"
    if kind in ("csv", "csvdir"):
        if not path:
            raise TabularError(f"{kind} needs a path: --data {kind}:PATH")
        try:
            labels = LabelMapping.from_values(
                _values(options.get("fake")), _values(options.get("real"))
            )
        except ValueError as exc:
            raise TabularError(f"--data {spec}: {exc}") from exc
        text, label = options.get("text", "text"), options.get("label", "label")
        title = options.get("title")
        if kind == "csvdir":
            splits = load_csv_splits(path, text, label, labels, title)
            where = f"official train/valid/test as given; {labels.describe()}"
            return splits, f"local CSV splits from {Path(path).name} ({where})"
        if not Path(path).is_file() and ":" in path:
            raise TabularError(
                f"no such file: {path}. Options go before the path: "
                "csv:text=COLUMN:label=COLUMN:PATH."
            )
        splits = load_csv(path, text, label, labels, seed=seed, title_column=title)
        where = f"random stratified split; {labels.describe()}"
        return splits, f"local CSV {Path(path).name} ({where})"
    raise TabularError(f"unknown data spec {spec!r}: use {SPEC_HELP}")
