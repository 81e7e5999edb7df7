"""The Detector: loads a verified artifacts folder and answers texts with calibrated
probabilities, per-member probabilities and explanations. This is the app's entry point.

Contract (binding for app.py): ``load_detector(dir, members=None)``; ``Detector.member_names``,
``.manifest``, ``.max_chars``, ``.predict(texts) -> DataFrame[label, confidence, p_fake,
p_fake_<member>...]``, ``.explain(text, top_k)``, ``.token_attributions(text)``,
``.has_domain_check`` and ``.domain_check(texts) -> DataFrame[ood_score, out_of_domain]``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from misinfo.artifacts import ArtifactError, Manifest, load_manifest, verify_members, verify_path
from misinfo.domain import DomainCheck
from misinfo.ensemble import Ensemble, ensemble_key
from misinfo.labels import FAKE, LABEL_NAMES
from misinfo.models import MemberKind, SavedMember
from mlshared.calibration import apply_temperature

CHARS_PER_TOKEN = 4  # rough English average; used to turn the token limit into a character hint


def check_texts(texts: Sequence[str]) -> list[str]:
    """Texts must be non-empty strings: the models have nothing to say about an empty one."""
    if isinstance(texts, str):
        raise TypeError("predict expects a list of texts, not a single string: use predict([text])")
    out = []
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"text {i} is {type(text).__name__}, not str")
        if not text.strip():
            raise ValueError(
                f"text {i} is empty or whitespace only: there is nothing to classify. "
                "Paste some text (a sentence or more works best)."
            )
        out.append(text)
    return out


class Detector:
    """Calibrated ensemble of the members saved in an artifacts folder."""

    def __init__(
        self,
        directory: Path,
        manifest: Manifest,
        members: dict[str, SavedMember],
        ensemble: Ensemble | None,
        domain: DomainCheck | None = None,
    ) -> None:
        self.directory = directory
        self.manifest = manifest
        self.members = members
        self.ensemble = ensemble
        self.domain = domain
        self.member_names: list[str] = list(members)
        self.threshold: float = float(manifest.threshold)
        self.max_length: int = int(manifest.max_length)

    @property
    def max_chars(self) -> int:
        """Characters beyond which the transformer member truncates (approximate: max_length
        tokens x ~4 characters); TF-IDF and feature members read everything. The app warns
        above this."""
        return self.max_length * CHARS_PER_TOKEN

    def member_log_odds(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Calibrated log-odds (z / T) of each member."""
        texts = check_texts(texts)
        out = {}
        for name, member in self.members.items():
            z = member.decision_function(texts)
            out[name] = np.asarray(z, dtype=float) / float(
                self.manifest.temperatures.get(name, 1.0)
            )
        return out

    def predict(self, texts: Sequence[str]) -> pd.DataFrame:
        """label ("real"/"fake"), confidence (calibrated probability of that label), p_fake
        (calibrated ensemble) and p_fake_<member> (each member, calibrated)."""
        texts = check_texts(texts)
        if not texts:
            cols = ["label", "confidence", "p_fake"] + [f"p_fake_{m}" for m in self.member_names]
            return pd.DataFrame(columns=cols)
        z = self.member_log_odds(texts)
        per_member = {f"p_fake_{m}": apply_temperature(z[m], 1.0) for m in self.member_names}
        if self.ensemble is None:
            p = per_member[f"p_fake_{self.member_names[0]}"]
        else:
            p = self.ensemble.p_fake(np.column_stack([z[m] for m in self.ensemble.members]))
        is_fake = p >= self.threshold
        frame = pd.DataFrame(
            {
                "label": np.where(is_fake, LABEL_NAMES[FAKE], LABEL_NAMES[1 - FAKE]),
                "confidence": np.where(is_fake, p, 1.0 - p),
                "p_fake": p,
                **per_member,
            }
        )
        return frame

    def explain(self, text: str, top_k: int = 15) -> list[tuple[str, float]]:
        """Signed word contributions toward "fake" (TF-IDF weight x value) from the linear
        word TF-IDF member; empty list if that member is not loaded."""
        from misinfo.models import TfidfLogReg

        check_texts([text])
        tfidf = next(
            (
                m
                for m in self.members.values()
                if isinstance(m, TfidfLogReg) and m.analyzer == "word"
            ),
            None,
        )
        if tfidf is None:
            return []
        return tfidf.explain(text, top_k=top_k)

    def token_attributions(self, text: str) -> list[tuple[str, float]] | None:
        """Gradient x input token attributions from the (first) transformer member, or None
        when no transformer is loaded or it was quantised (int8 has no gradients)."""
        check_texts([text])
        for member in self.members.values():
            if member.kind is MemberKind.TRANSFORMER and not getattr(member, "quantized", False):
                return member.token_attributions(text)  # type: ignore[attr-defined]
        return None

    @property
    def has_transformer(self) -> bool:
        """Whether a transformer member answers (it truncates long texts, and gives token
        attributions unless quantised)."""
        return any(m.kind is MemberKind.TRANSFORMER for m in self.members.values())

    @property
    def has_domain_check(self) -> bool:
        """Whether the folder holds an out-of-domain check (folders trained before it existed
        do not)."""
        return self.domain is not None

    def domain_check(self, texts: Sequence[str]) -> pd.DataFrame:
        """Per text: ``ood_score`` (1 - mean cosine similarity to the nearest training texts)
        and ``out_of_domain`` (score above the threshold calibrated so about 5% of in-domain
        validation texts are flagged). Labels of flagged texts deserve less trust: the
        calibration was measured in-domain only."""
        texts = check_texts(texts)
        if self.domain is None:
            raise ArtifactError(
                f"the models in {self.directory.name} have no out-of-domain check (trained "
                "before it existed); retrain them to get one"
            )
        return self.domain.check(texts)

    def features(self, texts: Sequence[str]) -> pd.DataFrame:
        """The style features of the texts (for comparing with manifest.feature_distribution)."""
        from misinfo.features import text_features

        return text_features(check_texts(texts))


def _load_member(directory: Path, manifest: Manifest, name: str, quantize_int8: bool) -> Any:
    try:
        kind = MemberKind(manifest.member_kinds[name])
    except ValueError as exc:
        raise ArtifactError(
            f"unknown member kind {manifest.member_kinds[name]!r} for {name!r} in the manifest of "
            f"{directory.name}; known kinds: {[str(k) for k in MemberKind]}"
        ) from exc
    return kind.member_class().load(
        directory / manifest.member_paths[name],
        name=name,
        max_length=manifest.max_length,
        quantize_int8=quantize_int8,
    )


def load_detector(
    artifacts_dir: str | Path,
    members: Sequence[str] | None = None,
    quantize_int8: bool = False,
    max_length: int | None = None,
    warm_up: bool = True,
) -> Detector:
    """Load the members (all, or the named subset) after checking every file's sha256
    against the manifest. A subset needs an ensemble fitted for it at training time (the
    manifest lists them); ``quantize_int8`` applies dynamic int8 to transformer members;
    ``max_length`` overrides the token limit saved at training time (e.g. 256 for long texts);
    ``warm_up`` answers one dummy text so lazy initialisation (sentiment lexicon, hyphenation
    dictionary, first torch call) happens here and not on the user's first text."""
    directory = Path(artifacts_dir)
    manifest = load_manifest(directory)
    names = list(manifest.members) if members is None else list(members)
    unknown = [m for m in names if m not in manifest.members]
    if unknown or not names:
        raise ArtifactError(
            f"unknown members {unknown or names} in {directory.name}; available: {manifest.members}"
        )
    verify_members(directory, manifest, names)
    loaded = {name: _load_member(directory, manifest, name, quantize_int8) for name in names}
    ensemble = None
    if len(names) > 1:
        key = ensemble_key(names)
        if key not in manifest.ensemble:
            raise ArtifactError(
                f"no ensemble was fitted for members {names} in {directory.name}; available combinations: "
                f"{sorted(manifest.ensemble)}"
            )
        ensemble = Ensemble.from_dict(manifest.ensemble[key])
    domain = None
    if manifest.domain:
        folder = verify_path(
            directory, manifest, manifest.domain["path"], "the out-of-domain check"
        )
        try:
            domain = DomainCheck.load(folder, manifest.domain, manifest.max_length)
        except (KeyError, ValueError, OSError) as exc:
            raise ArtifactError(
                f"the out-of-domain check in {directory.name} cannot be read ({exc}); retrain"
            ) from exc
    detector = Detector(directory, manifest, loaded, ensemble, domain)
    if max_length is not None:
        detector.max_length = int(max_length)
        for member in loaded.values():
            if hasattr(member, "max_length"):
                member.max_length = int(max_length)
    if warm_up:
        from misinfo.features import text_features

        sample = "Warm-up text: officials said on Monday that 3 new rules apply!"
        detector.predict([sample])
        detector.explain(sample)
        detector.token_attributions(sample)
        if detector.has_domain_check:
            detector.domain_check([sample])
        text_features([sample])
    return detector
