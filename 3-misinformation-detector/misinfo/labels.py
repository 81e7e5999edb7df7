"""The one place the label convention lives: y = 1 is "fake" (misinformation), 0 is "real".

Every loader maps its dataset onto this convention so models, metrics, artifacts and the
app never have to guess which way a 0/1 points.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

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


# Which raw values of a label column mean what, by default (compared by ``label_key``): a claim
# rated "false" is fake news, one rated "true" is real.
DEFAULT_FAKE_VALUES: frozenset[str] = frozenset({"fake", "false", "1"})
DEFAULT_REAL_VALUES: frozenset[str] = frozenset({"real", "true", "0"})


def label_key(value: object) -> str:
    """How raw labels are compared: stripped, lower-case, and ``1.0``/``0.0`` as ``1``/``0``."""
    key = str(value).strip().lower()
    try:
        number = float(key)
    except ValueError:
        return key
    return str(int(number)) if number.is_integer() else key


@dataclass(frozen=True)
class LabelMapping:
    """Which raw label values mean fake and which mean real; anything else is an error.

    Why explicit: a dataset where 0 means fake, a third class or blank labels used to train
    silently as "real". Build one with :meth:`from_values`.
    """

    fake: frozenset[str] = DEFAULT_FAKE_VALUES
    real: frozenset[str] = DEFAULT_REAL_VALUES

    @classmethod
    def from_values(
        cls, fake: Iterable[str] | None = None, real: Iterable[str] | None = None
    ) -> LabelMapping:
        """A mapping from the values given; a side left out keeps its defaults minus the
        values given for the other side (so ``fake=["0"]`` alone means real = real, true)."""
        fake_keys = None if fake is None else frozenset(map(label_key, fake))
        real_keys = None if real is None else frozenset(map(label_key, real))
        if fake_keys is None:
            fake_keys = DEFAULT_FAKE_VALUES - (real_keys or frozenset())
        if real_keys is None:
            real_keys = DEFAULT_REAL_VALUES - fake_keys
        both = fake_keys & real_keys
        if both:
            raise ValueError(f"label values {sorted(both)} are given as both fake and real.")
        if not fake_keys or not real_keys:
            raise ValueError("a label mapping needs at least one fake and one real value.")
        return cls(fake_keys, real_keys)

    def describe(self) -> str:
        """``fake = 1, fake, false; real = 0, real, true`` (for messages and manifests)."""
        return f"fake = {', '.join(sorted(self.fake))}; real = {', '.join(sorted(self.real))}"

    def apply(self, values: Iterable[object], column: str = "label") -> list[int]:
        """0/1 labels in the package convention; any value outside the mapping (a blank, a
        third class, 0 where 0 should mean fake...) is a ValueError naming the values."""
        keys = [label_key(v) for v in values]
        unknown = Counter(k for k in keys if k not in self.fake and k not in self.real)
        if unknown:
            listing = ", ".join(
                f"{'blank' if not k else repr(k[:40])} ({n:,} row{'' if n == 1 else 's'})"
                for k, n in unknown.most_common(5)
            )
            more = f" and {len(unknown) - 5} more" if len(unknown) > 5 else ""
            raise ValueError(
                f"label column {column!r} has values that are neither fake nor real: "
                f"{listing}{more}. Labels are read as {self.describe()} (case-insensitive); "
                "map the others explicitly with fake=VALUES and real=VALUES, or fix those rows."
            )
        return [FAKE if k in self.fake else REAL for k in keys]
