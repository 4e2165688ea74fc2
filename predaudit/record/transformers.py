"""Hugging Face ``Trainer``: ``PredauditCallback(recorder)`` records every evaluation.

::

    from predaudit.record.transformers import PredauditCallback
    PredauditCallback(Recorder("runs/bert", split="eval")).attach(trainer)

or, when building the trainer::

    cb = PredauditCallback(Recorder("runs/bert", split="eval"), compute_metrics=my_metrics)
    trainer = Trainer(..., callbacks=[cb], compute_metrics=cb.compute_metrics)

How: a ``TrainerCallback`` alone never sees the predictions (``on_evaluate`` gets
only the metrics), so the callback also provides the trainer's ``compute_metrics``
hook (wrapping yours, whose metrics are returned unchanged). That hook is the
public place where ``Trainer`` hands over the evaluation set's predictions and
``label_ids``, already gathered from every process and without the samples
repeated to even out the processes; they are added to the recorder, and written
at ``on_evaluate``, which knows the training state. Under ``torch.distributed``
only the main process writes (one whole file per evaluation, ``sharded=False``).
With ``batch_eval_metrics=True`` the batches are added as they come, so no more
than one evaluation is held.

Evaluations are labelled by the epoch (``round(state.epoch)``) when
``eval_strategy="epoch"``, else by ``state.global_step`` (``label="epoch"`` or
``"step"`` forces one). An evaluation at the same global step as the previous
recorded one (``trainer.evaluate()`` after ``train()``) sees the same weights and
is not written again. Samples are numbered in the order of the evaluation set
(the evaluation loader does not shuffle). Token classification: predictions
``[N, T, C]`` and ``label_ids`` ``[N, T]`` are recorded per token, ``-100`` positions
included (the analyses ignore them). Several evaluation datasets
(``eval_dataset={"a": ..., "b": ...}``) go to sibling splits named
``<split>_a``, ``<split>_b``. Transformers is imported when the callback is first
used; without it the import error names the extra:
``pip install 'predaudit[transformers]'``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from predaudit.record import buffer
from predaudit.record._extra import lazy_callback, require
from predaudit.record.recorder import Recorder

__all__ = ["PredauditCallback"]  # noqa: F822 - made on first use, by __getattr__


def _first(x: Any) -> Any:
    """The logits of predictions that hold several outputs (a tuple): the first one."""
    while isinstance(x, tuple | list):
        x = x[0]
    return x


def _prefix(metrics: dict[str, Any]) -> str:
    for key in metrics:
        if key.endswith("_runtime"):
            return key[: -len("_runtime")]
    return "eval"


def _make() -> type:
    hf = require(("transformers",), "transformers", "Transformers", "predaudit.record.transformers")
    TrainerCallback: Any = hf.TrainerCallback  # noqa: N806 - the framework's class

    class PredauditCallback(TrainerCallback):  # type: ignore[misc,valid-type]
        """Record each evaluation's predictions and ``label_ids`` (see the module docs)."""

        def __init__(
            self,
            recorder: Recorder,
            *,
            compute_metrics: Callable[..., dict[str, Any]] | None = None,
            label: str = "auto",
        ) -> None:
            if label not in ("auto", "epoch", "step"):
                raise ValueError(f"label must be 'auto', 'epoch' or 'step', not {label!r}")
            recorder.sharded = False
            self.recorder = recorder
            self.inner = compute_metrics
            self.label = label
            self._recorders = {"eval": recorder}
            self._last_step: dict[str, int] = {}
            self._seen = 0

        def attach(self, trainer: Any) -> Any:
            """Hook into ``trainer`` (its ``compute_metrics`` is kept and wrapped); return it."""
            if self.inner is None and trainer.compute_metrics is not self.compute_metrics:
                self.inner = trainer.compute_metrics
            trainer.compute_metrics = self.compute_metrics
            trainer.add_callback(self)
            return trainer

        # -- the compute_metrics hook ----------------------------------------------------

        def compute_metrics(self, eval_pred: Any, compute_result: bool | None = None) -> Any:
            """Add the predictions, then return the wrapped ``compute_metrics``'s result."""
            if buffer.distributed_rank()[0] == 0:
                scores = _first(eval_pred.predictions)
                labels = _first(eval_pred.label_ids)
                if labels is None:
                    raise ValueError(
                        "predaudit: the evaluation set has no labels (label_ids is None); "
                        "give the dataset a 'labels' column or set label_names"
                    )
                n = int(np.shape(scores)[0])
                ids = np.arange(self._seen, self._seen + n, dtype=np.int64)
                self._seen += n
                self.recorder.add(scores, labels, ids)
            if self.inner is None:
                return {}
            if compute_result is None:
                return self.inner(eval_pred)
            return self.inner(eval_pred, compute_result=compute_result)

        # -- callback events -------------------------------------------------------------

        def _recorder_for(self, prefix: str) -> Recorder:
            if prefix not in self._recorders:
                base = self.recorder
                name = prefix.removeprefix("eval_") if prefix.startswith("eval_") else prefix
                self._recorders[prefix] = Recorder(
                    base.out_dir,
                    split=f"{base.split}_{name}",
                    kind=base.kind,
                    ordered=base.ordered,
                    overwrite=base.overwrite,
                    compress=base.compress,
                    sharded=False,
                    fsync=base.fsync,
                    background=base.background,
                )
            return self._recorders[prefix]

        def _epoch_label(self, args: Any, state: Any) -> int:
            strategy = str(getattr(args.eval_strategy, "value", args.eval_strategy))
            by_epoch = self.label == "epoch" or (self.label == "auto" and strategy == "epoch")
            if by_epoch and state.epoch is not None:
                return int(round(state.epoch))
            return int(state.global_step)

        def on_evaluate(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any):
            rec = self.recorder
            self._seen = 0
            if rec.pending == 0 or buffer.distributed_rank()[0] != 0:
                rec.discard()
                return
            prefix = _prefix(metrics or {})
            target = self._recorder_for(prefix)
            if self._last_step.get(prefix) == state.global_step:
                rec.discard()  # the same weights as the evaluation recorded last
                return
            label = self._epoch_label(args, state)
            if target is not rec:
                rec._move_pending(target)  # added to the main recorder, written to the sibling
            target.end_epoch(label)
            self._last_step[prefix] = state.global_step

        def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            for rec in self._recorders.values():
                rec.flush()  # a background=True recorder's last evaluation is on disk

        def on_predict(self, args: Any, state: Any, control: Any, metrics: Any = None, **kw: Any):
            self._seen = 0
            self.recorder.discard()  # trainer.predict() is not an evaluation

    PredauditCallback.__module__ = __name__
    return PredauditCallback


__getattr__ = lazy_callback(globals(), _make)
