"""The out-of-domain check: nearest-neighbour similarity against a brute-force reference, the
threshold's calibration, both spaces, saving without pickle, and the app's wording."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.metrics.pairwise import cosine_similarity

from misinfo.data import synthetic_splits
from misinfo.domain import (
    DomainCheck,
    EncoderSpace,
    TfidfSpace,
    fit_domain_check,
    nearest_similarity,
)

# texts about cooking and football: nothing like the synthetic corpus of news and claims
OTHER_DOMAIN = [
    "Whisk the eggs with sugar until pale, then fold in the flour and bake for twenty minutes.",
    "The striker curled a free kick into the top corner in the ninetieth minute.",
    "Simmer the tomatoes with garlic and basil, season and serve over fresh pasta.",
    "The goalkeeper saved two penalties and the home side won the shootout.",
    "Knead the dough for ten minutes, let it rise overnight and bake at high heat.",
    "Midfielders pressed high and the visitors never settled into their passing game.",
    "Roast the carrots with honey and thyme until caramelised at the edges.",
    "A late header from the captain sealed the derby in front of a sold-out stadium.",
]


@pytest.fixture(scope="module")
def splits():
    data = synthetic_splits(n=500, seed=3)
    return {k: v["text"].tolist() for k, v in data.items()}


def test_nearest_similarity_is_the_mean_of_the_k_largest_cosines() -> None:
    rng = np.random.default_rng(0)
    reference = rng.normal(size=(40, 6))
    reference /= np.linalg.norm(reference, axis=1, keepdims=True)
    vectors = rng.normal(size=(300, 6))  # more rows than one chunk
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    expected = np.sort(cosine_similarity(vectors, reference), axis=1)[:, -3:].mean(axis=1)
    assert nearest_similarity(vectors, reference, 3) == pytest.approx(expected)
    sparse = nearest_similarity(sp.csr_matrix(vectors), sp.csr_matrix(reference), 3)
    assert sparse == pytest.approx(expected)
    # k above the reference size: every reference row counts
    assert nearest_similarity(vectors[:2], reference[:2], 5) == pytest.approx(
        cosine_similarity(vectors[:2], reference[:2]).mean(axis=1)
    )


def test_tfidf_check_flags_its_share_of_valid_texts_and_other_domains(splits) -> None:
    check = fit_domain_check(splits["train"], splits["valid"], k=5, flag_rate=0.1)
    valid = check.scores(splits["valid"])
    assert check.threshold == pytest.approx(np.quantile(valid, 0.9))
    assert check.rates == {"target": 0.1, "valid": pytest.approx(np.mean(valid > check.threshold))}
    assert abs(check.rates["valid"] - 0.1) <= 1 / len(valid)  # the quantile, up to one text
    assert check.flag_rate(splits["test"]) <= 0.25
    assert check.flag_rate(OTHER_DOMAIN) == 1.0
    frame = check.check([splits["test"][0], OTHER_DOMAIN[0]])
    assert list(frame.columns) == ["ood_score", "out_of_domain"]
    assert frame["out_of_domain"].tolist() == [False, True]
    assert frame["ood_score"].min() >= 0.0 and frame["ood_score"].max() <= 1.0
    # a training text is its own nearest neighbour: its score is below any other text's
    assert check.scores([splits["train"][0]])[0] < check.scores([OTHER_DOMAIN[0]])[0]
    assert check.scores([]).shape == (0,)


def test_the_reference_is_a_seeded_sample_of_the_training_texts(splits) -> None:
    a = fit_domain_check(splits["train"], splits["valid"], reference_size=50, seed=1)
    b = fit_domain_check(splits["train"], splits["valid"], reference_size=50, seed=1)
    assert a.reference.shape[0] == 50 and (a.reference != b.reference).nnz == 0
    assert a.to_metrics()["reference_size"] == 50


def test_bad_settings_are_refused(splits) -> None:
    with pytest.raises(ValueError, match="flag_rate must be between 0 and 1"):
        fit_domain_check(splits["train"], splits["valid"], flag_rate=1.0)
    with pytest.raises(ValueError, match="needs validation texts"):
        fit_domain_check(splits["train"], [])
    with pytest.raises(ValueError, match="needs training texts"):
        fit_domain_check([], splits["valid"])


def test_a_saved_check_scores_the_same_and_reads_no_pickle(splits, tmp_path: Path) -> None:
    check = fit_domain_check(splits["train"], splits["valid"])
    check.rates["test"] = check.flag_rate(splits["test"])
    folder = check.save(tmp_path / "domain")
    assert sorted(p.name for p in folder.iterdir()) == ["reference.npz", "tfidf.skops"]
    info = check.to_manifest("domain")
    assert info["path"] == "domain" and info["space"] == "tfidf"
    loaded = DomainCheck.load(folder, info)
    texts = splits["test"][:5] + OTHER_DOMAIN[:2]
    assert loaded.scores(texts) == pytest.approx(check.scores(texts))
    assert (loaded.threshold, loaded.k, loaded.rates) == (check.threshold, check.k, check.rates)
    with pytest.raises(ValueError, match="unknown out-of-domain space 'pickle'"):
        DomainCheck.load(folder, info | {"space": "pickle"})


def test_encoder_space_embeds_unit_vectors_and_saves_with_its_tokenizer(
    splits, tmp_path: Path
) -> None:
    torch = pytest.importorskip("torch")
    from misinfo.transformer import build_tiny_encoder

    torch.set_num_threads(1)
    folder = build_tiny_encoder(splits["train"], tmp_path / "tiny", vocab_size=300, hidden=32)
    space = EncoderSpace.from_pretrained(folder, "tiny encoder", max_length=32)
    vectors = space.embed(["a short text", "a longer text with more words in it", "x"])
    assert vectors.shape == (3, 32) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    # batches are length-sorted: the rows still come back in the caller's order
    assert space.embed(["x"])[0] == pytest.approx(vectors[2], abs=1e-5)
    check = fit_domain_check(splits["train"][:80], splits["valid"][:40], space, k=3)
    saved = check.save(tmp_path / "domain")
    assert (saved / "encoder" / "config.json").is_file() and (saved / "reference.npy").is_file()
    loaded = DomainCheck.load(saved, check.to_manifest("domain"), max_length=32)
    assert isinstance(loaded.space, EncoderSpace) and loaded.space.description == "tiny encoder"
    assert loaded.scores(OTHER_DOMAIN[:3]) == pytest.approx(
        check.scores(OTHER_DOMAIN[:3]), abs=1e-5
    )


def test_the_warning_and_the_summary_say_what_the_numbers_mean(splits) -> None:
    check = fit_domain_check(splits["train"], splits["valid"])
    assert check.warning(check.threshold) is None  # at the threshold: not flagged
    message = check.warning(1.0)
    assert message is not None and "1.00" in message and f"{check.threshold:.2f}" in message
    assert "about 5% of in-domain texts" in message
    check.rates["test"] = 0.04
    summary = check.summary()
    assert "TF-IDF" in summary and "test 4.0%" in summary and "target" not in summary
    assert isinstance(TfidfSpace().fit(splits["train"]).embed(["x"]), sp.csr_matrix)
