"""Training orchestration: the full recipe's code path at tiny scale (two transformers, hub
datasets read from local copies, mixed precision on the CPU), the command line, and the
errors a user meets before anything is fitted."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from misinfo.data import synthetic_corpus, synthetic_splits
from misinfo.recipes import TINY_BERT, TINY_DISTILBERT, recipe_for
from misinfo.train import fit_all, load_other_data, load_recipe_data, main


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
    recipe = recipe_for(
        "full",
        transformers=tiny,
        domain_encoder=TINY_DISTILBERT,  # in place of the hub's sentence encoder
        max_length=32,
        batch_size=32,
        lr=1e-3,
    )
    assert set(recipe.transformers) == set(full.transformers) and recipe.epochs == 2
    autocasts: list[tuple[str, object]] = []
    real_autocast = TransformerClassifier._autocast

    def spy(self: TransformerClassifier) -> object:
        context = real_autocast(self)
        autocasts.append((self.name, context.fast_dtype if context._enabled else None))
        return context

    monkeypatch.setattr(TransformerClassifier, "_autocast", spy)

    raw, description = load_recipe_data(recipe, {"isot": str(hub_copies["isot"])})
    assert set(raw) == {"train", "valid", "test"} and {"subject", "date"} <= set(raw["test"])
    assert raw["train"]["label"].mean() == pytest.approx(1 - isot_like(110, 1)["label"].mean())
    outcome = fit_all(raw, recipe, description, out_dir=tmp_path / "models", log=None)

    assert list(outcome.members) == ["tfidf", "chars", "features", "bert", "distilbert"]
    assert type(outcome.members["distilbert"].model).__name__.startswith("DistilBert")  # type: ignore[attr-defined]
    assert {(name, torch.bfloat16) for name in tiny} <= set(autocasts)
    assert set(outcome.transformer_histories()) == {"bert", "distilbert"}
    assert any("valid_loss" in h for h in outcome.transformer_histories()["bert"])
    result = outcome.evaluate()
    assert set(result.table.index) == {
        "tfidf",
        "chars",
        "features",
        "bert",
        "distilbert",
        "ensemble",
    }
    assert set(result.mcnemar.index) == {"tfidf", "chars", "features", "bert", "distilbert"}

    cross = cross_dataset_check(
        recipe, tmp_path / "models", welfake_path=str(hub_copies["welfake"])
    )
    assert cross.direction_check["inferred_fake_value"] == 0.0
    assert "ensemble" in cross.table.index and cross.table.loc["ensemble", "n"] > 30
    serving = check_saved_models(tmp_path / "models", outcome.splits["test"], recipe.int8_check_n)
    assert serving.batch_rows_out == serving.batch_rows_in and serving.batch_errors == 1
    assert serving.token_attributions and 0.0 <= serving.int8_agreement <= 1.0
    detector = load_detector(tmp_path / "models", members=["bert"], warm_up=False)
    assert detector.has_transformer and detector.has_domain_check
    assert type(detector.domain.space.model).__name__ == "DistilBertModel"  # type: ignore[union-attr]
    assert detector.domain_check(["a text"]).shape == (1, 2)
    json.dumps(
        outcome.to_metrics() | result.to_metrics() | cross.to_metrics() | serving.to_metrics()
    )


def test_the_cpu_recipe_fine_tunes_a_transformer_and_its_half_depth_student(
    tmp_path: Path,
) -> None:
    """The cpu recipe's shape at tiny scale: the transformer member, a student built from every
    other layer of the same checkpoint, both fine-tuned; the ensemble of the two with its paired
    test against the better one; the out-of-domain check in an encoder's space, saved."""
    from misinfo.detector import load_detector

    recipe = recipe_for(
        "cpu",
        transformers={"minilm": TINY_BERT},  # a 2-layer stand-in for the 6-layer MiniLM
        domain_encoder=TINY_BERT,
        max_length=32,
        lr=1e-3,
        epochs=2,
        synthetic_size=300,
    )
    assert recipe.students == {"minilm_l3": "minilm"}
    raw, description = load_recipe_data(recipe_for("smoke", synthetic_size=300))
    outcome = fit_all(raw, recipe, description, out_dir=tmp_path / "models", log=None)
    assert list(outcome.members) == ["tfidf", "chars", "features", "minilm", "minilm_l3"]
    depth = {n: outcome.members[n].model.config.num_hidden_layers for n in ("minilm", "minilm_l3")}  # type: ignore[attr-defined]
    assert depth == {"minilm": 2, "minilm_l3": 1}
    assert outcome.model_names["minilm_l3"].endswith("student of layers [0] of 2")
    assert outcome.transformer_members == ["minilm", "minilm_l3"]
    pair = outcome.evaluate(outcome.transformer_members)
    assert list(pair.table.index) == ["minilm", "minilm_l3", "ensemble"]
    assert pair.vs_best_member()["member"] in {"minilm", "minilm_l3"}
    assert 0.0 <= pair.vs_best_member()["p_value"] <= 1.0
    assert list(outcome.evaluate().table.index) == [*outcome.members, "ensemble"]
    with pytest.raises(ValueError, match="no ensemble for 'minilm'"):
        outcome.evaluate(["minilm"])
    assert outcome.domain is not None and outcome.domain.space.kind == "encoder"
    assert set(outcome.domain.rates) == {"target", "valid", "test"}
    saved = load_detector(tmp_path / "models", warm_up=False)
    assert saved.manifest.domain["flag_rates"] == outcome.domain.rates
    texts = outcome.splits["test"]["text"].tolist()
    assert saved.domain_check(texts)["ood_score"].to_numpy() == pytest.approx(
        outcome.domain.scores(texts), abs=1e-5
    )
    json.dumps(outcome.to_metrics())


def test_a_student_needs_a_teacher_among_the_transformers() -> None:
    recipe = recipe_for("smoke", students={"half": "nobody"})
    raw, description = load_recipe_data(recipe)
    with pytest.raises(ValueError, match="student 'half' names the teacher 'nobody'"):
        fit_all(raw, recipe, description, log=None)


def other_domain_splits(seed: int) -> dict[str, pd.DataFrame]:
    """Recipes and match reports with random labels: a dataset nothing like the synthetic news
    corpus, for the cross-dataset matrix and its out-of-domain flags."""
    rng = np.random.default_rng(seed)
    dishes = ["soup", "bread", "curry", "cake", "salad", "risotto", "stew", "pie"]
    verbs = ["Simmer", "Bake", "Roast", "Whisk", "Knead", "Fold", "Grill", "Season"]
    teams = ["United", "City", "Rovers", "Athletic", "Wanderers", "Albion"]
    texts = [
        f"{rng.choice(verbs)} the {rng.choice(dishes)} for {rng.integers(5, 60)} minutes, then "
        f"serve it with {rng.choice(dishes)}."
        if i % 2
        else f"{rng.choice(teams)} beat {rng.choice(teams)} {rng.integers(1, 5)}-"
        f"{rng.integers(0, 3)} after a late goal in minute {rng.integers(60, 95)}."
        for i in range(200)
    ]
    frame = pd.DataFrame({"text": texts, "label": rng.integers(0, 2, len(texts))})
    return {"train": frame[:120], "valid": frame[120:160], "test": frame[160:]}


def test_the_cross_dataset_matrix_trains_on_each_dataset_and_tests_on_every_other(
    tmp_path: Path,
) -> None:
    from misinfo.artifacts import load_cross_scores, model_sets
    from misinfo.train import outcomes_matrix, save_cross_dataset_scores, train_each

    recipe = recipe_for("quick")
    assert load_other_data(None, recipe) == {}
    other = load_other_data("synthetic", recipe)
    assert list(other) == ["synthetic-seed1"] and "seed=1" in other["synthetic-seed1"][1]
    datasets = {
        "news": load_recipe_data(recipe),
        "kitchen-and-football": (other_domain_splits(0), "recipes and match reports"),
    }
    outcomes = train_each(datasets, recipe, tmp_path, log=None)
    assert {o.artifacts_dir for o in outcomes.values()} == {
        tmp_path / "news",
        tmp_path / "kitchen-and-football",
    }
    matrix = outcomes_matrix(outcomes)
    f1, flagged = matrix.matrix("macro_f1"), matrix.matrix("ood_flagged")
    assert f1.shape == flagged.shape == (2, 2)
    assert f1.loc["news", "news"] > 0.8  # the synthetic corpus is easy in-domain
    assert flagged.loc["news", "news"] <= 0.2 and flagged.loc["news", "kitchen-and-football"] == 1
    assert flagged.loc["kitchen-and-football", "news"] == 1
    save_cross_dataset_scores(matrix, outcomes)
    scores = load_cross_scores(tmp_path / "news")
    assert set(scores) == {"news", "kitchen-and-football"}
    assert scores["news"]["macro_f1"] == pytest.approx(f1.loc["news", "news"])
    assert scores["kitchen-and-football"]["ood_flagged"] == 1
    assert model_sets(tmp_path) == {
        "kitchen-and-football": tmp_path / "kitchen-and-football",
        "news": tmp_path / "news",
    }
    with pytest.raises(ValueError, match="saved no models"):
        splits, description = datasets["news"]
        outcomes_matrix({"x": fit_all(splits, recipe, description, log=None)})


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


def test_a_missing_out_of_domain_encoder_stops_the_run_and_says_how_to_replace_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The full recipe's sentence encoder comes from the hub: offline, the run stops before
    fitting, naming the setting to change (not a member's)."""
    import huggingface_hub.constants

    from misinfo.transformer import ModelUnavailableError

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    recipe = recipe_for("quick", domain_encoder=recipe_for("full").domain_encoder)
    raw, description = load_recipe_data(recipe)
    with pytest.raises(ModelUnavailableError) as info:
        fit_all(raw, recipe, description, log=None)
    message = str(info.value)
    assert "'sentence-transformers/all-MiniLM-L6-v2' for the out-of-domain check" in message
    assert "domain_encoder='/path/to/model'" in message and "domain_encoder=None" in message
    assert "transformers={" not in message


def test_the_command_line_trains_quick_models_and_reports_a_missing_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import huggingface_hub.constants

    from misinfo.detector import load_detector

    assert main(["--recipe", "quick", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["artifacts"] == str(tmp_path / "m") and "ensemble" in summary["test_metrics"]
    assert (
        summary["test_whole_metrics"]["ensemble"]["n"] >= summary["test_metrics"]["ensemble"]["n"]
    )
    assert load_detector(tmp_path / "m", warm_up=False).manifest.recipe["name"] == "quick"

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    args = ["--recipe", "cpu", "--data", "synthetic", "--transformer-model", "no-such-org/x"]
    assert main([*args, "--out", str(tmp_path / "n"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot load transformer 'no-such-org/x' for member 'minilm'")
    assert not (tmp_path / "n").exists()


def test_the_cpu_recipe_asks_for_its_data_folders_when_it_has_no_path() -> None:
    with pytest.raises(ValueError, match="set CONSTRAINT_PATH to the folder"):
        load_recipe_data(recipe_for("cpu"))
    with pytest.raises(ValueError, match="set LIAR_PATH to the folder"):
        load_other_data("liar", recipe_for("cpu"), {"constraint": "/data/constraint"})


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


def test_results_are_reported_on_the_whole_and_the_deduplicated_test_split() -> None:
    splits = synthetic_splits(n=300, seed=3)
    test = splits["test"]
    # three test texts that repeat training texts: the cleaning drops them, "whole" keeps them
    splits["test"] = pd.concat([test, splits["train"].iloc[:3]], ignore_index=True)
    outcome = fit_all(splits, recipe_for("quick"), "synthetic", log=None)
    results = outcome.results_by_split()
    assert results["test_whole"]["n"] == len(splits["test"])
    assert results["test_deduplicated"]["n"] <= len(splits["test"]) - 3
    whole = outcome.evaluate(split="test_whole")
    assert whole.table.loc["ensemble", "n"] == len(splits["test"])
    assert results["test_whole"]["test"] == whole.to_metrics()["test"]
    with pytest.raises(ValueError, match="no whole test split"):
        dataclasses.replace(outcome, whole_test=None).evaluate(split="test_whole")
