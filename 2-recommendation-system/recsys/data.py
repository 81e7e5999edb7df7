"""MovieLens loaders (official files, checksummed GroupLens zips) and a synthetic look-alike.

Every loader returns the same :class:`RatingsData`: contiguous 0-based user and item indices,
so that the models can work on sparse matrices without re-mapping ids.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

GROUPLENS_BASE = "https://files.grouplens.org/datasets/movielens"

# Published MD5 sums (the ``.md5`` sidecar files next to each zip on files.grouplens.org).
# ml-latest-small is re-released from time to time, so its sum is fetched from the sidecar.
DATASETS: dict[str, dict[str, str | None]] = {
    "ml-100k": {"url": f"{GROUPLENS_BASE}/ml-100k.zip", "md5": "0e33842e24a9c977be4e0107933c0723"},
    "ml-1m": {"url": f"{GROUPLENS_BASE}/ml-1m.zip", "md5": "c4d9eecfca2ab87c1945afe126590906"},
    "ml-latest-small": {"url": f"{GROUPLENS_BASE}/ml-latest-small.zip", "md5": None},
    "ml-25m": {"url": f"{GROUPLENS_BASE}/ml-25m.zip", "md5": None},
}

# The files each variant's loader reads (ml-25m shares ml-latest-small's CSV layout).
VARIANT_FILES: dict[str, tuple[str, str]] = {
    "ml-100k": ("u.data", "u.item"),
    "ml-1m": ("ratings.dat", "movies.dat"),
    "ml-latest-small": ("ratings.csv", "movies.csv"),
    "ml-25m": ("ratings.csv", "movies.csv"),
}

ML100K_GENRES = (
    "unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
    "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
    "Romance", "Sci-Fi", "Thriller", "War", "Western",
)  # fmt: skip


class DataFormatError(ValueError):
    """A MovieLens file exists but does not look like the official format."""


class ChecksumError(RuntimeError):
    """A downloaded archive does not match its published checksum."""


@dataclass
class RatingsData:
    """Ratings with contiguous indices plus item metadata for content models.

    ``ratings`` columns: user, item (0-based), rating, timestamp, user_id, item_id (original).
    ``items`` is indexed by the 0-based item index: item_id, title, genres ("A|B"), tags ("" if none).
    """

    ratings: pd.DataFrame
    items: pd.DataFrame
    name: str
    truth: dict[str, np.ndarray] = field(default_factory=dict)  # synthetic data only

    @property
    def n_users(self) -> int:
        return int(self.ratings["user"].max()) + 1 if len(self.ratings) else 0

    @property
    def n_items(self) -> int:
        return len(self.items)

    def rating_matrix(self) -> sp.csr_matrix:
        """User x item explicit ratings as CSR (the input most models start from)."""
        r = self.ratings
        return sp.csr_matrix(
            (r["rating"].to_numpy(float), (r["user"].to_numpy(), r["item"].to_numpy())),
            shape=(self.n_users, self.n_items),
        )

    def summary(self) -> dict[str, float]:
        n = len(self.ratings)
        return {
            "users": self.n_users,
            "items": self.n_items,
            "ratings": n,
            "density": n / max(1, self.n_users * self.n_items),
            "mean_rating": float(self.ratings["rating"].mean()) if n else float("nan"),
        }


def _require_columns(df: pd.DataFrame, n_expected: int, path: Path) -> None:
    if df.shape[1] != n_expected:
        raise DataFormatError(
            f"{path} has {df.shape[1]} columns, expected {n_expected} (official MovieLens layout). "
            "Is this the right file?"
        )


def _require_files(folder: Path, name: str) -> tuple[Path, Path]:
    """The variant's two files in ``folder``; a missing one is an error that says what to do."""
    needed = VARIANT_FILES[name]
    missing = [f for f in needed if not (folder / f).is_file()]
    if missing:
        present = [
            v for v, files in VARIANT_FILES.items() if all((folder / f).is_file() for f in files)
        ]
        hint = (
            f" The folder holds the files of {' / '.join(present)}: set the dataset to that "
            'variant (the recipe\'s `dataset`, e.g. OVERRIDES = {"dataset": '
            f'"{present[0]}"}}, or `name=`).'
            if present
            else ""
        )
        layouts = "; ".join(f"{v}: {', '.join(f)}" for v, f in VARIANT_FILES.items())
        raise FileNotFoundError(
            f"{folder} has no {' or '.join(missing)}, so it is not an unzipped {name} folder "
            f"(looked for {', '.join(needed)}). Variants and their files: {layouts}.{hint} "
            "Point MOVIELENS_PATH (or `path=`) at the official folder, or leave it unset to "
            "download the checksummed zip."
        )
    return folder / needed[0], folder / needed[1]


def _encode(ratings: pd.DataFrame, items: pd.DataFrame, name: str) -> RatingsData:
    """Map original ids to contiguous indices; items without ratings keep an index."""
    items = items.drop_duplicates("item_id").sort_values("item_id").reset_index(drop=True)
    unknown = ~ratings["item_id"].isin(items["item_id"])
    if unknown.any():
        raise DataFormatError(
            f"{int(unknown.sum())} ratings refer to items missing from the item file"
        )
    item_index = pd.Series(np.arange(len(items)), index=items["item_id"].to_numpy())
    user_ids = np.sort(ratings["user_id"].unique())
    user_index = pd.Series(np.arange(len(user_ids)), index=user_ids)
    out = pd.DataFrame(
        {
            "user": user_index.loc[ratings["user_id"].to_numpy()].to_numpy(),
            "item": item_index.loc[ratings["item_id"].to_numpy()].to_numpy(),
            "rating": ratings["rating"].to_numpy(float),
            "timestamp": ratings["timestamp"].to_numpy(np.int64),
            "user_id": ratings["user_id"].to_numpy(),
            "item_id": ratings["item_id"].to_numpy(),
        }
    )
    if "tags" not in items:
        items = items.assign(tags="")
    return RatingsData(out, items[["item_id", "title", "genres", "tags"]], name)


def load_ml100k(path: str | os.PathLike) -> RatingsData:
    """Load the official ml-100k folder (u.data tab-separated, u.item pipe-separated latin-1)."""
    data_path, item_path = _require_files(Path(path), "ml-100k")
    ratings = pd.read_csv(data_path, sep="\t", header=None, engine="c")
    _require_columns(ratings, 4, data_path)
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    raw_items = pd.read_csv(item_path, sep="|", header=None, encoding="latin-1", dtype=str)
    _require_columns(raw_items, 5 + len(ML100K_GENRES), item_path)
    flags = raw_items.iloc[:, 5:].astype(int).to_numpy().astype(bool)
    genres = ["|".join(g for g, f in zip(ML100K_GENRES, row, strict=True) if f) for row in flags]
    items = pd.DataFrame(
        {"item_id": raw_items[0].astype(int), "title": raw_items[1].fillna(""), "genres": genres}
    )
    return _encode(ratings, items, "ml-100k")


def load_ml1m(path: str | os.PathLike) -> RatingsData:
    """Load the official ml-1m folder (ratings.dat / movies.dat, '::' separated, latin-1)."""
    rpath, mpath = _require_files(Path(path), "ml-1m")
    ratings = pd.read_csv(rpath, sep="::", header=None, engine="python", encoding="latin-1")
    _require_columns(ratings, 4, rpath)
    ratings.columns = ["user_id", "item_id", "rating", "timestamp"]
    movies = pd.read_csv(mpath, sep="::", header=None, engine="python", encoding="latin-1")
    _require_columns(movies, 3, mpath)
    movies.columns = ["item_id", "title", "genres"]
    return _encode(ratings, movies, "ml-1m")


def load_movielens_csv(path: str | os.PathLike, name: str = "ml-latest-small") -> RatingsData:
    """Load a CSV-layout variant: ml-latest-small or ml-25m (ratings.csv, movies.csv, tags.csv)."""
    folder = Path(path)
    rpath, mpath = _require_files(folder, name)
    ratings = pd.read_csv(rpath)
    movies = pd.read_csv(mpath)
    for df, cols, p in (
        (ratings, ["userId", "movieId", "rating", "timestamp"], rpath),
        (movies, ["movieId", "title", "genres"], mpath),
    ):
        if list(df.columns) != cols:
            raise DataFormatError(f"{p} has columns {list(df.columns)}, expected {cols}")
    ratings = ratings.rename(columns={"userId": "user_id", "movieId": "item_id"})
    movies = movies.rename(columns={"movieId": "item_id"})
    movies["genres"] = movies["genres"].replace("(no genres listed)", "")
    tag_path = folder / "tags.csv"
    if tag_path.is_file():
        tags = pd.read_csv(tag_path)
        joined = tags.groupby("movieId")["tag"].agg(lambda s: " ".join(map(str, s)))
        movies["tags"] = movies["item_id"].map(joined).fillna("")
    return _encode(ratings, movies, name)


def load_ml_latest_small(path: str | os.PathLike) -> RatingsData:
    """Load ml-latest-small (ratings.csv, movies.csv and tags.csv when present)."""
    return load_movielens_csv(path, "ml-latest-small")


def load_ml25m(path: str | os.PathLike) -> RatingsData:
    """Load ml-25m (the same CSV layout as ml-latest-small, 25 million ratings)."""
    return load_movielens_csv(path, "ml-25m")


LOADERS = {
    "ml-100k": load_ml100k,
    "ml-1m": load_ml1m,
    "ml-latest-small": load_ml_latest_small,
    "ml-25m": load_ml25m,
}


def default_cache_dir() -> Path:
    """Downloads live outside the repository (``$RECSYS_CACHE`` or ~/.cache/recsys)."""
    return Path(os.environ.get("RECSYS_CACHE", Path.home() / ".cache" / "recsys"))


def md5_of(path: str | os.PathLike) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def verify_and_extract(zip_path: str | os.PathLike, md5: str, dest: str | os.PathLike) -> Path:
    """Check the archive against the published MD5, then unzip; returns the dataset folder."""
    actual = md5_of(zip_path)
    if actual != md5.lower():
        raise ChecksumError(
            f"{zip_path}: MD5 {actual} does not match the published {md5}. The download is "
            "corrupt or not the official file; delete it and retry, or supply the official folder."
        )
    dest = Path(dest)
    with zipfile.ZipFile(zip_path) as zf:
        zf.extractall(dest)
        top = {Path(n).parts[0] for n in zf.namelist() if n.strip("/")}
    return dest / top.pop() if len(top) == 1 else dest


def _fetch(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.read()
    except (urllib.error.URLError, TimeoutError) as exc:
        raise RuntimeError(
            f"Could not download {url}: {exc}. Download it by hand, unzip it, and pass the "
            "folder as `path=` or set MOVIELENS_PATH."
        ) from exc


def published_md5(name: str) -> str:
    """The pinned MD5, or the one in GroupLens' ``.md5`` sidecar ("MD5 (file) = hex")."""
    pinned = DATASETS[name]["md5"]
    if pinned:
        return pinned
    text = _fetch(f"{DATASETS[name]['url']}.md5").decode().strip()
    return text.split("=")[-1].strip().split()[0]


def download_movielens(name: str = "ml-100k", cache_dir: str | os.PathLike | None = None) -> Path:
    """Download (once) and verify a GroupLens zip; returns the extracted folder."""
    if name not in DATASETS:
        raise ValueError(f"Unknown dataset {name!r}; choose from {sorted(DATASETS)}")
    cache = Path(cache_dir) if cache_dir else default_cache_dir()
    folder = cache / name
    if folder.is_dir() and any(folder.iterdir()):
        return folder
    cache.mkdir(parents=True, exist_ok=True)
    zip_path = cache / f"{name}.zip"
    if not zip_path.is_file():
        tmp = zip_path.with_suffix(".part")
        tmp.write_bytes(_fetch(str(DATASETS[name]["url"])))
        shutil.move(tmp, zip_path)
    try:
        return verify_and_extract(zip_path, published_md5(name), cache)
    except ChecksumError:
        zip_path.unlink(missing_ok=True)
        raise


def load_movielens(path: str | os.PathLike | None = None, name: str = "ml-100k") -> RatingsData:
    """Load variant ``name`` from a local official folder when given, else download its zip.

    A folder that holds the unzipped variant one level down (``path/ml-25m/...``) works too.
    """
    if name not in LOADERS:
        raise ValueError(f"Unknown MovieLens variant {name!r}; choose from {', '.join(LOADERS)}")
    folder = Path(path) if path else download_movielens(name)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder} is not a folder of MovieLens files")
    if (folder / name).is_dir() and not (folder / VARIANT_FILES[name][0]).is_file():
        folder = folder / name
    return LOADERS[name](folder)


# ---------------------------------------------------------------------------------------------
# Synthetic data for smoke runs: a latent-factor world so the models have real signal to find.
# ---------------------------------------------------------------------------------------------

_WORDS = np.array(
    [
        "star",
        "night",
        "river",
        "dark",
        "love",
        "last",
        "city",
        "king",
        "lost",
        "war",
        "blue",
        "dream",
        "road",
        "heart",
        "ghost",
        "storm",
        "secret",
        "house",
        "summer",
        "return",
    ]
)


def synthetic_movielens(
    n_users: int = 300,
    n_items: int = 400,
    n_factors: int = 8,
    ratings_per_user: tuple[int, int] = (20, 80),
    seed: int = 0,
) -> RatingsData:
    """MovieLens-shaped data drawn from a latent-factor model.

    Each item has a genre tied to its dominant latent factor (so content models see signal),
    a title built from words tied to the same factor, and a popularity; users pick items with
    probability proportional to popularity x exp(affinity) and rate them by affinity.
    ``truth`` keeps the factors so the A/B simulation can use a held-out preference model.
    """
    rng = np.random.default_rng(seed)
    users = rng.normal(size=(n_users, n_factors))
    items = rng.normal(size=(n_items, n_factors))
    genre_names = np.array(ML100K_GENRES[1 : n_factors + 1])
    dominant = np.argmax(items, axis=1)
    item_pop = rng.lognormal(0.0, 1.0, size=n_items)
    affinity = users @ items.T / np.sqrt(n_factors)
    logits = np.log(item_pop)[None, :] + 1.5 * affinity
    counts = rng.integers(ratings_per_user[0], ratings_per_user[1] + 1, size=n_users)
    counts = np.minimum(counts, n_items)
    # Gumbel top-k: sample without replacement proportional to exp(logits), vectorised.
    keys = logits + rng.gumbel(size=logits.shape)
    order = np.argsort(-keys, axis=1)
    rows = np.repeat(np.arange(n_users), counts)
    cols = np.concatenate([order[u, : counts[u]] for u in range(n_users)])
    aff = affinity[rows, cols]
    stars = np.clip(np.rint(2.9 + 1.1 * aff + rng.normal(0, 0.6, size=aff.size)), 1, 5)
    t0 = 874_724_710  # MovieLens-100K's first timestamp
    ts = t0 + rng.integers(0, 200 * 86_400, size=aff.size)
    ratings = pd.DataFrame(
        {"user_id": rows + 1, "item_id": cols + 1, "rating": stars, "timestamp": ts}
    )
    word_ids = (dominant[:, None] * 2 + rng.integers(0, 2, size=(n_items, 1))) % len(_WORDS)
    titles = [
        f"The {_WORDS[w].title()} {_WORDS[rng.integers(len(_WORDS))].title()} ({1950 + i % 48})"
        for i, w in enumerate(word_ids[:, 0])
    ]
    second = rng.integers(0, n_factors, size=n_items)
    two = rng.random(n_items) < 0.5
    genres = [
        "|".join(genre_names[sorted({d, s} if t else {d})])
        for d, s, t in zip(dominant, second, two, strict=True)
    ]
    item_df = pd.DataFrame(
        {"item_id": np.arange(1, n_items + 1), "title": titles, "genres": genres}
    )
    data = _encode(ratings, item_df, "synthetic")
    data.truth = {"user_factors": users, "item_factors": items, "item_popularity": item_pop}
    return data


def write_ml100k_files(data: RatingsData, folder: str | os.PathLike) -> Path:
    """Write ``data`` as official-format u.data / u.item (used by tests and the smoke run)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    r = data.ratings[["user_id", "item_id", "rating", "timestamp"]].astype(int)
    r.to_csv(folder / "u.data", sep="\t", header=False, index=False)
    buf = io.StringIO()
    for row in data.items.itertuples():
        flags = ["1" if g in row.genres.split("|") else "0" for g in ML100K_GENRES]
        buf.write("|".join([str(row.item_id), row.title, "01-Jan-1995", "", "http://x", *flags]))
        buf.write("\n")
    (folder / "u.item").write_bytes(buf.getvalue().encode("latin-1"))
    return folder


def genre_matrix(items: pd.DataFrame) -> np.ndarray:
    """Items x genres 0/1 matrix (for intra-list diversity and the A/B preference model)."""
    dummies = items["genres"].fillna("").str.get_dummies(sep="|")
    return dummies.to_numpy(float) if dummies.shape[1] else np.zeros((len(items), 1))
