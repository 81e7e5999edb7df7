"""Loaders on tiny files in the official formats, checksum handling and the synthetic generator."""

from __future__ import annotations

import hashlib
import zipfile

import numpy as np
import pandas as pd
import pytest

from recsys.data import (
    ChecksumError,
    DataFormatError,
    genre_matrix,
    load_ml1m,
    load_ml100k,
    load_ml_latest_small,
    load_movielens,
    synthetic_movielens,
    verify_and_extract,
    write_ml100k_files,
)

U_DATA = "1\t10\t5\t881250949\n1\t20\t3\t881250950\n7\t10\t4\t881250951\n"
GENRE_FLAGS_ACTION = "|".join(["0", "1"] + ["0"] * 17)
GENRE_FLAGS_DRAMA_ROMANCE = "|".join(["0"] * 8 + ["1"] + ["0"] * 5 + ["1"] + ["0"] * 4)
U_ITEM = (
    f"10|Café Society (1995)|01-Jan-1995||http://x|{GENRE_FLAGS_ACTION}\n"
    f"20|Amélie (2001)|01-Jan-2001||http://y|{GENRE_FLAGS_DRAMA_ROMANCE}\n"
    f"30|Unrated (1990)|01-Jan-1990||http://z|{GENRE_FLAGS_ACTION}\n"
)


@pytest.fixture
def ml100k_dir(tmp_path):
    (tmp_path / "u.data").write_text(U_DATA)
    (tmp_path / "u.item").write_bytes(U_ITEM.encode("latin-1"))
    return tmp_path


def test_ml100k_parses_official_format(ml100k_dir):
    data = load_ml100k(ml100k_dir)
    assert (data.n_users, data.n_items, len(data.ratings)) == (2, 3, 3)
    assert data.items.loc[0, "title"] == "Café Society (1995)"  # latin-1 decoded
    assert data.items.loc[1, "genres"] == "Drama|Romance"
    assert data.ratings["item"].tolist() == [0, 1, 0]
    assert data.ratings["user"].tolist() == [0, 0, 1]
    assert data.rating_matrix()[1, 0] == 4


def test_ml100k_wrong_columns_and_missing_file(tmp_path, ml100k_dir):
    with pytest.raises(FileNotFoundError, match=r"u\.data"):
        load_ml100k(tmp_path / "nowhere")
    (ml100k_dir / "u.data").write_text("1\t10\t5\n")
    with pytest.raises(DataFormatError, match="3 columns, expected 4"):
        load_ml100k(ml100k_dir)


def test_ratings_for_unknown_items_are_an_error(ml100k_dir):
    (ml100k_dir / "u.data").write_text(U_DATA + "1\t99\t5\t881250952\n")
    with pytest.raises(DataFormatError, match="missing from the item file"):
        load_ml100k(ml100k_dir)


def test_load_movielens_uses_local_folder(ml100k_dir):
    assert load_movielens(ml100k_dir).n_items == 3


def test_zip_checksum_verified(tmp_path, ml100k_dir):
    archive = tmp_path / "ml-100k.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for name in ("u.data", "u.item"):
            zf.write(ml100k_dir / name, f"ml-100k/{name}")
    good = hashlib.md5(archive.read_bytes()).hexdigest()
    with pytest.raises(ChecksumError, match="does not match the published"):
        verify_and_extract(archive, "0" * 32, tmp_path / "out_bad")
    assert not (tmp_path / "out_bad").exists()
    folder = verify_and_extract(archive, good, tmp_path / "out")
    assert folder.name == "ml-100k"
    assert load_ml100k(folder).n_users == 2


def test_ml1m_and_latest_small(tmp_path):
    one_m = tmp_path / "ml-1m"
    one_m.mkdir()
    (one_m / "ratings.dat").write_text("1::5::4::978300760\n2::5::3::978300761\n")
    (one_m / "movies.dat").write_bytes("5::Père (1995)::Comedy|Drama\n".encode("latin-1"))
    d = load_ml1m(one_m)
    assert (d.n_users, d.n_items) == (2, 1) and d.items.loc[0, "title"] == "Père (1995)"
    small = tmp_path / "small"
    small.mkdir()
    (small / "ratings.csv").write_text("userId,movieId,rating,timestamp\n1,1,4.5,964982703\n")
    (small / "movies.csv").write_text(
        'movieId,title,genres\n1,"Toy Story (1995)",Animation\n2,"X (2000)",(no genres listed)\n'
    )
    (small / "tags.csv").write_text("userId,movieId,tag,timestamp\n1,1,pixar,1\n1,1,fun,2\n")
    d = load_ml_latest_small(small)
    assert d.items["tags"].tolist() == ["pixar fun", ""]
    assert d.items["genres"].tolist() == ["Animation", ""]
    (small / "movies.csv").write_text("id,name\n1,x\n")
    with pytest.raises(DataFormatError, match="expected"):
        load_ml_latest_small(small)


def test_synthetic_round_trips_through_official_format(tmp_path):
    data = synthetic_movielens(n_users=40, n_items=60, seed=3)
    assert data.ratings.groupby("user").size().min() >= 20
    assert set(data.ratings["rating"].unique()) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    assert not data.ratings.duplicated(["user", "item"]).any()
    back = load_ml100k(write_ml100k_files(data, tmp_path / "syn"))
    pd.testing.assert_frame_equal(
        back.ratings[["user", "item", "rating"]], data.ratings[["user", "item", "rating"]]
    )
    assert back.items["genres"].tolist() == data.items["genres"].tolist()
    assert genre_matrix(data.items).shape[0] == 60


def test_synthetic_has_signal():
    """Ratings must correlate with the latent affinity the generator used."""
    data = synthetic_movielens(n_users=100, n_items=80, seed=1)
    u, i = data.ratings["user"].to_numpy(), data.ratings["item"].to_numpy()
    aff = np.einsum("nf,nf->n", data.truth["user_factors"][u], data.truth["item_factors"][i])
    assert np.corrcoef(aff, data.ratings["rating"])[0, 1] > 0.5


def _write_csv_variant(folder, tags=True):
    """ml-latest-small / ml-25m layout: UTF-8 CSVs with headers, half-star ratings."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ratings.csv").write_text(
        "userId,movieId,rating,timestamp\n1,1,4.5,1147880044\n1,3,3.0,1147868817\n2,1,5.0,1141415820\n"
    )
    (folder / "movies.csv").write_text(
        "movieId,title,genres\n"
        "1,Toy Story (1995),Adventure|Animation|Children|Comedy|Fantasy\n"
        '2,"City of Lost Children, The (Cité des enfants perdus, La) (1995)",Drama|Mystery\n'
        "3,Grumpier Old Men (1995),(no genres listed)\n"
    )
    if tags:
        (folder / "tags.csv").write_text(
            "userId,movieId,tag,timestamp\n3,1,pixar,1439472355\n4,1,Pixar animation,1573943598\n"
        )
    return folder


def test_ml25m_reads_its_official_csv_layout(tmp_path):
    data = load_movielens(_write_csv_variant(tmp_path / "ml-25m"), "ml-25m")
    assert data.name == "ml-25m"
    assert (data.n_users, data.n_items, len(data.ratings)) == (2, 3, 3)
    assert data.items["title"][1].startswith("City of Lost Children, The (Cité")  # quoted, UTF-8
    assert data.items["genres"].tolist()[2] == ""
    assert data.items["tags"].tolist() == ["pixar Pixar animation", "", ""]
    assert data.ratings["rating"].tolist() == [4.5, 3.0, 5.0]


def test_a_folder_holding_the_variant_one_level_down_is_accepted(tmp_path):
    _write_csv_variant(tmp_path / "ml-latest-small", tags=False)
    assert load_movielens(tmp_path, "ml-latest-small").n_items == 3


def test_wrong_variant_names_the_files_and_the_variant_found(tmp_path, ml100k_dir):
    small = _write_csv_variant(tmp_path / "small")
    with pytest.raises(FileNotFoundError) as info:
        load_movielens(small, "ml-100k")
    message = str(info.value)
    assert "has no u.data or u.item" in message and "looked for u.data, u.item" in message
    assert "ml-1m: ratings.dat, movies.dat" in message  # every variant's layout is listed
    assert "holds the files of ml-latest-small / ml-25m" in message
    with pytest.raises(FileNotFoundError, match="holds the files of ml-100k"):
        load_movielens(ml100k_dir, "ml-25m")
    with pytest.raises(ValueError, match="Unknown MovieLens variant 'ml-10m'; choose from ml-100k"):
        load_movielens(ml100k_dir, "ml-10m")
