"""Plotting helpers: structure of the returned figures, validation, and saving."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_rgba
from matplotlib.figure import Figure

from mlshared import plotting
from mlshared.classification_metrics import expected_calibration_error


@pytest.fixture(autouse=True)
def _close_figures():
    with matplotlib.rc_context():
        yield
    plt.close("all")


def test_apply_style_sets_rcparams() -> None:
    plotting.apply_style()
    assert matplotlib.rcParams["axes.spines.top"] is False
    assert matplotlib.rcParams["savefig.bbox"] == "tight"
    colours = [c["color"] for c in matplotlib.rcParams["axes.prop_cycle"]]
    assert colours == plotting.PALETTE


def test_training_curves_one_panel_per_metric() -> None:
    history = {
        "loss": [1.0, 0.6, 0.4],
        "val_loss": [1.1, 0.8, 0.7],
        "accuracy": [0.5, 0.7, 0.8],
        "val_accuracy": [0.45, 0.6, 0.65],
        "val_auc": [0.6, 0.7, 0.75],  # validation-only metric still gets a panel
    }
    fig = plotting.plot_training_curves(history, title="run 1")
    assert isinstance(fig, Figure)
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy", "auc"]
    assert [len(ax.get_lines()) for ax in axes] == [2, 2, 1]
    line = axes[0].get_lines()[1]
    assert line.get_label() == "val_loss" and line.get_linestyle() == "--"
    np.testing.assert_allclose(line.get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(line.get_ydata(), history["val_loss"])
    assert fig._suptitle.get_text() == "run 1"
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_training_curves({})


def test_confusion_matrices_counts_and_normalised() -> None:
    y = np.array([0, 0, 0, 1, 1, 2])
    pred = np.array([0, 0, 1, 1, 1, 0])
    names = ["cat", "dog", "bird"]
    fig = plotting.plot_confusion_matrices(y, pred, names)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 4  # two matrices and their colour bars
    counts_ax, norm_ax = fig.axes[0], fig.axes[1]
    counts = counts_ax.collections[0].get_array().reshape(3, 3)  # seaborn's QuadMesh
    np.testing.assert_array_equal(counts, [[2, 1, 0], [0, 2, 0], [1, 0, 0]])
    norm = norm_ax.collections[0].get_array().reshape(3, 3)
    np.testing.assert_allclose(norm.sum(axis=1), [1, 1, 1])
    np.testing.assert_allclose(norm[0], [2 / 3, 1 / 3, 0])
    assert [t.get_text() for t in counts_ax.texts] == ["2", "1", "0", "0", "2", "0", "1", "0", "0"]
    assert norm_ax.texts[0].get_text() == "0.67"
    assert [t.get_text() for t in counts_ax.get_xticklabels()] == names


def test_confusion_matrix_with_empty_true_class_has_no_nan() -> None:
    fig = plotting.plot_confusion_matrices([0, 0, 1], [0, 1, 1], ["a", "b", "c"])
    norm = fig.axes[1].collections[0].get_array().reshape(3, 3)
    assert np.all(np.isfinite(norm))
    np.testing.assert_array_equal(norm[2], [0, 0, 0])


def test_reliability_diagram() -> None:
    rng = np.random.default_rng(0)
    proba = rng.dirichlet([1, 1, 1], size=200)
    y = rng.integers(0, 3, size=200)
    sharp = proba**3 / np.sum(proba**3, axis=1, keepdims=True)
    fig = plotting.plot_reliability_diagram({"before": (y, sharp), "after": (y, proba)}, n_bins=10)
    assert isinstance(fig, Figure)
    ax, ax_count = fig.axes
    assert len(ax.get_lines()) == 3  # diagonal + two curves
    assert len(ax_count.patches) == 2 * 10
    labels = [text.get_text() for text in ax.get_legend().get_texts()]
    ece = expected_calibration_error(y, sharp, 10)
    assert labels[1] == f"before (ECE {ece:.2%})"
    assert labels[2].startswith("after (ECE ")
    heights = [p.get_height() for p in ax_count.patches[:10]]
    assert sum(heights) == 200


def test_forest_plot_colours_intervals_that_exclude_reference() -> None:
    labels = ["A vs B", "A vs C", "B vs C"]
    est, lo, hi = [0.05, 0.02, -0.03], [0.01, -0.01, -0.05], [0.09, 0.04, -0.01]
    fig = plotting.plot_forest(labels, est, lo, hi, reference=0.0, xlabel="ΔNDCG")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    lines = ax.collections[0]
    colours = [tuple(c) for c in lines.get_colors()]
    highlight, grey = to_rgba(plotting.PALETTE[0]), to_rgba("grey")
    assert colours == [highlight, grey, highlight]
    points = ax.collections[1]
    assert [tuple(c) for c in points.get_facecolors()] == [highlight, grey, highlight]
    # first label on top: tick y=2 carries labels[0] and the first estimate sits at y=2
    ticks = {y: t.get_text() for y, t in zip(ax.get_yticks(), ax.get_yticklabels(), strict=True)}
    assert ticks == {2: "A vs B", 1: "A vs C", 0: "B vs C"}
    np.testing.assert_allclose(points.get_offsets(), [[0.05, 2], [0.02, 1], [-0.03, 0]])
    assert ax.get_xlabel() == "ΔNDCG"
    # a different reference changes which intervals are coloured
    fig2 = plotting.plot_forest(labels, est, lo, hi, reference=0.03)
    colours2 = [tuple(c) for c in fig2.axes[0].collections[0].get_colors()]
    assert colours2 == [grey, grey, highlight]


def test_forest_plot_validation() -> None:
    with pytest.raises(ValueError, match="same length"):
        plotting.plot_forest(["a", "b"], [0.1], [0.0], [0.2])
    with pytest.raises(ValueError, match="contain its estimate"):
        plotting.plot_forest(["a"], [0.3], [0.0], [0.2])


def test_image_grid_layout_titles_and_heatmaps() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, size=(5, 16, 16, 3)).astype(np.uint8)
    heatmaps = rng.uniform(size=(5, 4, 4))
    titles = [f"img {i}" for i in range(5)]
    fig = plotting.plot_image_grid(images, titles=titles, heatmaps=heatmaps, ncols=3, title="CAM")
    assert isinstance(fig, Figure)
    assert len(fig.axes) == 6  # 2 rows x 3 columns, the last one blank
    assert [len(ax.get_images()) for ax in fig.axes] == [2, 2, 2, 2, 2, 0]
    assert [ax.get_title() for ax in fig.axes[:5]] == titles
    first = fig.axes[0].get_images()[0].get_array()
    assert first.max() <= 1.0  # 0-255 input rescaled
    np.testing.assert_allclose(first, images[0] / 255.0)
    # the 4x4 heat map is stretched over the 16x16 image
    assert fig.axes[0].get_images()[1].get_extent() == [0, 16, 16, 0]


def test_image_grid_grayscale_without_extras() -> None:
    fig = plotting.plot_image_grid(np.random.default_rng(2).uniform(size=(3, 8, 8)), ncols=8)
    assert len(fig.axes) == 3
    assert [len(ax.get_images()) for ax in fig.axes] == [1, 1, 1]
    assert fig.axes[0].get_images()[0].get_cmap().name == "gray"


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"images": np.zeros((0, 4, 4))}, "non-empty"),
        ({"images": np.zeros((4, 4))}, "non-empty"),
        ({"images": np.zeros((2, 4, 4)), "heatmaps": np.zeros((3, 2, 2))}, "3 heat maps for 2"),
        ({"images": np.zeros((2, 4, 4)), "titles": ["a"]}, "1 titles for 2"),
    ],
)
def test_image_grid_validation(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        plotting.plot_image_grid(**kwargs)


def test_save_figure_writes_png_with_slugified_name(tmp_path) -> None:
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    path = plotting.save_figure(fig, tmp_path / "figs", "Reliability: before/after (CIFAR-10)")
    assert path == tmp_path / "figs" / "Reliability_before_after_CIFAR-10.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    kept = plotting.save_figure(fig, tmp_path, "forest.png")
    assert kept.name == "forest.png" and kept.is_file()
    with pytest.raises(ValueError, match="no usable characters"):
        plotting.save_figure(fig, tmp_path, "!!! ///")


def test_image_grid_accepts_single_channel_images() -> None:
    fig = plotting.plot_image_grid(np.random.default_rng(0).random((3, 8, 8, 1)))
    assert len([ax for ax in fig.axes if ax.images]) == 3
    plt.close(fig)


def test_heatmap_annotates_every_cell_and_refuses_an_empty_table() -> None:
    frame = pd.DataFrame([[0.9, 0.8], [0.7, 0.5]], index=["noise", "blur"], columns=["s1", "s5"])
    fig = plotting.plot_heatmap(frame, "accuracy", fmt=".1f", colorbar_label="accuracy")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["0.9", "0.8", "0.7", "0.5"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["noise", "blur"]
    np.testing.assert_allclose(np.ravel(ax.collections[0].get_array()), [0.9, 0.8, 0.7, 0.5])
    with pytest.raises(ValueError, match="empty"):
        plotting.plot_heatmap(pd.DataFrame(), "nothing")


def test_confidence_histograms_split_right_and_wrong_per_panel() -> None:
    y = np.array([0, 1, 1, 0])
    proba = np.array([[0.9, 0.1], [0.2, 0.8], [0.6, 0.4], [0.55, 0.45]])
    fig = plotting.plot_confidence_histograms({"before": (y, proba), "after": (y, proba)})
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["before", "after"]
    legend = [t.get_text() for t in axes[0].get_legend().get_texts()]
    assert legend == ["right", "wrong"]
