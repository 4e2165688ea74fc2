"""``evaluate(model, loader, recorder, epoch)``: record one evaluation pass of a PyTorch loop."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from predaudit.record.recorder import Recorder


def _unpack(batch: Any) -> tuple[Any, Any, Any]:
    if isinstance(batch, dict):
        x = batch.get("x", batch.get("inputs", batch.get("input")))
        y = batch.get("labels", batch.get("y", batch.get("targets")))
        if x is None or y is None:
            raise TypeError(
                f"a dict batch needs 'x' (or 'inputs') and 'labels' (or 'y'); got {sorted(batch)}"
            )
        return x, y, batch.get("ids")
    if isinstance(batch, list | tuple) and len(batch) in (2, 3):
        return batch[0], batch[1], batch[2] if len(batch) == 3 else None
    raise TypeError(
        "evaluate() expects batches (x, y), (x, y, ids) or dicts with 'x', 'labels' and 'ids'; "
        f"got {type(batch).__name__}"
    )


def evaluate(
    model: Any, loader: Any, recorder: Recorder, epoch: int, *, device: Any = None
) -> Path:
    """Run ``model`` over ``loader`` in eval mode, without gradients; record it as ``epoch``.

    Batches are ``(x, y)``, ``(x, y, ids)`` or dicts with ``x``, ``labels`` and ``ids``;
    ``x`` is moved to ``device`` (default: the device of the model's first parameter)
    and the model's output (its scores, of the recorder's ``kind``) is recorded with
    ``y`` and ``ids``. Without ids the recorder needs ``ordered=True`` (a loader that
    does not shuffle). The model's training mode is restored afterwards. Returns the
    epoch's file (with the recorder's default ``background=True``, written while the next
    epoch runs: ``recorder.flush()`` waits for it).
    """
    import torch

    if device is None:
        param = next(iter(model.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for batch in loader:
                x, y, ids = _unpack(batch)
                if isinstance(x, torch.Tensor):
                    x = x.to(device, non_blocking=True)
                recorder.add(model(x), y, ids)
        return recorder.end_epoch(epoch)
    except BaseException:
        recorder.discard()
        raise
    finally:
        model.train(was_training)
