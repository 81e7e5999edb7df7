"""Training orchestration: the full recipe's code path at tiny scale (two transformers, hub
datasets read from local copies, mixed precision on the CPU), the command line, and the
errors a user meets before anything is fitted."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misinfo.data import synthetic_corpus
from misinfo.recipes import TINY_BERT, TINY_DISTILBERT, recipe_for
from misinfo.train import fit_all, load_recipe_data, main


def write_hub_dataset(
    folder: Path, splits: dict[str, pd.DataFrame], features: object = None
) -> Path:
    """A dataset folder in the hub's on-disk layout (``data/<split>-00000-of-00001.parquet``,
    what ``push_to_hub`` writes and ``datasets.load_dataset`` reads), so the real loaders run."""
    from datasets import Dataset

    (folder / "data").mkdir(parents=True)
    for split, frame in splits.items():
        dataset = Dataset.from_pandas(frame, features=features, preserve_index=False)
        dataset.to_parquet(str(folder / "data" / f"{split}-00000-of-00001.parquet"))
    return folder


def isot_like(n: int, seed: int) -> pd.DataFrame:
    """ISOT's columns and label direction (0 = fake, 1 = real), synthetic texts."""
    corpus = synthetic_corpus(n=n, seed=seed)
    return pd.DataFrame(
        {
            "title": [t.split(".")[0][:60] for t in corpus["text"]],
            "text": corpus["text"],
            "subject": np.where(corpus["label"] == 1, "left-news", "politicsNews"),
            "date": "December 1, 2017",
            "label": 1 - corpus["label"],
        }
    )


@pytest.fixture(scope="module")
def hub_copies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from datasets import ClassLabel, Features, Value

    root = tmp_path_factory.mktemp("hub")
    isot = write_hub_dataset(
        root / "isot",
        {"train": isot_like(110, 1), "validation": isot_like(50, 2), "test": isot_like(50, 3)},
    )
    welfake = synthetic_corpus(n=50, seed=4)
    welfake_features = Features(
        {
            "title": Value("string"),
            "text": Value("string"),
            "label": ClassLabel(names=["fake", "real"]),
        }
    )
    welfake = write_hub_dataset(
        root / "welfake",
        {
            "train": pd.DataFrame(
                {"title": "t", "text": welfake["text"], "label": 1 - welfake["label"]}
            )
        },
        welfake_features,
    )
    return {"isot": isot, "welfake": welfake}


def test_the_full_recipe_path_runs_at_tiny_scale(
    hub_copies: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What Colab's full mode runs, on the CPU in seconds: the full recipe (BERT + DistilBERT,
    mixed precision, two epochs with validation, ISOT, WELFake cross-dataset, int8 check), with
    tiny random-init models of both architectures and the hub datasets read from local copies
    in the hub's layout. Nothing downloads (the suite runs with HF_HUB_OFFLINE=1)."""
    import datasets
    import torch

    from misinfo.detector import load_detector
    from misinfo.evaluation import check_saved_models
    from misinfo.train import cross_dataset_check
    from misinfo.transformer import TransformerClassifier

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf-cache")
    full = recipe_for("full")
    tiny = {"bert": TINY_BERT, "distilbert": TINY_DISTILBERT}
    recipe = recipe_for("full", transformers=tiny, max_length=32, batch_size=32, lr=1e-3)
    assert set(recipe.transformers) == set(full.transformers) and recipe.epochs == 2
    autocasts: list[tuple[str, object]] = []
    real_autocast = TransformerClassifier._autocast

    def spy(self: TransformerClassifier) -> object:
        context = real_autocast(self)
        autocasts.append((self.name, context.fast_dtype if context._enabled else None))
        return context

    monkeypatch.setattr(TransformerClassifier, "_autocast", spy)

    raw, description = load_recipe_data(recipe, isot_path=str(hub_copies["isot"]))
    assert set(raw) == {"train", "valid", "test"} and {"subject", "date"} <= set(raw["test"])
    assert raw["train"]["label"].mean() == pytest.approx(1 - isot_like(110, 1)["label"].mean())
    outcome = fit_all(raw, recipe, description, out_dir=tmp_path / "models", log=None)

    assert list(outcome.members) == ["tfidf", "features", "bert", "distilbert"]
    assert type(outcome.members["distilbert"].model).__name__.startswith("DistilBert")  # type: ignore[attr-defined]
    assert {(name, torch.bfloat16) for name in tiny} <= set(autocasts)
    assert set(outcome.transformer_histories()) == {"bert", "distilbert"}
    assert any("valid_loss" in h for h in outcome.transformer_histories()["bert"])
    result = outcome.evaluate()
    assert set(result.table.index) == {"tfidf", "features", "bert", "distilbert", "ensemble"}
    assert set(result.mcnemar.index) == {"tfidf", "features", "bert", "distilbert"}

    cross = cross_dataset_check(
        recipe, tmp_path / "models", welfake_path=str(hub_copies["welfake"])
    )
    assert cross.direction_check["inferred_fake_value"] == 0.0
    assert "ensemble" in cross.table.index and cross.table.loc["ensemble", "n"] > 30
    serving = check_saved_models(tmp_path / "models", outcome.splits["test"], recipe.int8_check_n)
    assert serving.batch_rows_out == serving.batch_rows_in and serving.batch_errors == 1
    assert serving.token_attributions and 0.0 <= serving.int8_agreement <= 1.0
    assert load_detector(tmp_path / "models", members=["bert"], warm_up=False).has_transformer
    json.dumps(
        outcome.to_metrics() | result.to_metrics() | cross.to_metrics() | serving.to_metrics()
    )


def test_a_missing_model_stops_the_run_before_anything_is_fitted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import huggingface_hub.constants

    from misinfo.models import TfidfLogReg
    from misinfo.transformer import ModelUnavailableError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    fitted: list[int] = []
    monkeypatch.setattr(TfidfLogReg, "fit", lambda *a, **k: fitted.append(1))
    recipe = recipe_for("cpu", transformers={"minilm": "no-such-org/no-such-model"})
    raw, description = load_recipe_data(recipe_for("smoke"))
    with pytest.raises(ModelUnavailableError, match="'no-such-org/no-such-model' for member"):
        fit_all(raw, recipe, description, log=None)
    assert not fitted


def test_the_command_line_trains_quick_models_and_reports_a_missing_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from misinfo.detector import load_detector

    assert main(["--recipe", "quick", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["artifacts"] == str(tmp_path / "m") and "ensemble" in summary["test_metrics"]
    assert load_detector(tmp_path / "m", warm_up=False).manifest.recipe["name"] == "quick"

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = ["--recipe", "cpu", "--data", "synthetic", "--transformer-model", "no-such-org/x"]
    assert main([*args, "--out", str(tmp_path / "n"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load transformer 'no-such-org/x' for member 'minilm'")
    assert not (tmp_path / "n").exists()


def test_the_cpu_recipe_asks_for_liar_when_it_has_no_path() -> None:
    with pytest.raises(ValueError, match="set LIAR_PATH"):
        load_recipe_data(recipe_for("cpu"))


@pytest.mark.parametrize(
    ("content", "spec", "says"),
    [
        (None, "csv:{dir}/missing.csv", "no such file"),
        (b"a;b\n1;2\n", "csv:{file}", "no column with text"),
        (b"text,label\nhello there,fake\nhi again,maybe\n", "csv:{file}", "maybe"),
        (None, "liar:{dir}/nope", "lacks"),
        (None, "bogus:x", "unknown data spec"),
    ],
)
def test_a_data_mistake_is_one_line_and_exit_code_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, spec: str, says: str
) -> None:
    file = tmp_path / "in.csv"
    if content is not None:
        file.write_bytes(content)
    code = main(["--data", spec.format(dir=tmp_path, file=file), "--out", str(tmp_path / "m")])
    err = capsys.readouterr().err
    assert code == 2 and says in err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "m").exists()  # nothing fitted, nothing written
