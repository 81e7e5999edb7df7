"""Streamlit app for the misinformation detector: one text or a whole CSV, with reasons.

Run: ``make app`` (trains the quick models first if there are none) or
``streamlit run 3-misinformation-detector/app.py``. Models come from ``MISINFO_MODELS_DIR``
(default: ``3-misinformation-detector/models``). The page is layout only; input checks,
CSV reading and writing in ``misinfo.tabular`` (shared with ``python -m misinfo.batch``), what
the page shows in ``misinfo.page`` and safe HTML in ``misinfo.highlight`` (all unit-tested).
User-controlled text (file names, headers, cells, messages) reaches Markdown-rendering elements
only through ``page.plain``; tables go to ``st.dataframe``, which shows plain text.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import streamlit as st

from misinfo import highlight, page, tabular
from misinfo.artifacts import ArtifactError, folder_fingerprint, load_cross_scores, model_sets
from misinfo.features import FEATURE_DESCRIPTIONS

PROJECT_DIR = Path(__file__).resolve().parent

MODELS_ENV = "MISINFO_MODELS_DIR"
EXAMPLES_DIR = PROJECT_DIR / "examples"
NO_EXAMPLE = "(your own text)"
PREVIEW_LIMIT = 1_000
FAKE_COLOUR = "#{:02x}{:02x}{:02x}".format(*highlight.FAKE_RGB)
REAL_COLOUR = "#{:02x}{:02x}{:02x}".format(*highlight.REAL_RGB)
LIMITS = """
**What a "fake" label means.** The text *resembles* the texts labelled as misinformation in
the training data (wording, style, topics). It does **not** mean the claim was fact-checked,
that it is false, or that its author lied.

**What it does not do.** It does not look anything up, does not know about events after its
training data, and was trained on English only. Satire, quotes of false claims and
well-written falsehoods fool it; plain true statements about controversial topics can be
labelled "fake". A "real" label is not a certificate of truth.

**Use it** to triage or to study what the models pick up, never as the only reason to
believe, share, remove or punish anything.
"""


def models_dir() -> Path:
    """Artifacts folder, or a folder of model sets: env MISINFO_MODELS_DIR, else the project's
    models/ folder."""
    configured = os.environ.get(MODELS_ENV, "").strip()
    return Path(configured).expanduser() if configured else PROJECT_DIR / "models"


def _forget_results() -> None:
    """Results of another model set must not stay on the page under the new one's name."""
    for key in ("single", "batch", "inspected"):
        st.session_state.pop(key, None)


def choose_model_set(root: Path) -> Path:
    """The model set to use: the only one, or the one picked in the sidebar (each labelled
    with what it was trained on)."""
    sets = model_sets(root)
    if len(sets) <= 1:
        return next(iter(sets.values()), root)
    labels = {page.model_set_label(name, folder): folder for name, folder in sets.items()}
    choice = st.sidebar.selectbox(
        "Model set",
        list(labels),
        key="model_set",
        on_change=_forget_results,
        help="Each set was trained on one dataset; pick the one whose texts look like yours.",
    )
    return labels[choice]


def current_detector(directory: Path) -> Any:
    """The loaded models, loaded again (and re-verified) when any file in the folder changed
    since: the cache key holds the folder's fingerprint (manifest bytes, file sizes and
    modification times), checked on every request."""
    return get_detector(str(directory), folder_fingerprint(directory))


@st.cache_resource(show_spinner="Loading and checking models…", max_entries=1)
def get_detector(directory: str, fingerprint: str) -> Any:
    """Load and hash-check the models once per folder state; failures are not cached, so
    training and reloading the page picks the new models up."""
    from misinfo.detector import load_detector

    detector = load_detector(directory)
    warm_up(detector)
    return detector


def warm_up(detector: Any) -> None:
    """Pay the one-time costs while loading (the chart library import, the sentiment
    lexicon, the first predict) so the first Analyse click answers at steady-state speed."""
    try:
        import altair  # noqa: F401 - st.bar_chart imports it on first use (seconds)

        sample = page.prepare_text("The council met on Tuesday to discuss the budget.", 1_000)
        page.add_token_attributions(detector, page.analyse_text(detector, sample))
    except Exception:  # a failed warm-up only costs speed, never the page
        pass


def show_missing_models(directory: Path, problem: str) -> None:
    """The fresh-clone screen: what is wrong and the exact commands that fix it. The loader's
    reason may quote the manifest, so it is shown as plain text, and with the folder's name
    instead of its path on the server."""
    st.error(f"No usable models in the folder “{directory.name}”.")
    st.text(problem.replace(str(directory), directory.name))
    out = f"${MODELS_ENV}" if os.environ.get(MODELS_ENV, "").strip() else "models"
    st.markdown("**To get models**, from the repository root run:")
    st.code("make app", language="bash")
    st.markdown(
        "which trains the quick models (about a minute on a laptop CPU) and starts this app. "
        "Or train them yourself, then reload this page:"
    )
    st.code(
        "cd 3-misinformation-detector\n"
        f"python -m misinfo.train --recipe quick --data synthetic --out {out}/synthetic\n"
        "# real data (CONSTRAINT's or LIAR's official splits), one model set each:\n"
        f"python -m misinfo.train --recipe quick --data constraint:/path/to/constraint "
        f"--out {out}/constraint\n"
        f"python -m misinfo.train --recipe quick --data liar:/path/to/liar --out {out}/liar",
        language="bash",
    )
    st.caption(f"Use another folder by setting {MODELS_ENV}=/path/to/models.")


def render_sidebar(detector: Any, directory: Path) -> None:
    """Which models answer, how well they did, what they learned from, and the limits. Text
    from the manifest is shown as plain text (st.text, tables, JSON), never as Markdown."""
    manifest = detector.manifest
    with st.sidebar:
        st.header("Models")
        names = getattr(manifest, "model_names", {}) or {}
        temps = getattr(manifest, "temperatures", {}) or {}
        for member in detector.member_names:
            detail = str(names.get(member, ""))
            if "/" in detail and len(detail) > 40:  # a local folder: its name is enough
                detail = (
                    Path(detail).name if Path(detail).name != "model" else Path(detail).parent.name
                )
            temp = temps.get(member)
            extra = f" · T = {temp:.2f}" if isinstance(temp, int | float) else ""
            st.text(f"• {member}: {detail}{extra}")
        st.text(
            f"Folder “{directory.name}” · threshold {getattr(manifest, 'threshold', 0.5):.2f}\n"
            "Hash-checked on loading; loaded again when a file in it changes."
        )
        if detector.has_domain_check:
            st.text(detector.domain.summary())
        training = getattr(manifest, "training_data", {}) or {}
        if page.mentions_synthetic(training):
            st.warning(
                "These models were trained on the **synthetic** demo corpus (no real data was "
                "available offline), so their labels say nothing about real news. Train on "
                "real data for meaningful output: `--data constraint:PATH` or `--data liar:PATH`."
            )
        st.subheader("Metrics")
        table = page.key_metrics(page.metrics_frame(getattr(manifest, "metrics", {}) or {}))
        if table is not None:
            st.dataframe(table, width="stretch")
        else:
            st.json(getattr(manifest, "metrics", {}) or {}, expanded=False)
        cross = page.cross_scores_frame(load_cross_scores(directory))
        if cross is not None:
            st.subheader("On each dataset's test split")
            st.dataframe(cross, width="stretch")
            st.caption(
                "The ensemble of this set, measured after training. Its own dataset is the "
                "in-domain row; on the others expect the drop shown, and trust the "
                "out-of-domain warning."
            )
        st.subheader("Training data")
        st.text("\n".join(f"• {line}" for line in page.training_data_lines(training)))
        with st.expander("All training-data details"):
            st.json(training)
        st.text(str(getattr(manifest, "label_meaning", "")))
        st.subheader("Limits")
        st.markdown(LIMITS)


def _use_example(examples: dict[str, str]) -> None:
    """Copy the chosen example into the text box (a callback, so the box stays editable)."""
    choice = st.session_state.get("example", NO_EXAMPLE)
    if choice in examples:
        st.session_state["text"] = examples[choice]


def render_single(detector: Any) -> None:
    """Text box, examples, Analyse button; the last result stays until the next analysis."""
    examples = dict(page.load_examples(EXAMPLES_DIR / "examples.json"))
    st.selectbox(
        "Start from an example",
        [NO_EXAMPLE, *examples],
        key="example",
        on_change=_use_example,
        args=(examples,),
    )
    st.text_area(
        "Text to analyse",
        key="text",
        height=180,
        placeholder="Paste a statement, a post or an article…",
    )
    limit = tabular.text_limit(detector)
    transformer = (
        f" The transformer reads about the first {detector.max_chars:,}."
        if page.has_transformer(detector)
        else ""
    )
    st.caption(
        f"Up to {limit:,} characters are analysed; longer texts are truncated with a notice."
        f"{transformer} English only."
    )
    if st.button("Analyse", type="primary", key="analyse"):
        prepared = page.prepare_text(st.session_state.get("text", ""), limit)
        note = page.transformer_note(detector, len(prepared.text))
        if note and not prepared.error:
            prepared.warnings.append(note)
        if prepared.error:
            st.session_state["single"] = {"error": prepared.error}
        else:
            try:
                st.session_state["single"] = {
                    "analysis": page.analyse_text(detector, prepared),
                    "domain": domain_warning(detector, prepared.text),
                }
            except Exception as exc:  # never a traceback; the text stays in the box
                st.session_state["single"] = {
                    "error": f"The models could not analyse this text ({type(exc).__name__}: "
                    f"{exc}). Your text is still in the box above."
                }
    result = st.session_state.get("single")
    if not result:
        return
    if "error" in result:
        st.error(page.plain(result["error"]))
        return
    if result.get("domain"):
        st.warning(result["domain"], icon="🧭")
    show_analysis(result["analysis"], detector)


def domain_warning(detector: Any, text: str) -> str | None:
    """The out-of-domain warning for one text, None when it looks like the training texts
    (or the models predate the check)."""
    if not detector.has_domain_check:
        return None
    score = float(detector.domain_check([text])["ood_score"].iloc[0])
    return detector.domain.warning(score)


def show_analysis(analysis: page.TextAnalysis, detector: Any) -> None:
    """Label, calibrated confidence, members, reasons and features for one text."""
    for message in analysis.warnings:
        st.warning(message)
    col_label, col_conf, col_p = st.columns(3)
    col_label.metric("Label", analysis.label.upper())
    col_conf.metric("Confidence (calibrated)", f"{analysis.confidence:.0%}")
    col_p.metric("P(fake)", f"{analysis.p_fake:.2f}")
    threshold = float(getattr(detector.manifest, "threshold", 0.5))
    st.progress(
        min(max(analysis.p_fake, 0.0), 1.0),
        text=f"P(fake) = {analysis.p_fake:.2f} on a 0 (real) … 1 (fake) scale; "
        f"labelled fake at ≥ {threshold:.2f}",
    )
    st.caption(f"First result in {analysis.seconds:.2f} s (prediction, words, features).")
    if not analysis.members.empty:
        st.subheader("Each model")
        st.bar_chart(
            analysis.members, x="member", y="p_fake", horizontal=True, height=160, x_label=""
        )
        st.dataframe(analysis.members.round(3), hide_index=True)
    st.subheader("Why: words that pushed the decision")
    if analysis.contributions:
        st.html(
            highlight.legend_html()
            + highlight.highlight_html(analysis.text, analysis.contributions)
        )
        st.bar_chart(
            page.contributions_wide(analysis.contributions),
            x="term",
            y=["toward fake", "toward real"],
            color=[FAKE_COLOUR, REAL_COLOUR],
            horizontal=True,
            x_label="",
            y_label="contribution toward fake (log-odds)",
        )
        st.caption("Contributions of the TF-IDF + logistic-regression model (log-odds).")
    st.subheader("Text features vs the training texts")
    table = page.feature_comparison(
        analysis.features, getattr(detector.manifest, "feature_distribution", {}) or {}
    )
    if not table.empty:
        table.insert(1, "meaning", table["feature"].map(FEATURE_DESCRIPTIONS).fillna(""))
        st.bar_chart(
            table,
            x="feature",
            y="percentile in training",
            horizontal=True,
            x_label="",
            y_label="percentile among the training texts",
        )
        st.dataframe(table.round(3), hide_index=True)
        st.caption("Percentile 50 = a typical training text; near 0 or 100 = unusual.")
    if page.has_transformer(detector):
        show_token_attributions(analysis, detector)


def show_token_attributions(analysis: page.TextAnalysis, detector: Any) -> None:
    """Last on the page: a backward pass through the transformer, computed once per text
    after everything above is already on screen."""
    st.subheader("Transformer token attributions")
    if not analysis.tokens_done:
        with st.spinner("Computing token attributions (gradient × input)…"):
            page.add_token_attributions(detector, analysis)
    if analysis.token_attributions:
        st.html(highlight.legend_html() + highlight.token_strip_html(analysis.token_attributions))
        st.caption("Gradient × input on the transformer's word pieces (first max_length tokens).")
    else:
        st.info(analysis.token_note or "The transformer gives no attributions for this text.")


def render_batch(detector: Any) -> None:
    """Upload, choose the column, score with a progress bar, filter, chart, download."""
    limit_mb = page.max_upload_mb()
    example_csv = EXAMPLES_DIR / "example_batch.csv"
    if example_csv.is_file():
        st.download_button(
            "Download an example CSV",
            example_csv.read_bytes(),
            file_name="example_batch.csv",
            mime="text/csv",
            on_click="ignore",
            key="example_csv",
        )
    uploaded = st.file_uploader(
        f"CSV file with one text per row, up to {limit_mb} MB (UTF-8, cp1252, latin-1 or UTF-16; "
        "comma, semicolon, tab or pipe separated)",
        key="csv",
        max_upload_size=limit_mb,
    )
    st.caption(page.plain(page.upload_limit_text(limit_mb)))
    st.caption(page.plain(page.memory_bound_text(limit_mb)))
    if uploaded is not None:
        handle_upload(uploaded, detector, limit_mb)
    show_batch_result(st.session_state.get("batch"))


def handle_upload(uploaded: Any, detector: Any, limit_mb: int) -> None:
    """Check the file (once per upload), then score it when asked."""
    cache = st.session_state.setdefault("inspected", {})
    key = getattr(uploaded, "file_id", uploaded.name)
    if key not in cache:
        cache.clear()  # keep only the current upload in memory
        try:
            cache[key] = tabular.read_table(
                uploaded.getvalue(), limit_mb * 1_000_000, name=uploaded.name
            )
        except tabular.TabularError as exc:
            cache[key] = str(exc)
    table = cache[key]
    if isinstance(table, str):
        st.error(page.plain(table))
        return
    st.caption(page.plain(table.describe()))
    st.dataframe(table.preview.head(5), hide_index=True)
    index = table.columns.index(table.guessed_column) if table.guessed_column else 0
    column = st.selectbox("Column with the text", table.columns, index=index, key="text_column")
    if table.guessed_column is None:
        st.info("Could not tell which column holds the text: please choose it.")
    if st.button("Score all rows", type="primary", key="run_batch"):
        st.session_state.pop("batch", None)  # free the last result before scoring the next
        bar = st.progress(0.0, text="Starting…")
        try:
            result = page.run_batch(
                table,
                column,
                detector,
                progress=lambda fraction, message: bar.progress(fraction, text=message),
            )
        except tabular.TabularError as exc:
            st.error(page.plain(exc))
            return
        except Exception as exc:  # never a traceback; the file stays uploaded
            st.error(
                page.plain(
                    f"Scoring failed ({type(exc).__name__}: {exc}). The file is still loaded."
                )
            )
            return
        st.session_state["batch"] = {"name": table.name, "result": result}


def show_batch_result(batch: dict[str, Any] | None) -> None:
    """Summary, chart, filterable preview and the download of the last scored file."""
    if not batch:
        return
    result: page.BatchResult = batch["result"]
    report = result.report
    st.success(
        page.plain(
            f"Scored {tabular.shown(batch['name'])}: {report.scored:,} of {report.rows:,} rows "
            f"(text column {tabular.shown(report.text_column)})."
        )
    )
    if report.errors:
        st.warning(
            page.plain(
                f"{report.errors:,} rows have empty text: they are kept in the results, without "
                f"a prediction, with the reason in the {result.column('error')} column."
            )
        )
    if report.clipped:
        st.info(
            page.plain(
                f"{report.clipped:,} long texts were scored on their first {report.max_chars:,} "
                f"characters; they are kept whole in the results ({result.column('note')} says "
                "how much of each was scored)."
            )
        )
    st.bar_chart(page.label_distribution(report), x="label", y="rows", height=220)
    col_filter, col_search = st.columns(2)
    labels = ["all", *sorted(report.label_counts), "errors"]
    choice = col_filter.selectbox("Show", labels, key="filter_label")
    needle = col_search.text_input("Containing", key="filter_text")
    if batch.get("filter") != (choice, needle):  # a full pass over the rows: once per filter
        batch["filter"] = (choice, needle)
        batch["shown"] = page.filter_results(result, choice, needle, PREVIEW_LIMIT)
    shown, count = batch["shown"]
    st.dataframe(shown, hide_index=True)
    st.caption(f"{count:,} matching rows (showing at most {PREVIEW_LIMIT:,}), as in the download.")
    stem = Path(batch["name"]).stem or "results"
    st.download_button(
        "Download results (CSV)",
        lambda: result.data,  # handed over when clicked: no hashing of the file on every rerun
        file_name=f"{stem}_scored.csv",
        mime="text/csv",
        on_click="ignore",
        key="download",
        type="primary",
    )
    st.caption(
        page.plain(
            "The download has every row and column of the file as read, then the predictions "
            f"in columns starting with {report.prefix}. Cells (and header names) starting with "
            "= + - @ get a leading ' so spreadsheets show them as text; plain numbers are left "
            "alone."
        )
    )


def main() -> None:
    """Page layout: models first (or how to get them), then the two tabs."""
    st.set_page_config(page_title="Misinformation detector", page_icon="🔎", layout="wide")
    st.title("Misinformation detector")
    st.caption(
        "Scores how much a text resembles the misinformation in the training data, with "
        "calibrated confidence and the words behind it. Read the limits in the sidebar."
    )
    directory = choose_model_set(models_dir())
    try:
        detector = current_detector(directory)
    except ArtifactError as exc:
        show_missing_models(directory, str(exc))
        st.stop()
    except Exception as exc:  # e.g. an import error: explain, do not crash
        show_missing_models(directory, f"Loading failed: {type(exc).__name__}: {exc}")
        st.stop()
    render_sidebar(detector, directory)
    single, batch = st.tabs(["Analyse a text", "Analyse a CSV file"])
    with single:
        render_single(detector)
    with batch:
        render_batch(detector)


main()
