"""Artifacts folder: the manifest (JSON), its integrity checks and safe (de)serialisation of
every model file.

Why: the app loads models from a folder a user can configure, so nothing here ever unpickles.
scikit-learn models go through skops with an explicit list of trusted types, transformers
through ``save_pretrained`` (safetensors), numbers through JSON. Integrity, checked on load:

- ``manifest.sha256`` (sha256sum format) holds the hash of ``manifest.json``, so an edited
  manifest (a threshold, a temperature, a member path) is refused;
- every member path must be a relative path that resolves inside the folder, and every file of
  a member must be listed in the manifest with its sha256 and match it; an unlisted or
  outside path is refused before any file is opened, with a message that says nothing about
  files outside the folder.

The hashes catch edits, swaps and half-written copies; they are not a signature (whoever can
write the folder can rewrite the hashes too).
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import TYPE_CHECKING, Any

import numpy as np

from misinfo.labels import LABEL_MEANING, LABEL_NAMES

if TYPE_CHECKING:
    from misinfo.train import TrainOutcome

MANIFEST_NAME = "manifest.json"
MANIFEST_HASH_NAME = "manifest.sha256"
MANIFEST_VERSION = 2  # 2: manifest.sha256 beside it, member paths confined to the folder
DOMAIN_DIR = "domain"  # the out-of-domain check's files (misinfo.domain)
HOW_TO_GET_MODELS = (
    "run `make app` (trains the quick models first) or "
    "`python -m misinfo.train --recipe quick --data synthetic --out {dir}` "
    "(or `--recipe cpu --data constraint:PATH` for real-data models; see "
    "3-misinformation-detector/models/README.md)"
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
    # the out-of-domain check (misinfo.domain): path, space, k, threshold, measured flag rates;
    # empty in folders trained before it existed (they load, without the check)
    domain: dict[str, Any] = field(default_factory=dict)
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


_NOT_HASHED = {MANIFEST_NAME, MANIFEST_HASH_NAME}


def hash_artifact_files(directory: str | Path) -> dict[str, str]:
    """sha256 of every file under the folder except the manifest and its hash (sorted, posix
    paths)."""
    root = Path(directory)
    hashes: dict[str, str] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and path.relative_to(root).as_posix() not in _NOT_HASHED:
            hashes[path.relative_to(root).as_posix()] = sha256_file(path)
    return hashes


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


def save_manifest(directory: str | Path, manifest: Manifest) -> Path:
    """Hash every artifact file, write manifest.json, then manifest.sha256 (written last, so
    its presence means the folder is complete)."""
    root = Path(directory)
    (root / MANIFEST_HASH_NAME).unlink(missing_ok=True)
    manifest.files = hash_artifact_files(root)
    if not manifest.versions:
        manifest.versions = library_versions()
    path = root / MANIFEST_NAME
    text = json.dumps(manifest.to_dict(), indent=2, default=_json_default, sort_keys=False)
    _write_atomically(path, text)
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    _write_atomically(root / MANIFEST_HASH_NAME, f"{digest}  {MANIFEST_NAME}\n")
    return path


def save_artifacts(outcome: TrainOutcome, out_dir: str | Path) -> Path:
    """Write every member in its safe format, then the manifest with per-file hashes and
    manifest.sha256 (the folder is incomplete until both exist)."""
    from misinfo.features import feature_quantiles

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for stale in (MANIFEST_HASH_NAME, MANIFEST_NAME):
        (out / stale).unlink(missing_ok=True)
    paths: dict[str, str] = {}
    for name, member in outcome.members.items():
        paths[name] = member.artifact_name(name)
        member.save(out / paths[name])
    domain = {}
    if outcome.domain is not None:
        outcome.domain.save(out / DOMAIN_DIR)
        domain = outcome.domain.to_manifest(DOMAIN_DIR)
    train = outcome.splits["train"]
    manifest = Manifest(
        members=list(outcome.members),
        files={},
        threshold=0.5,
        temperatures={k: float(v) for k, v in outcome.temperatures.items()},
        ensemble={k: e.to_dict() for k, e in outcome.ensembles.items()},
        model_names=dict(outcome.model_names),
        member_kinds={name: str(m.kind) for name, m in outcome.members.items()},
        member_paths=paths,
        max_length=outcome.recipe.max_length,
        metrics={k: {mk: float(mv) for mk, mv in v.items()} for k, v in outcome.metrics.items()},
        training_data={
            "description": outcome.data_description,
            "rows": {k: len(v) for k, v in outcome.splits.items()},
            "fake_share_train": float(train["label"].mean()),
            "sha256": sha256_texts(train["text"].tolist(), train["label"].to_numpy()),
            "cleaning": outcome.cleaning.to_dict(),
            "metrics_split": "test",
        },
        feature_distribution=feature_quantiles(outcome.features["train"]),
        feature_names=list(outcome.features["train"].columns),
        recipe=outcome.recipe.as_dict(),
        domain=domain,
        versions=library_versions(),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    save_manifest(out, manifest)
    return out


def _read_verified_manifest(root: Path) -> bytes:
    """manifest.json's bytes, after checking them against manifest.sha256 (read once, so the
    bytes parsed are the bytes checked)."""
    path, hash_path = root / MANIFEST_NAME, root / MANIFEST_HASH_NAME
    sets = model_sets(root)
    if not path.is_file() and sets:
        raise ArtifactError(
            f"{root.name} holds {len(sets)} model sets ({', '.join(sets)}), not one: choose one, "
            f"e.g. {root / next(iter(sets))}"
        )
    if not path.is_file():
        raise ArtifactError(
            f"no models in {root}: {MANIFEST_NAME} is missing (not trained yet, or training did "
            "not finish). To create it, " + HOW_TO_GET_MODELS.format(dir=root)
        )
    for own in (MANIFEST_NAME, MANIFEST_HASH_NAME):  # a link to a file elsewhere is not opened
        inside(root, own, "the manifest file (or a link to it)")
    data = path.read_bytes()
    if not hash_path.is_file():
        raise ArtifactError(
            f"{MANIFEST_HASH_NAME} is missing in {root.name}: the folder was written by an older "
            "version of misinfo, training did not finish, or the manifest was replaced. Do not "
            "load it; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    expected = hash_path.read_text(encoding="ascii", errors="replace").split(" ")[0].strip()
    if hashlib.sha256(data).hexdigest() != expected:
        raise ArtifactError(
            f"{MANIFEST_NAME} in {root.name} does not match {MANIFEST_HASH_NAME}: it was edited "
            "after training (a threshold, a temperature or a member path, for example) or copied "
            "incompletely. Do not load it; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    return data


CROSS_SCORES_NAME = "cross_dataset.json"


def model_sets(root: str | Path) -> dict[str, Path]:
    """The model sets under ``root``: ``root`` itself when it holds a manifest, else each
    sub-folder that does (``models/constraint``, ``models/liar``...), by folder name."""
    root = Path(root)
    if (root / MANIFEST_NAME).is_file():
        return {root.name: root}
    if not root.is_dir():
        return {}
    return {p.name: p for p in sorted(root.iterdir()) if (p / MANIFEST_NAME).is_file()}


def save_cross_scores(folder: str | Path, scores: Mapping[str, Mapping[str, float]]) -> Path:
    """How a model set scored on each dataset's test split (dataset -> metrics), kept beside
    its manifest for the app's sidebar. Written after training and not hash-checked: it is
    shown, never used to predict."""
    path = Path(folder) / CROSS_SCORES_NAME
    clean = {str(d): {str(k): float(v) for k, v in m.items()} for d, m in scores.items()}
    path.write_text(json.dumps(clean, indent=2, allow_nan=True), encoding="utf-8")
    return path


def load_cross_scores(folder: str | Path) -> dict[str, dict[str, float]]:
    """The scores ``save_cross_scores`` wrote ({} when there are none or they are unreadable:
    the app then shows only the in-domain metrics of the manifest)."""
    try:
        raw = json.loads((Path(folder) / CROSS_SCORES_NAME).read_text(encoding="utf-8"))
        return {str(d): {str(k): float(v) for k, v in m.items()} for d, m in dict(raw).items()}
    except (OSError, ValueError, TypeError, AttributeError):
        return {}


def load_manifest(directory: str | Path) -> Manifest:
    """Read manifest.json, check it against manifest.sha256 and validate it (every path in it
    must stay inside the folder); raise ArtifactError saying how to fix any problem."""
    root = Path(directory)
    if not root.is_dir():
        raise ArtifactError(
            f"no models in {root}: the folder does not exist. To create it, "
            + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    where = f"{MANIFEST_NAME} in {root.name}"
    data = _read_verified_manifest(root)
    try:
        raw = json.loads(data.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ArtifactError(
            f"{where} is not valid JSON ({exc}); retrain: "
            + HOW_TO_GET_MODELS.format(dir=root.name)
        ) from exc
    if raw.get("manifest_version") != MANIFEST_VERSION:
        raise ArtifactError(
            f"{where} has manifest_version {raw.get('manifest_version')!r}, this code reads "
            f"{MANIFEST_VERSION}; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    known = set(Manifest.__dataclass_fields__)
    unknown = sorted(set(raw) - known)
    if unknown:
        raise ArtifactError(
            f"{where} has unknown fields {unknown}; was it written by a newer version?"
        )
    try:
        manifest = Manifest(**raw)
    except TypeError as exc:
        raise ArtifactError(
            f"{where} is incomplete ({exc}); retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        ) from exc
    if list(manifest.label_names) != list(LABEL_NAMES):
        raise ArtifactError(
            f"{where} says labels are {manifest.label_names}, this code expects {list(LABEL_NAMES)}"
        )
    if not manifest.members:
        raise ArtifactError(
            f"{where} lists no member models; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    for rel in manifest.files:
        inside(root, rel, "the manifest's listed file")
    for name in manifest.members:
        if name not in manifest.member_paths or name not in manifest.member_kinds:
            raise ArtifactError(f"{where} does not say how to load member {name!r}; retrain")
        inside(root, manifest.member_paths[name], f"the manifest's path of member {name!r}")
    if manifest.domain:
        inside(root, str(manifest.domain.get("path", "")), "the manifest's out-of-domain path")
    return manifest


def inside(root: Path, rel: str, what: str) -> Path:
    """``root / rel`` if ``rel`` is a relative path that stays inside ``root`` (symbolic links
    resolved); otherwise an ArtifactError that repeats only the manifest's own text, so it
    tells nothing about what exists outside the folder. Nothing is opened here."""
    pure = PurePosixPath(rel)
    refused = (
        not rel
        or "\\" in rel
        or pure.is_absolute()
        or PureWindowsPath(rel).drive != ""
        or any(part in ("..", ".") for part in pure.parts)
        or rel != pure.as_posix()
    )
    path = root / pure
    if refused or not Path(os.path.realpath(path)).is_relative_to(os.path.realpath(root)):
        raise ArtifactError(
            f"{what} {rel!r} is not a path inside the models folder {root.name!r}. Refusing to "
            "load anything from it; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    return path


def _listed_under(manifest: Manifest, rel: str) -> list[str]:
    return [f for f in manifest.files if f == rel or f.startswith(rel.rstrip("/") + "/")]


def verify_members(directory: str | Path, manifest: Manifest, members: Sequence[str]) -> None:
    """Check every file of the named members before a loader sees it (``verify_path``)."""
    root = Path(directory)
    for name in members:
        verify_path(root, manifest, manifest.member_paths[name], f"member {name!r}")


def verify_path(root: Path, manifest: Manifest, rel: str, what: str) -> Path:
    """Check a file or folder the manifest points at (a member, the out-of-domain check)
    before anything reads it: it stays inside the folder, is listed in the manifest, holds no
    unlisted file, and every listed file exists and matches its sha256. Returns its path."""
    path = inside(root, rel, f"the manifest's path of {what}")
    listed = _listed_under(manifest, rel)
    if not listed:
        raise ArtifactError(
            f"{what} ({rel}) is not listed in the manifest's file hashes, so it "
            "cannot be checked. Refusing to load it; retrain: "
            + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    if path.is_dir():
        present = sorted(p.relative_to(root).as_posix() for p in path.rglob("*") if p.is_file())
        unlisted = [p for p in present if p not in manifest.files]
        if unlisted:
            raise ArtifactError(
                f"{what} holds files the manifest does not list: {unlisted[:5]}. "
                "Something was added after training; remove them or retrain: "
                + HOW_TO_GET_MODELS.format(dir=root.name)
            )
    for file in listed:
        _check_hash(
            root, inside(root, file, "the manifest's listed file"), file, manifest.files[file]
        )
    return path


def _check_hash(root: Path, path: Path, rel: str, expected: str) -> None:
    if not path.is_file():
        raise ArtifactError(
            f"{rel} is listed in the manifest of {root.name} but missing; the folder is "
            "incomplete. Retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )
    actual = sha256_file(path)
    if actual != expected:
        raise ArtifactError(
            f"hash mismatch for {rel} in {root.name}: manifest has {expected[:12]}..., file has "
            f"{actual[:12]}... The file was changed after training (or copied incompletely). "
            "Do not load it; retrain: " + HOW_TO_GET_MODELS.format(dir=root.name)
        )


def folder_fingerprint(directory: str | Path) -> str:
    """A cheap identity of the folder's current state (the manifest's bytes, and the size and
    modification time of every file from stat calls; nothing else is read), so a server that
    caches loaded models notices a change on the next request and loads (and verifies) again."""
    root = Path(directory)
    digest = hashlib.sha256()
    if not root.is_dir():
        return "missing"
    for path in sorted(root.rglob("*")):
        if path.is_file():
            stat = path.stat()
            digest.update(
                f"{path.relative_to(root).as_posix()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode()
            )
    manifest = root / MANIFEST_NAME
    if manifest.is_file() and not manifest.is_symlink():  # a link is refused at load, unread
        digest.update(manifest.read_bytes())
    return digest.hexdigest()


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
