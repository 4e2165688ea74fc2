"""Save a run from a training loop: :class:`Recorder`, :func:`evaluate`, framework callbacks.

``predaudit.record.lightning``, ``predaudit.record.keras`` and
``predaudit.record.transformers`` each hold a ``PredauditCallback``; their
framework is imported only when the callback is first used.
"""

from predaudit.record.epochfile import EpochExistsError
from predaudit.record.loop import evaluate
from predaudit.record.recorder import Recorder

__all__ = ["EpochExistsError", "Recorder", "evaluate"]
