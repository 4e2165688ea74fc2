"""Lightning: ``PredauditCallback(recorder)`` records the validation outputs of every epoch.

::

    from predaudit.record.lightning import PredauditCallback
    trainer = Trainer(callbacks=[PredauditCallback(Recorder("runs/mnist", split="val"))])

The ``validation_step`` must return a dict with the batch's ``logits`` (the scores
of the recorder's ``kind``), its ``labels`` and, optionally, the samples' ``ids``
(required unless the recorder was made with ``ordered=True`` and the validation
loader does not shuffle; always required under DDP, where every process writes its
own shard and the reader merges them by id)::

    def validation_step(self, batch, batch_idx):
        x, y, ids = batch
        logits = self(x)
        self.log("val_loss", F.cross_entropy(logits, y))
        return {"logits": logits, "labels": y, "ids": ids}

The sanity check Lightning runs before training is not recorded. Epochs are
labelled ``trainer.current_epoch + 1`` (1, 2, …), or ``trainer.global_step`` with
``label="step"`` (needed when validation runs several times per epoch,
``val_check_interval``). Only the validation loader ``dataloader_idx`` (default 0)
is recorded. Lightning is imported when the callback is first used; without it the
import error names the extra: ``pip install 'predaudit[lightning]'``.
"""

from __future__ import annotations

from typing import Any

from predaudit.record._extra import lazy_callback, require
from predaudit.record.recorder import Recorder

__all__ = ["PredauditCallback"]  # noqa: F822 - made on first use, by __getattr__


def _callback_base() -> type:
    module = require(
        ("lightning.pytorch", "pytorch_lightning"),
        "lightning",
        "Lightning",
        "predaudit.record.lightning",
    )
    return module.Callback  # type: ignore[no-any-return]


def _make() -> type:
    Callback: Any = _callback_base()  # noqa: N806 - the framework's class

    class PredauditCallback(Callback):  # type: ignore[misc,valid-type]
        """Record ``validation_step``'s returned ``logits``/``labels``/``ids`` each epoch."""

        def __init__(self, recorder: Recorder, *, label: str = "epoch", dataloader_idx: int = 0):
            super().__init__()
            if label not in ("epoch", "step"):
                raise ValueError(f"label must be 'epoch' or 'step', not {label!r}")
            self.recorder = recorder
            self.label = label
            self.dataloader_idx = dataloader_idx

        def _recording(self, trainer: Any) -> bool:
            return not trainer.sanity_checking

        def on_validation_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            if self._recording(trainer):
                self.recorder.discard()

        def on_validation_batch_end(
            self,
            trainer: Any,
            pl_module: Any,
            outputs: Any,
            batch: Any,
            batch_idx: int,
            dataloader_idx: int = 0,
        ) -> None:
            if not self._recording(trainer) or dataloader_idx != self.dataloader_idx:
                return
            if not isinstance(outputs, dict) or "logits" not in outputs or "labels" not in outputs:
                got = sorted(outputs) if isinstance(outputs, dict) else type(outputs).__name__
                raise TypeError(
                    "predaudit: validation_step must return a dict with 'logits', 'labels' and "
                    f"optionally 'ids' (got {got})"
                )
            self.recorder.add(outputs["logits"], outputs["labels"], outputs.get("ids"))

        def on_validation_epoch_end(self, trainer: Any, pl_module: Any) -> None:
            if not self._recording(trainer) or self.recorder.pending == 0:
                return
            epoch = trainer.global_step if self.label == "step" else trainer.current_epoch + 1
            self.recorder.end_epoch(epoch)

        def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
            self.recorder.discard()

        def teardown(self, trainer: Any, pl_module: Any, stage: str) -> None:
            self.recorder.flush()  # a background=True recorder's last epoch is on disk

    PredauditCallback.__module__ = __name__
    return PredauditCallback


__getattr__ = lazy_callback(globals(), _make)
