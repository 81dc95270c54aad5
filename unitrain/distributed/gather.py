"""``predict(data, gather=True)`` with several processes: every rank's predictions, back in
the order of the data and batched as one process batches them.

Prediction data is split like evaluation data (:mod:`unitrain.distributed.sampling`): with a
``DataLoader``, rank ``r`` predicts samples ``r, r+W, r+2W, ...`` (no padding), so rank ``r``'s
``k``-th row is sample ``r + k*W``; a plain list of batches is split round-robin by batch.
:func:`gather_predictions` collects every rank's outputs (on the CPU, through
``all_gather_object``), puts the rows back in dataset order and cuts them into the original
loader's batches: the result equals a one-process ``predict`` of the same data, on every rank.

A batch's output may be a tensor (rows along dim 0), a tuple or dict of such outputs, or a
list with one entry per row; anything else cannot be split into rows and is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.distributed as dist
from torch.utils.data import DataLoader

from unitrain.core.data import Loader
from unitrain.errors import ConfigError

__all__ = ["gather_predictions"]


def gather_predictions(outputs: list[Any], whole: Loader, rank: int, world: int) -> list[Any]:
    """All ranks' ``outputs`` of ``whole`` (the loader before it was split), in its order;
    a collective: every rank calls it, every rank gets the result."""
    batches = whole.batches
    gathered: list[Any] = [None] * world
    dist.all_gather_object(gathered, _to_cpu(outputs))
    if not isinstance(batches, DataLoader):
        if not isinstance(batches, Sequence):
            raise ConfigError(f"predict(gather=True): cannot order the outputs of {whole.name}")
        count = len(batches)
        return [gathered[j % world][j // world] for j in range(count)]
    size = len(batches.dataset)  # type: ignore[arg-type]
    batch_size = batches.batch_size
    if batches.batch_sampler is not None and batch_size is None:
        batch_size = getattr(batches.batch_sampler, "batch_size", None)
    if batch_size is None or batches.drop_last:
        raise ConfigError(
            "predict(gather=True) with several processes needs a DataLoader with a batch_size "
            "and drop_last=False (each rank's last batch is partial; dropping it would lose "
            "different samples on each rank); pass such a loader, or gather=False"
        )
    rows = [_rows_of_rank(gathered[r], r, size, world, batch_size) for r in range(world)]
    ordered = [rows[i % world][i // world] for i in range(size)]
    template = next((batch for outputs in gathered for batch in outputs), None)
    return [
        _join(template, ordered[start : start + batch_size]) for start in range(0, size, batch_size)
    ]


def _rows_of_rank(outputs: list[Any], rank: int, size: int, world: int, batch: int) -> list[Any]:
    samples = len(range(rank, size, world))
    rows: list[Any] = []
    for index, output in enumerate(outputs):
        count = min(batch, samples - index * batch)
        rows.extend(_split(output, count, f"the output of batch {index} on rank {rank}"))
    if len(rows) != samples:
        raise ConfigError(
            f"predict(gather=True): rank {rank} predicted {len(rows)} rows for its {samples} "
            "samples; run_predict_step must return one row per sample"
        )
    return rows


def _split(output: Any, count: int, where: str) -> list[Any]:
    if isinstance(output, torch.Tensor):
        if output.dim() == 0 or output.shape[0] != count:
            raise _unsplittable(where, f"a tensor of shape {tuple(output.shape)}", count)
        return list(output.unbind(0))
    if isinstance(output, dict):
        parts = {key: _split(value, count, f"{where}[{key!r}]") for key, value in output.items()}
        return [{key: parts[key][i] for key in output} for i in range(count)]
    if isinstance(output, tuple):
        columns = [_split(value, count, f"{where}[{i}]") for i, value in enumerate(output)]
        return [tuple(column[i] for column in columns) for i in range(count)]
    if isinstance(output, list) and len(output) == count:
        return list(output)
    raise _unsplittable(where, f"a {type(output).__name__}", count)


def _join(template: Any, rows: list[Any]) -> Any:
    if isinstance(template, torch.Tensor):
        return torch.stack(rows)
    if isinstance(template, dict):
        return {key: _join(template[key], [row[key] for row in rows]) for key in template}
    if isinstance(template, tuple):
        return tuple(_join(part, [row[i] for row in rows]) for i, part in enumerate(template))
    return list(rows)


def _unsplittable(where: str, what: str, count: int) -> ConfigError:
    return ConfigError(
        f"predict(gather=True): {where} is {what}, which cannot be split into its {count} "
        "rows; return a tensor with the batch along dim 0, a tuple or dict of those, or a "
        "list with one entry per sample (or predict with gather=False and combine yourself)"
    )


def _to_cpu(value: Any) -> Any:
    if isinstance(value, torch.Tensor):
        return value.detach().cpu()
    if isinstance(value, dict):
        return {k: _to_cpu(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_cpu(v) for v in value)
    return value
