"""Artifacts folder: the manifest (JSON) and safe (de)serialisation of every model file.

Why: the app loads models from a folder a user can configure, so nothing here ever unpickles.
scikit-learn models go through skops with an explicit list of trusted types, transformers
through ``save_pretrained`` (safetensors), numbers through JSON; every file's sha256 is in the
manifest and checked on load so a swapped or half-written file is caught with a clear error.
"""

from __future__ import annotations

import hashlib
import json
import platform
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from misinfo.labels import LABEL_MEANING, LABEL_NAMES

MANIFEST_NAME = "manifest.json"
MANIFEST_VERSION = 1
HOW_TO_GET_MODELS = (
    "run `make app` (trains the quick models first) or "
    "`python -m misinfo.train --recipe quick --data synthetic --out {dir}` "
    "(or `--recipe cpu --data liar:PATH` for real-data models; see 3-misinformation-detector/models/README.md)"
)

# Every type a skops file written by this package may contain. Anything else is refused.
TRUSTED_SKOPS_TYPES: list[str] = [
    "collections.defaultdict",
    "numpy.dtype",
    "numpy.float64",
    "numpy.int64",
    "numpy.ndarray",
    "scipy.sparse._csr.csr_matrix",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.feature_extraction.text.TfidfVectorizer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.pipeline.Pipeline",
    "sklearn.preprocessing._data.StandardScaler",
    "builtins.float",
    "builtins.int",
    "builtins.str",
    "builtins.dict",
    "builtins.list",
    "builtins.tuple",
    "builtins.slice",
    "builtins.type",
    "builtins.NoneType",
]


class ArtifactError(Exception):
    """Raised when an artifacts folder is missing, incomplete, tampered with or incompatible.

    The message always says what is wrong and how to fix it, because the app shows it verbatim.
    """


@dataclass
class Manifest:
    """Everything the app and a reader need to know about a trained artifacts folder."""

    members: list[str]
    files: dict[str, str]  # relative path -> sha256
    label_names: list[str] = field(default_factory=lambda: list(LABEL_NAMES))
    label_meaning: str = LABEL_MEANING
    threshold: float = 0.5
    temperatures: dict[str, float] = field(default_factory=dict)
    ensemble: dict[str, Any] = field(default_factory=dict)
    model_names: dict[str, str] = field(default_factory=dict)
    member_kinds: dict[str, str] = field(
        default_factory=dict
    )  # member -> tfidf|features|transformer
    member_paths: dict[str, str] = field(
        default_factory=dict
    )  # member -> file/folder in the artifacts dir
    max_length: int = 256
    metrics: dict[str, Any] = field(default_factory=dict)
    training_data: dict[str, Any] = field(default_factory=dict)
    feature_distribution: dict[str, dict[str, float]] = field(default_factory=dict)
    feature_names: list[str] = field(default_factory=list)
    recipe: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    created: str = ""
    manifest_version: int = MANIFEST_VERSION

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for JSON."""
        return asdict(self)


def sha256_file(path: str | Path) -> str:
    """Hex sha256 of a file, read in blocks so large weights do not fill memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha256_texts(texts: list[str], labels: list[int] | np.ndarray) -> str:
    """Hash of the training data (texts and labels) so a manifest says exactly what it saw."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(str(int(label)).encode())
        digest.update(b"\t")
        digest.update(text.encode("utf-8", "replace"))
        digest.update(b"\n")
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose formats the artifacts depend on."""
    versions = {"python": platform.python_version()}
    for name in ("misinfo", "scikit-learn", "skops", "numpy", "torch", "transformers", "pandas"):
        if name == "misinfo":
            from misinfo import __version__

            versions[name] = __version__
            continue
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def hash_artifact_files(directory: str | Path) -> dict[str, str]:
    """sha256 of every file under the folder except the manifest itself (sorted, posix paths)."""
    root = Path(directory)
    hashes: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.name != MANIFEST_NAME:
            hashes[path.relative_to(root).as_posix()] = sha256_file(path)
    return hashes


def save_manifest(directory: str | Path, manifest: Manifest) -> Path:
    """Hash every artifact file, then write manifest.json (written last, so its presence
    means the folder is complete)."""
    root = Path(directory)
    manifest.files = hash_artifact_files(root)
    if not manifest.versions:
        manifest.versions = library_versions()
    path = root / MANIFEST_NAME
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(manifest.to_dict(), indent=2, default=_json_default, sort_keys=False))
    tmp.replace(path)
    return path


def load_manifest(directory: str | Path) -> Manifest:
    """Read and validate manifest.json; raise ArtifactError saying how to fix any problem."""
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(
            f"no models in {root}: the folder does not exist. To create it, "
            + HOW_TO_GET_MODELS.format(dir=root)
        )
    path = root / MANIFEST_NAME
    if not path.is_file():
        raise ArtifactError(
            f"no models in {root}: {MANIFEST_NAME} is missing (not trained yet, or training did "
            "not finish). To create it, " + HOW_TO_GET_MODELS.format(dir=root)
        )
    try:
        raw = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{path} is not valid JSON ({exc}); retrain: " + HOW_TO_GET_MODELS.format(dir=root)
        ) from exc
    if raw.get("manifest_version") != MANIFEST_VERSION:
        raise ArtifactError(
            f"{path} has manifest_version {raw.get('manifest_version')!r}, this code reads "
            f"{MANIFEST_VERSION}; retrain: " + HOW_TO_GET_MODELS.format(dir=root)
        )
    known = set(Manifest.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ArtifactError(
            f"{path} has unknown fields {unknown}; was it written by a newer version?"
        )
    try:
        manifest = Manifest(**raw)
    except TypeError as exc:
        raise ArtifactError(
            f"{path} is incomplete ({exc}); retrain: " + HOW_TO_GET_MODELS.format(dir=root)
        ) from exc
    if list(manifest.label_names) != list(LABEL_NAMES):
        raise ArtifactError(
            f"{path} says labels are {manifest.label_names}, this code expects {list(LABEL_NAMES)}"
        )
    if not manifest.members:
        raise ArtifactError(
            f"{path} lists no member models; retrain: " + HOW_TO_GET_MODELS.format(dir=root)
        )
    return manifest


def verify_files(
    directory: str | Path, manifest: Manifest, prefixes: list[str] | None = None
) -> None:
    """Check each file listed in the manifest (optionally only under ``prefixes``) exists and
    matches its sha256, so a tampered or truncated file never reaches a loader."""
    root = Path(directory)
    for rel, expected in manifest.files.items():
        if prefixes is not None and not any(
            rel == p or rel.startswith(p.rstrip("/") + "/") for p in prefixes
        ):
            continue
        path = root / rel
        if not path.is_file():
            raise ArtifactError(
                f"{path} is listed in the manifest but missing; the folder is incomplete. Retrain: "
                + HOW_TO_GET_MODELS.format(dir=root)
            )
        actual = sha256_file(path)
        if actual != expected:
            raise ArtifactError(
                f"hash mismatch for {path}: manifest has {expected[:12]}..., file has {actual[:12]}... "
                "The file was changed after training (or copied incompletely). Do not load it; "
                "retrain: " + HOW_TO_GET_MODELS.format(dir=root)
            )


def save_skops(model: Any, path: str | Path) -> Path:
    """Save a scikit-learn object with skops (no pickle)."""
    import zipfile

    import skops.io as sio

    path = Path(path)
    sio.dump(model, path, compression=zipfile.ZIP_DEFLATED)
    return path


def load_skops(path: str | Path) -> Any:
    """Load a skops file, refusing any type outside TRUSTED_SKOPS_TYPES."""
    import skops.io as sio

    path = Path(path)
    try:
        untrusted = sio.get_untrusted_types(file=path)
    except Exception as exc:
        raise ArtifactError(
            f"{path} is not a readable skops file ({exc}); retrain the models"
        ) from exc
    refused = sorted(set(untrusted) - set(TRUSTED_SKOPS_TYPES))
    if refused:
        raise ArtifactError(
            f"{path} contains types outside the trusted list: {refused}. Refusing to load it; "
            "retrain with this version of misinfo."
        )
    return sio.load(path, trusted=[t for t in untrusted if t in TRUSTED_SKOPS_TYPES])


def save_json(data: Any, path: str | Path) -> Path:
    """Numbers and small structures as JSON (numpy-safe)."""
    path = Path(path)
    path.write_text(json.dumps(data, indent=2, default=_json_default))
    return path


def load_json(path: str | Path) -> Any:
    """Counterpart of save_json."""
    return json.loads(Path(path).read_text())
