"""The baseline of ``startup.py``: import torch, build the job, one optimizer step, exit.

What a hand-written training script does before its first step, nothing more; run as
``python _startup_plain.py`` (it prints ``FIRST_STEP <time.monotonic()>``).
"""

from __future__ import annotations

import torch
from _startup_job import make_batch, make_model, stamp
from torch import nn

torch.manual_seed(0)
model = make_model()
optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
inputs, targets = make_batch(0)
loss = nn.functional.cross_entropy(model(inputs), targets)
loss.backward()
optimizer.step()
optimizer.zero_grad()
stamp()
