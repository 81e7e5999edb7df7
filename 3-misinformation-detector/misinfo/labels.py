"""The one place the label convention lives: y = 1 is "fake" (misinformation), 0 is "real".

Every loader maps its dataset onto this convention so models, metrics, artifacts and the
app never have to guess which way a 0/1 points.
"""

from __future__ import annotations

REAL: int = 0
FAKE: int = 1
LABEL_NAMES: tuple[str, str] = ("real", "fake")
LABEL_MEANING: str = (
    'y = 1 means "fake" (text resembling the misinformation class of the training data), '
    'y = 0 means "real"'
)

# LIAR's six-way labels collapsed to binary (Wang 2017 uses the same split for the binary task).
LIAR_REAL_LABELS: frozenset[str] = frozenset({"true", "mostly-true", "half-true"})
LIAR_FAKE_LABELS: frozenset[str] = frozenset({"barely-true", "false", "pants-fire"})


def label_name(y: int) -> str:
    """Name of a 0/1 label, so the direction is spelled out wherever it is shown."""
    return LABEL_NAMES[int(y)]


def liar_to_binary(label: str) -> int:
    """Map a LIAR six-way label to the binary convention; unknown labels raise."""
    key = label.strip().lower()
    if key in LIAR_REAL_LABELS:
        return REAL
    if key in LIAR_FAKE_LABELS:
        return FAKE
    raise ValueError(
        f"unknown LIAR label {label!r}; expected one of {sorted(LIAR_REAL_LABELS | LIAR_FAKE_LABELS)}"
    )


def isot_hf_to_convention(label: int) -> int:
    """ErfanMoosaviMonazzah/fake-news-detection-dataset-English uses 0 = fake, 1 = real: flip."""
    return FAKE if int(label) == 0 else REAL


def flip_if(label: int, fake_value: int) -> int:
    """Map a raw 0/1 label onto the convention given which raw value means "fake"."""
    return FAKE if int(label) == int(fake_value) else REAL
