"""Cleaning: dateline stripping, leaky columns, exact and near duplicates within and across splits."""

from __future__ import annotations

import pandas as pd

from misinfo.cleaning import (
    clean_splits,
    near_duplicate_pairs,
    normalise_for_dedup,
    strip_datelines,
)


def test_strip_datelines_removes_agency_tags_and_credits() -> None:
    counts: dict[str, int] = {}
    text = "WASHINGTON (Reuters) - The Senate passed the bill on Tuesday."
    assert strip_datelines(text, counts) == "The Senate passed the bill on Tuesday."
    assert counts == {"dateline_agency": 1}
    assert strip_datelines("NEW YORK/LONDON (Reuters) - Stocks fell.") == "Stocks fell."
    assert (
        strip_datelines("Senate votes. WASHINGTON (Reuters) - The Senate voted.")
        == "Senate votes. The Senate voted."
    )
    assert "Reuters" not in strip_datelines("Officials said (Reuters) - more later.")
    cleaned = strip_datelines("Trump said so. Featured image via Getty Images")
    assert cleaned == "Trump said so."
    assert strip_datelines("See pic.twitter.com/abc123 and https://t.co/x now") == "See and now"
    assert strip_datelines("No tags here.") == "No tags here."


def test_normalise_for_dedup() -> None:
    assert normalise_for_dedup("Hello,   WORLD!!") == normalise_for_dedup("hello world")


def test_near_duplicate_pairs() -> None:
    a = ["the senate passed the budget bill on tuesday after a long debate", "cats are great pets"]
    b = ["the senate passed the budget bill on tuesday after a long debate today", "dogs bark"]
    assert near_duplicate_pairs(a, b, threshold=0.8) == [(0, 0)]
    assert near_duplicate_pairs(a, threshold=0.8) == []


def frame(texts: list[str], labels: list[int], **extra: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "label": labels, **extra})


def test_clean_splits_counts_and_cross_split_removal() -> None:
    base = "the governor signed the new education funding law on monday in the capital"
    train = frame(
        [base, base, base.upper() + "!", "completely different text about weather", "  "],
        [0, 0, 0, 1, 1],
        subject=["a", "a", "a", "b", "b"],
    )
    valid = frame(["LONDON (Reuters) - " + base, "another unrelated statement here"], [0, 1])
    test = frame(
        ["a brand new sentence nobody has seen", "completely different text about weather"], [1, 1]
    )
    cleaned, report = clean_splits({"train": train, "valid": valid, "test": test})
    assert report.empty_removed["train"] == 1
    assert report.exact_dupes_within["train"] == 1
    assert report.near_dupes_within["train"] == 1  # the upper-case copy
    assert report.dateline_hits["valid"] == {"dateline_agency": 1}
    assert report.dupes_across["valid"] == 1  # the dateline copy of a train text
    assert report.dupes_across["test"] == 1
    assert cleaned["test"]["text"].tolist() == ["a brand new sentence nobody has seen"]
    assert "subject" in report.dropped_columns
    assert list(cleaned["train"].columns) == ["text", "label"]
    assert report.table().loc["train", "rows_out"] == 2


def test_conflicting_duplicate_labels_are_counted() -> None:
    train = frame(["same words here", "same words here", "other"], [0, 1, 0])
    _, report = clean_splits(
        {"train": train, "valid": frame(["x y"], [0]), "test": frame(["z w"], [1])}
    )
    assert report.conflicting_label_groups["train"] == 1
