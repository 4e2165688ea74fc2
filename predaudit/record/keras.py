"""Keras 3 (any backend): ``PredauditCallback(recorder, x_val, y_val)`` predicts each epoch.

::

    from predaudit.record.keras import PredauditCallback
    model.fit(x, y, epochs=30, callbacks=[PredauditCallback(Recorder("runs/k"), x_val, y_val)])

At the end of every epoch the model predicts on ``x_val`` (in batches of
``batch_size``, without training behaviour such as dropout) and the predictions
are recorded with ``y_val`` as epoch ``epoch + 1`` (Keras counts from 0). ``ids``
defaults to the row positions of ``x_val``, which stay the same every epoch. The
recorder's ``kind`` must say what the model outputs: ``"probs"`` for a final
softmax, ``"logits"`` (the default) for a linear last layer used with
``from_logits=True``.

``x_val`` may be an array (sliced into batches, so at most one epoch of
predictions is held, in the recorder) or anything ``model.predict`` accepts (a
dataset, a list of inputs), whose predictions for the whole set are then added at
once. Keras is imported when the callback is first used; without it the import
error names the extra: ``pip install 'predaudit[keras]'``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from predaudit.record._extra import lazy_callback, require
from predaudit.record.recorder import Recorder

__all__ = ["PredauditCallback"]  # noqa: F822 - made on first use, by __getattr__


def _make() -> type:
    keras = require(("keras",), "keras", "Keras 3", "predaudit.record.keras")
    Callback: Any = keras.callbacks.Callback  # noqa: N806 - the framework's class

    class PredauditCallback(Callback):  # type: ignore[misc,valid-type]
        """Predict on the validation data at each epoch's end and record it."""

        def __init__(
            self,
            recorder: Recorder,
            x_val: Any,
            y_val: Any,
            ids: Any = None,
            *,
            batch_size: int = 32,
        ) -> None:
            super().__init__()
            self.recorder = recorder
            self.x_val = x_val
            self.y_val = np.asarray(y_val)
            n = self.y_val.shape[0]
            self.ids = np.arange(n, dtype=np.int64) if ids is None else np.asarray(ids)
            if self.ids.shape[0] != n:
                raise ValueError(f"ids has {self.ids.shape[0]} rows but y_val has {n}")
            self.batch_size = batch_size

        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            x, y, ids, rec = self.x_val, self.y_val, self.ids, self.recorder
            rec.discard()
            try:
                if isinstance(x, np.ndarray) or (hasattr(x, "shape") and hasattr(x, "__getitem__")):
                    for a in range(0, y.shape[0], self.batch_size):
                        b = a + self.batch_size
                        rec.add(self.model.predict_on_batch(x[a:b]), y[a:b], ids[a:b])
                else:
                    rec.add(self.model.predict(x, batch_size=self.batch_size, verbose=0), y, ids)
            except BaseException:
                rec.discard()
                raise
            rec.end_epoch(epoch + 1)

        def on_train_end(self, logs: dict[str, Any] | None = None) -> None:
            self.recorder.flush()  # a background=True recorder's last epoch is on disk

    PredauditCallback.__module__ = __name__
    return PredauditCallback


__getattr__ = lazy_callback(globals(), _make)
