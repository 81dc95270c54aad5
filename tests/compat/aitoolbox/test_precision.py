"""Mixed precision: use_amp maps onto the native MixedPrecision plugin."""

from __future__ import annotations

from typing import Any

import pytest
import torch
from torch import nn

from tests.compat.aitoolbox._tiny import TinyNet, make_batches, make_loop
from unitrain.compat.aitoolbox import GradNormClip
from unitrain.errors import ConfigError
from unitrain.plugins.amp import MixedPrecision


class AutocastProbe(TinyNet):
    def __init__(self) -> None:
        super().__init__()
        self.dtypes: list[torch.dtype] = []

    def get_loss(self, batch_data: Any, criterion: Any, device: torch.device) -> torch.Tensor:
        logits = self(batch_data[0].to(device))
        self.dtypes.append(logits.dtype)
        return criterion(logits.float(), batch_data[1].to(device))


def test_native_bf16_plugin_runs_the_compat_loop_under_autocast() -> None:
    model = AutocastProbe()
    loop = make_loop(model=model, val=None, plugins=[MixedPrecision("bf16")])
    loop.fit(num_epochs=1)
    assert model.dtypes == [torch.bfloat16] * 4 + [torch.bfloat16] * 4  # train + eval pass
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_use_amp_is_checked() -> None:
    # aitoolbox's scaler disabled itself without CUDA; here that is said, then full precision
    with pytest.warns(UserWarning, match="needs CUDA"):
        loop = make_loop(use_amp={"init_scale": 2.0**8})
    assert not loop.use_amp and not loop.amp_scaler.is_enabled()
    with pytest.raises(ConfigError, match="GradScaler keyword"):
        make_loop(use_amp="fp16", device="cuda")


def test_multi_process_runs_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ConfigError, match="WORLD_SIZE=2"):
        make_loop(val=None).fit(num_epochs=1)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="fp16 GradScaler AMP needs CUDA")
def test_use_amp_matches_a_hand_written_amp_loop_on_cuda() -> None:
    batches = make_batches()
    loop = make_loop(model=TinyNet(), val=None, use_amp=True, device="cuda")
    loop.fit(num_epochs=2, callbacks=[GradNormClip(0.5)])
    assert loop.amp_scaler is not None
    model = TinyNet().cuda()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cuda")
    for _ in range(2):
        for inputs, targets in batches:
            with torch.autocast("cuda", dtype=torch.float16):
                loss = nn.CrossEntropyLoss()(model(inputs.cuda()), targets.cuda())
            scaler.scale(loss).backward()
            scaler.unscale_(optimizer)
            nn.utils.clip_grad_norm_(list(model.parameters()), 0.5)
            scaler.step(optimizer)
            scaler.update()
            optimizer.zero_grad(set_to_none=True)
    for mine, theirs in zip(loop.model.parameters(), model.parameters(), strict=True):
        assert torch.equal(mine, theirs)
