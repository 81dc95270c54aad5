"""Gradient callbacks: clipping parity with plain PyTorch, stats, the optional plot."""

from __future__ import annotations

import importlib.util

import pytest
import torch
from torch import nn

from tests.compat.aitoolbox._tiny import TinyNet, hand_loop, make_batches, make_loop, same
from unitrain.compat.aitoolbox import (
    GradDistributionPlot,
    GradientStatsPrint,
    GradNormClip,
    GradValueClip,
)
from unitrain.compat.aitoolbox.callbacks.gradient import unscale_once
from unitrain.errors import ConfigError


@pytest.mark.parametrize("accumulation", [1, 2])
def test_grad_norm_clip_matches_a_hand_loop(accumulation: int) -> None:
    loop = make_loop(lr=0.5, val=None)
    clip = GradNormClip(0.05)
    loop.fit(num_epochs=2, callbacks=[clip], grad_accumulation=accumulation)
    reference = TinyNet()
    hand_loop(
        reference,
        make_batches(),
        epochs=2,
        lr=0.5,
        accumulation=accumulation,
        clip=lambda params: nn.utils.clip_grad_norm_(params, 0.05),
    )
    assert loop.grad_cb_used and same(loop.model, reference)
    unclipped = TinyNet()
    hand_loop(unclipped, make_batches(), epochs=2, lr=0.5, accumulation=accumulation)
    assert not same(loop.model, unclipped)  # the clip really changed the run


def test_grad_value_clip_matches_a_hand_loop() -> None:
    loop = make_loop(lr=0.5, val=None)
    loop.fit(num_epochs=1, callbacks=[GradValueClip(0.01)])
    reference = TinyNet()
    hand_loop(
        reference,
        make_batches(),
        epochs=1,
        lr=0.5,
        clip=lambda params: nn.utils.clip_grad_value_(params, 0.01),
    )
    assert same(loop.model, reference)


def test_clip_arguments_are_checked() -> None:
    with pytest.raises(ConfigError, match="max_grad_norm"):
        GradNormClip(0)
    with pytest.raises(ConfigError, match="max_grad_value"):
        GradValueClip(-1.0)


def test_unscale_once_is_a_no_op_without_an_enabled_scaler() -> None:
    parameter = nn.Parameter(torch.ones(2))
    parameter.grad = torch.full((2,), 4.0)
    optimizer = torch.optim.SGD([parameter], lr=0.1)
    unscale_once(None, optimizer)
    unscale_once(torch.amp.GradScaler("cpu", enabled=False), optimizer)
    assert torch.equal(parameter.grad, torch.full((2,), 4.0))


def test_gradient_stats_print_every_n_updates(capsys: pytest.CaptureFixture[str]) -> None:
    stats = GradientStatsPrint(stats_eval_freq=2)
    loop = make_loop(val=None)
    loop.fit(num_epochs=1, callbacks=[stats], grad_accumulation=2)  # 2 updates
    out = capsys.readouterr().out
    assert out.count("Layer 0 (Linear)") == 1 and out.count("Layer 1 (Linear)") == 1
    assert len(stats.last_stats) == 2 and 0.0 <= stats.last_stats[0]["zero_ratio"] <= 1.0


@pytest.mark.skipif(
    importlib.util.find_spec("matplotlib") is None, reason="matplotlib (plots extra) missing"
)
def test_grad_distribution_plot_writes_pngs(tmp_path: object) -> None:
    plot = GradDistributionPlot(
        project_name="p", experiment_name="e", local_model_result_folder_path=str(tmp_path)
    )
    make_loop(val=None).fit(num_epochs=1, callbacks=[plot])
    assert plot.saved_paths and all(path.endswith(".png") for path in plot.saved_paths)


@pytest.mark.skipif(importlib.util.find_spec("matplotlib") is not None, reason="has matplotlib")
def test_grad_distribution_plot_needs_matplotlib() -> None:
    with pytest.raises(ConfigError, match="pip install matplotlib"):
        GradDistributionPlot()
