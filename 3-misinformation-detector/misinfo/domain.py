"""Out-of-domain check: a measured score of how unlike the training texts a text is.

Why: a model trained on one dataset scores near chance on another while its calibrated
confidence stays high (calibration was fitted in-domain). The score says when a text is unlike
anything the models learned from, so the app can warn and a batch can be filtered.

Score = 1 - the mean cosine similarity of a text to its ``k`` nearest training texts (a seeded
sample of at most ``reference_size`` of them), in one of two spaces:

- ``encoder``: the mean-pooled last hidden states of a pretrained encoder (the cpu and full
  recipes use the sentence encoder all-MiniLM-L6-v2), which sees topics and style;
- ``tfidf``: TF-IDF word vectors of the training vocabulary (no transformer needed).

The threshold is the ``1 - flag_rate`` quantile of the scores of the in-domain validation
texts, so about ``flag_rate`` of in-domain texts are flagged; the rates on the test split and on
other datasets are measured (``flag_rate`` on the test split is stored with the models).
Saved in the models folder (a skops vectorizer or a ``save_pretrained`` encoder, and the
reference vectors as .npy/.npz read without pickle), hash-checked like every member.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from misinfo.artifacts import load_skops, save_skops

SCORE_COLUMN = "ood_score"
FLAG_COLUMN = "out_of_domain"
CHUNK = 256  # texts scored against the reference at a time (bounds the similarity matrix)


class TfidfSpace:
    """TF-IDF word vectors (unit length) with the training vocabulary: a text made of words the
    training texts rarely use lands far from all of them."""

    kind: ClassVar[str] = "tfidf"
    file_name: ClassVar[str] = "tfidf.skops"
    description = "TF-IDF word vectors of the training vocabulary"

    def __init__(self, vectorizer: Any = None) -> None:
        self.vectorizer = vectorizer

    def fit(self, texts: Sequence[str]) -> TfidfSpace:
        """Learn the vocabulary and IDF weights from the training texts."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        from misinfo.models import slim_vectorizer

        self.vectorizer = TfidfVectorizer(
            min_df=2 if len(texts) > 200 else 1,
            sublinear_tf=True,
            strip_accents="unicode",
            lowercase=True,
        ).fit(list(texts))
        slim_vectorizer(self.vectorizer)
        return self

    def embed(self, texts: Sequence[str]) -> sp.csr_matrix:
        """Sparse unit-length rows (a text with no known word is the zero vector)."""
        return sp.csr_matrix(self.vectorizer.transform(list(texts)), dtype=np.float32)

    def save(self, folder: Path) -> None:
        """The vectorizer as a skops file (no pickle)."""
        save_skops(self.vectorizer, folder / self.file_name)

    @classmethod
    def load(cls, folder: Path) -> TfidfSpace:
        """Counterpart of ``save`` (the trusted-types check applies)."""
        return cls(load_skops(folder / cls.file_name))


class EncoderSpace:
    """Mean-pooled last hidden states of a pretrained encoder, unit length (how sentence
    encoders such as all-MiniLM-L6-v2 are meant to be used)."""

    kind: ClassVar[str] = "encoder"
    folder_name: ClassVar[str] = "encoder"

    def __init__(self, model: Any, tokenizer: Any, description: str, max_length: int = 256) -> None:
        import torch

        self.model = model.eval()
        self.tokenizer = tokenizer
        self.description = description
        self.max_length = max_length
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        self.model.to(self.device)

    @classmethod
    def from_pretrained(
        cls, source: str | Path, description: str, max_length: int = 256, local: bool = False
    ) -> EncoderSpace:
        """Load an encoder folder or hub model (``local``: the folder only, no hub lookup)."""
        from transformers import AutoModel, AutoTokenizer

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = AutoModel.from_pretrained(source, local_files_only=local)
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=local)
        return cls(model, tokenizer, description, max_length)

    def embed(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """(n, hidden) float32, length-sorted batches so padding stays small."""
        import torch

        texts = list(texts)
        out = np.zeros((len(texts), int(self.model.config.hidden_size)), dtype=np.float32)
        order = np.argsort([len(t) for t in texts])
        with torch.inference_mode():
            for start in range(0, len(texts), batch_size):
                idx = order[start : start + batch_size]
                batch = self.tokenizer(
                    [texts[i] for i in idx],
                    truncation=True,
                    max_length=self.max_length,
                    padding=True,
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state.float()
                mask = batch["attention_mask"].unsqueeze(-1).float()
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1.0)
                out[idx] = torch.nn.functional.normalize(pooled, dim=1).cpu().numpy()
        return out

    def save(self, folder: Path) -> None:
        """``save_pretrained`` (safetensors) for the encoder and its tokenizer."""
        self.model.save_pretrained(folder / self.folder_name, safe_serialization=True)
        self.tokenizer.save_pretrained(folder / self.folder_name)

    @classmethod
    def load(cls, folder: Path, max_length: int = 256, description: str = "") -> EncoderSpace:
        """Counterpart of ``save``: the saved folder only."""
        return cls.from_pretrained(folder / cls.folder_name, description, max_length, local=True)


def nearest_similarity(vectors: Any, reference: Any, k: int) -> np.ndarray:
    """Mean cosine similarity of each row of ``vectors`` to its ``k`` most similar rows of
    ``reference`` (both unit length, dense or sparse), in chunks so memory stays bounded."""
    k = max(1, min(int(k), reference.shape[0]))
    out = np.zeros(vectors.shape[0])
    for start in range(0, vectors.shape[0], CHUNK):
        sims = vectors[start : start + CHUNK] @ reference.T
        sims = sims.toarray() if sp.issparse(sims) else np.asarray(sims)
        out[start : start + CHUNK] = np.partition(sims, -k, axis=1)[:, -k:].mean(axis=1)
    return out


@dataclass
class DomainCheck:
    """A fitted out-of-domain check: the space, the reference vectors and the threshold."""

    space: TfidfSpace | EncoderSpace
    reference: Any  # (n_reference, dim) unit rows: np.ndarray (encoder) or csr_matrix (tfidf)
    k: int = 5
    threshold: float = float("inf")
    rates: dict[str, float] = field(default_factory=dict)  # measured flag rates, e.g. "valid"

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """1 - mean cosine similarity to the k nearest training texts: 0 = a training text,
        1 = shares nothing with any of them."""
        if not len(texts):
            return np.zeros(0)
        return 1.0 - nearest_similarity(self.space.embed(texts), self.reference, self.k)

    def check(self, texts: Sequence[str]) -> pd.DataFrame:
        """``ood_score`` and ``out_of_domain`` (score above the threshold) per text."""
        scores = self.scores(texts)
        return pd.DataFrame({SCORE_COLUMN: scores, FLAG_COLUMN: scores > self.threshold})

    def flag_rate(self, texts: Sequence[str]) -> float:
        """The share of ``texts`` flagged as out of domain."""
        return float(np.mean(self.scores(texts) > self.threshold)) if len(texts) else float("nan")

    def warning(self, score: float) -> str | None:
        """What the app says about a text with this score (None: in domain)."""
        if not score > self.threshold:
            return None
        share = self.rates.get("target", float("nan"))
        return (
            f"This text looks unlike the texts the models were trained on (out-of-domain score "
            f"{score:.2f}, above the threshold {self.threshold:.2f} that flags about {share:.0%} "
            "of in-domain texts). Trust the label and the confidence less: models trained on one "
            "kind of text score near chance on another, and the confidence was calibrated on "
            "in-domain texts only."
        )

    def summary(self) -> str:
        """One line for the app's sidebar: how the check works and how often it flags."""
        rates = ", ".join(f"{k} {v:.1%}" for k, v in self.rates.items() if k != "target")
        return (
            f"Out-of-domain check: {self.space.description}, {self.k} nearest of "
            f"{self.reference.shape[0]:,} training texts; flags {rates or 'n/a'}"
        )

    def calibrate(self, valid_texts: Sequence[str], flag_rate: float = 0.05) -> DomainCheck:
        """Set the threshold so that ``flag_rate`` of the in-domain validation texts score
        above it (their ``1 - flag_rate`` quantile)."""
        if not 0.0 < flag_rate < 1.0:
            raise ValueError(f"flag_rate must be between 0 and 1 (exclusive), got {flag_rate}")
        scores = self.scores(valid_texts)
        if not len(scores):
            raise ValueError("calibrating the out-of-domain check needs validation texts")
        self.threshold = float(np.quantile(scores, 1.0 - flag_rate))
        self.rates = {"target": float(flag_rate), "valid": float(np.mean(scores > self.threshold))}
        return self

    def to_manifest(self, path: str) -> dict[str, Any]:
        """What the manifest records (plain JSON, covered by manifest.sha256)."""
        return {"path": path, **self.to_metrics()}

    def to_metrics(self) -> dict[str, Any]:
        """The check's settings and measured flag rates, for the metrics JSON."""
        return {
            "space": self.space.kind,
            "description": self.space.description,
            "k": int(self.k),
            "threshold": float(self.threshold),
            "reference_size": int(self.reference.shape[0]),
            "flag_rates": dict(self.rates),
        }

    def save(self, folder: str | Path) -> Path:
        """The space and the reference vectors in ``folder`` (no pickle anywhere)."""
        out = Path(folder)
        out.mkdir(parents=True, exist_ok=True)
        self.space.save(out)
        if sp.issparse(self.reference):
            sp.save_npz(out / "reference.npz", sp.csr_matrix(self.reference))
        else:
            np.save(out / "reference.npy", np.asarray(self.reference, dtype=np.float32))
        return out

    @classmethod
    def load(cls, folder: str | Path, info: dict[str, Any], max_length: int = 256) -> DomainCheck:
        """From a (hash-checked) folder and its manifest entry."""
        root = Path(folder)
        kind = str(info.get("space"))
        space: TfidfSpace | EncoderSpace
        if kind == EncoderSpace.kind:
            space = EncoderSpace.load(root, max_length, str(info.get("description", "")))
        elif kind == TfidfSpace.kind:
            space = TfidfSpace.load(root)
        else:
            known = [EncoderSpace.kind, TfidfSpace.kind]
            raise ValueError(f"unknown out-of-domain space {kind!r}; known: {known}")
        if (root / "reference.npz").is_file():
            reference: Any = sp.load_npz(root / "reference.npz").tocsr()
        else:
            reference = np.load(root / "reference.npy", allow_pickle=False)
        rates = {str(k): float(v) for k, v in dict(info.get("flag_rates", {})).items()}
        return cls(space, reference, int(info["k"]), float(info["threshold"]), rates)


def fit_domain_check(
    train_texts: Sequence[str],
    valid_texts: Sequence[str],
    space: TfidfSpace | EncoderSpace | None = None,
    k: int = 5,
    flag_rate: float = 0.05,
    reference_size: int = 5000,
    seed: int = 0,
) -> DomainCheck:
    """Reference = a seeded sample of at most ``reference_size`` training texts, embedded in
    ``space`` (None: a TF-IDF space fitted on all training texts); threshold calibrated on the
    validation texts so ``flag_rate`` of them are flagged."""
    train_texts = list(train_texts)
    if not train_texts:
        raise ValueError("the out-of-domain check needs training texts")
    if space is None:
        space = TfidfSpace().fit(train_texts)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(train_texts))[:reference_size])
    reference = space.embed([train_texts[i] for i in keep])
    return DomainCheck(space, reference, k=k).calibrate(valid_texts, flag_rate)
