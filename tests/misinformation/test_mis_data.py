"""Loaders and the label convention, on tiny files written in the official formats."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misinfo import labels
from misinfo.data import (
    LIAR_COLUMNS,
    infer_fake_value_from_datelines,
    load_csv,
    load_csv_splits,
    load_data,
    load_liar,
    parse_data_spec,
    read_liar_tsv,
    synthetic_corpus,
    synthetic_splits,
)
from misinfo.labels import LabelMapping
from misinfo.tabular import TabularError

LIAR_ROWS = [
    [
        "2635.json",
        "false",
        'Says the "Annies List group supports abortions.',
        "abortion",
        "dwayne-bohac",
        "State representative",
        "Texas",
        "republican",
        "0",
        "1",
        "0",
        "0",
        "0",
        "a mailer",
    ],
    [
        "10540.json",
        "half-true",
        "When did the decline of coal start?",
        "energy,history",
        "scott-surovell",
        "State delegate",
        "Virginia",
        "democrat",
        "0",
        "0",
        "1",
        "1",
        "0",
        "a floor speech.",
    ],
    [
        "324.json",
        "pants-fire",
        '"No new taxes, he said.',
        "foreign-policy",
        "barack-obama",
        "President",
        "Illinois",
        "democrat",
        "70",
        "71",
        "160",
        "163",
        "9",
        "Denver",
    ],
    [
        "1.json",
        "mostly-true",
        "Unemployment fell to 5 percent.",
        "jobs",
        "someone",
        "",
        "",
        "none",
        "1",
        "2",
        "3",
        "4",
        "5",
        "",
    ],
    [
        "2.json",
        "barely-true",
        "Taxes doubled.",
        "taxes",
        "x",
        "",
        "",
        "none",
        "0",
        "0",
        "0",
        "0",
        "0",
        "",
    ],
    [
        "3.json",
        "true",
        "The bill passed.",
        "bills",
        "y",
        "",
        "",
        "none",
        "0",
        "0",
        "0",
        "0",
        "0",
        "",
    ],
]


def write_liar(folder: Path) -> Path:
    """Official LIAR layout: three headerless 14-column TSVs with unbalanced quotes."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in ("train.tsv", "valid.tsv", "test.tsv"):
        with open(folder / name, "w", newline="") as handle:
            for row in LIAR_ROWS:
                handle.write("\t".join(row) + "\n")
    return folder


def test_liar_parser_keeps_rows_with_unbalanced_quotes(tmp_path: Path) -> None:
    folder = write_liar(tmp_path / "liar")
    df = read_liar_tsv(folder / "train.tsv")
    assert len(df) == len(LIAR_ROWS)  # a quoting parser would merge rows 1-3
    assert list(df.columns[:14]) == LIAR_COLUMNS
    assert df.loc[0, "text"] == 'Says the "Annies List group supports abortions.'
    assert df.loc[2, "text"] == '"No new taxes, he said.'
    # default quoting really would lose rows: the reason QUOTE_NONE matters
    try:
        naive_rows = len(pd.read_csv(folder / "train.tsv", sep="\t", header=None))
    except pd.errors.ParserError:
        naive_rows = 0
    assert naive_rows < len(LIAR_ROWS)


def test_liar_binary_mapping(tmp_path: Path) -> None:
    splits = load_liar(write_liar(tmp_path / "liar"))
    assert set(splits) == {"train", "valid", "test"}
    y = splits["train"]["label"].tolist()
    # false, half-true, pants-fire, mostly-true, barely-true, true
    assert y == [1, 0, 1, 0, 1, 0]


def test_liar_missing_folder_says_how_to_fix(tmp_path: Path) -> None:
    with pytest.raises(TabularError, match="LIAR_PATH"):
        load_liar(tmp_path)


@pytest.mark.parametrize(
    ("names", "text_column"),
    [
        (("train.csv", "valid.csv", "test.csv"), "text"),  # renamed copies
        (("Constraint_Train.csv", "Constraint_Val.csv", "english_test_with_labels.csv"), "tweet"),
    ],
)
def test_constraint_reads_the_official_release_and_renamed_copies(
    tmp_path: Path, names: tuple[str, str, str], text_column: str
) -> None:
    for name in names:
        (tmp_path / name).write_text(
            f"id,{text_column},label\n1,Masks cut transmission,real\n2,5G spreads the virus,Fake\n"
        )
    splits, description = load_data(f"constraint:{tmp_path}")
    assert description.startswith("CONSTRAINT 2021")
    for split in ("train", "valid", "test"):
        assert splits[split]["label"].tolist() == [labels.REAL, labels.FAKE]
        assert splits[split]["text"].tolist()[1] == "5G spreads the virus"


def test_constraint_refuses_labels_other_than_fake_and_real(tmp_path: Path) -> None:
    for name in ("train.csv", "valid.csv", "test.csv"):
        (tmp_path / name).write_text("id,text,label\n1,a post,real\n2,another post,1\n")
    with pytest.raises(TabularError, match="neither fake nor real: '1'"):
        load_data(f"constraint:{tmp_path}")
    with pytest.raises(TabularError, match=r"Constraint_Train\.csv"):
        load_data(f"constraint:{tmp_path / 'missing'}")


def test_label_helpers() -> None:
    assert labels.LABEL_NAMES[labels.FAKE] == "fake"
    assert labels.liar_to_binary("Pants-Fire") == labels.FAKE
    assert labels.liar_to_binary("half-true") == labels.REAL
    with pytest.raises(ValueError):
        labels.liar_to_binary("unknown")
    assert labels.isot_hf_to_convention(0) == labels.FAKE  # ISOT on the hub: 0 = fake
    assert labels.isot_hf_to_convention(1) == labels.REAL
    assert labels.flip_if(1, fake_value=1) == labels.FAKE


def test_label_direction_inferred_from_datelines() -> None:
    texts = pd.Series(
        ["WASHINGTON (Reuters) - a", "LONDON (Reuters) - b", "wow!", "omg", "(Reuters) c", "no"]
    )
    raw = pd.Series([1, 1, 0, 0, 1, 0])  # raw 1 carries datelines -> raw 1 is real -> fake is 0
    assert infer_fake_value_from_datelines(texts, raw) == 0
    assert infer_fake_value_from_datelines(texts, 1 - raw) == 1


def test_local_csv_loader(tmp_path: Path) -> None:
    rows = [{"body": f"text number {i}", "verdict": "fake" if i % 2 else "real"} for i in range(40)]
    pd.DataFrame(rows).to_csv(tmp_path / "d.csv", index=False, quoting=csv.QUOTE_MINIMAL)
    splits = load_csv(tmp_path / "d.csv", text_column="body", label_column="verdict")
    assert sum(len(v) for v in splits.values()) == 40
    whole = pd.concat(splits.values())
    assert whole["label"].sum() == 20
    with pytest.raises(TabularError, match=r"no column named “nope” .*text=COLUMN"):
        load_csv(tmp_path / "d.csv", text_column="nope")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            ["fake", "REAL", " False ", "true", "1", "0", "1.0", "0.0", 1, 0.0],
            [1, 0, 1, 0, 1, 0, 1, 0, 1, 0],
        ),
    ],
)
def test_default_label_mapping(raw: list[object], expected: list[int]) -> None:
    assert LabelMapping().apply(raw) == expected


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        (["fake", "real", "unverified"], "'unverified' (1 row)"),
        (["fake", "", "real", " "], "blank (2 rows)"),
        (["1", "2", "0"], "'2' (1 row)"),
        (["pants-fire", "true"], "'pants-fire' (1 row)"),
    ],
    ids=["third-class", "blank", "number", "liar-label"],
)
def test_labels_outside_the_mapping_are_errors_naming_them(raw: list[str], named: str) -> None:
    with pytest.raises(ValueError, match="neither fake nor real") as info:
        LabelMapping().apply(raw, column="verdict")
    message = str(info.value)
    assert named in message and "'verdict'" in message and "fake=VALUES" in message


def test_explicit_label_mapping() -> None:
    zero_is_fake = LabelMapping.from_values(fake=["0"])
    assert zero_is_fake.apply(["0", "real", "0.0"]) == [1, 0, 1]
    with pytest.raises(ValueError, match="'1'"):
        zero_is_fake.apply(["1"])  # 1 is no longer real by default: it must be named
    assert LabelMapping.from_values(fake=["0"], real=["1"]).apply(["1", "0"]) == [0, 1]
    liar = LabelMapping.from_values(fake=["pants-fire", "false"], real=["true", "half-true"])
    assert liar.apply(["Pants-Fire", "half-true"]) == [1, 0]
    with pytest.raises(ValueError, match="both fake and real"):
        LabelMapping.from_values(fake=["1"], real=["1.0"])


def write_constraint(folder: Path, label_name: str = "label") -> Path:
    """CONSTRAINT's on-disk layout: train/valid/test CSVs with id,text,label (fake/real)."""
    folder.mkdir(parents=True, exist_ok=True)
    for split, n in (("train", 20), ("valid", 6), ("test", 8)):
        rows = [
            {
                "id": i,
                "tweet": f"{split} post {i}, about covid",
                label_name: "fake" if i % 2 else "real",
            }
            for i in range(n)
        ]
        pd.DataFrame(rows).rename(columns={"tweet": "text"}).to_csv(
            folder / f"{split}.csv", index=False
        )
    return folder


def test_split_files_are_used_as_they_are(tmp_path: Path) -> None:
    folder = write_constraint(tmp_path / "constraint")
    splits = load_csv_splits(folder)
    assert {k: len(v) for k, v in splits.items()} == {"train": 20, "valid": 6, "test": 8}
    assert splits["test"]["text"].iloc[3] == "test post 3, about covid"
    assert splits["test"]["label"].tolist() == [i % 2 for i in range(8)]
    (folder / "valid.csv").rename(folder / "dev.csv")  # another common name for it
    assert len(load_csv_splits(folder)["valid"]) == 6
    (folder / "test.csv").unlink()
    with pytest.raises(TabularError, match=r"no test file: expected one of test\.csv"):
        load_csv_splits(folder)


def test_data_spec_handles_options_and_paths_with_colons(tmp_path: Path) -> None:
    folder = write_constraint(tmp_path / "data:2021" / "constraint", label_name="verdict")
    splits, description = load_data(f"csvdir:label=verdict:{folder}")
    assert len(splits["train"]) == 20 and "official" in description
    assert parse_data_spec("csv:text=body:fake=0,no:C:\\data\\x.csv") == (
        "csv",
        {"text": "body", "fake": "0,no"},
        "C:\\data\\x.csv",
    )
    with pytest.raises(TabularError, match=r"no column named “label”.*label=COLUMN"):
        load_data(f"csvdir:{folder}")
    with pytest.raises(TabularError, match="Options go before the path"):
        load_data(f"csv:{folder}/train.csv:text:verdict")  # the old csv:PATH:TEXT:LABEL form
    with pytest.raises(TabularError, match="takes no options"):
        load_data("synthetic:text=x")


def test_training_files_are_read_like_uploads(tmp_path: Path) -> None:
    """cp1252, semicolons and Excel's BOM read as the app and batch command read them;
    a malformed line is a one-line error naming it, never a silently shorter training set."""
    rows = "".join(f"Le café numéro {i};{'fake' if i % 2 else 'real'}\r\n" for i in range(20))
    (tmp_path / "excel.csv").write_bytes(("text;label\r\n" + rows).encode("cp1252"))
    splits = load_csv(tmp_path / "excel.csv")
    assert sum(len(v) for v in splits.values()) == 20
    assert pd.concat(splits.values())["text"].str.startswith("Le café").all()
    (tmp_path / "bad.csv").write_text("text,label\nok text,fake\nsplit, text,real\n")
    with pytest.raises(TabularError, match="line 3 has 3 fields"):
        load_csv(tmp_path / "bad.csv")
    (tmp_path / "one.csv").write_text("text,label\n" + "a text,fake\n" * 10)
    with pytest.raises(TabularError, match="only fake labels"):
        load_csv(tmp_path / "one.csv")


def test_synthetic_corpus_is_deterministic_and_balanced() -> None:
    a, b = synthetic_corpus(200, seed=3), synthetic_corpus(200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    assert 0.3 < a["label"].mean() < 0.7
    assert a["text"].duplicated().any()  # cleaning has work to do
    splits = synthetic_splits(200)
    assert sum(len(v) for v in splits.values()) == len(a)


def test_data_spec_parsing(tmp_path: Path) -> None:
    splits, desc = load_data("liar:" + str(write_liar(tmp_path / "liar")))
    assert "LIAR" in desc and len(splits["test"]) == len(LIAR_ROWS)
    with pytest.raises(ValueError, match="unknown data spec"):
        load_data("kaggle")
    assert np.isin(load_data("synthetic")[0]["train"]["label"], [0, 1]).all()


def test_hub_loaders_map_labels_and_keep_probe_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    """The hub loaders' parsing on tiny in-memory datasets (no network)."""
    import datasets

    from misinfo import data as data_module

    isot = pd.DataFrame(
        {
            "title": ["Senate votes", "YOU WON'T BELIEVE"],
            "text": ["WASHINGTON (Reuters) - The Senate voted.", "Crazy stuff!"],
            "subject": ["politicsNews", "News"],
            "date": ["2017-01-01", "2017-01-02"],
            "label": [1, 0],  # hub convention: 1 = real, 0 = fake
        }
    )
    tiny = datasets.DatasetDict(
        {k: datasets.Dataset.from_pandas(isot) for k in ("train", "validation", "test")}
    )
    monkeypatch.setattr(datasets, "load_dataset", lambda *a, **k: tiny)
    splits = data_module.load_isot_hf()
    assert splits["train"]["label"].tolist() == [0, 1]  # flipped to 1 = fake
    assert splits["valid"]["text"].iloc[0].startswith("Senate votes. WASHINGTON (Reuters)")
    assert {"subject", "date"} <= set(splits["test"].columns)

    welfake = pd.DataFrame(
        {
            "title": ["a", "b", "c", "d"],
            "text": ["X (Reuters) - real one", "fake one!", "Y (Reuters) - real two", "fake two!"],
            "label": [1, 0, 1, 0],  # here raw 1 carries datelines, so raw 1 = real
        }
    )
    monkeypatch.setattr(
        datasets,
        "load_dataset",
        lambda *a, **k: datasets.DatasetDict({"train": datasets.Dataset.from_pandas(welfake)}),
    )
    df, check = data_module.load_welfake_hf(sample=None)
    assert check["inferred_fake_value"] == 0
    assert df["label"].tolist() == [0, 1, 0, 1]
