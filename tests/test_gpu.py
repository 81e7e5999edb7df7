"""A full run on a GPU machine must actually see the GPU (``PORTFOLIO_MODE=full pytest -m gpu``)."""

from __future__ import annotations

import importlib.util

import pytest

from mlshared.run import run_mode


@pytest.mark.gpu
def test_full_run_finds_a_gpu() -> None:
    if run_mode() != "full":
        pytest.skip("only meaningful for a full run: PORTFOLIO_MODE=full pytest -m gpu")
    seen = {}
    if importlib.util.find_spec("torch"):
        import torch

        seen["torch"] = torch.cuda.device_count()
    if importlib.util.find_spec("tensorflow"):
        import tensorflow as tf

        seen["tensorflow"] = len(tf.config.list_physical_devices("GPU"))
    assert seen, "neither torch nor tensorflow is installed"
    assert all(count > 0 for count in seen.values()), f"GPUs seen per framework: {seen}"
