"""The checks ``Recorder.add`` makes of a batch, and the forms it need not check again.

A batch's *form* is the types, shapes and dtypes of its scores, labels and ids (the
``key`` :meth:`~predaudit.record.Recorder.add` makes). A batch of a form not seen before
is checked whole (:meth:`BatchForms._add_checked`); one of a form checked before, in this
epoch or an earlier one, is only compared with the epoch's facts (the shapes past the
batch axis, the scores' dtype, whether ids are given: :meth:`BatchForms._known`).

The quick path: up to two forms of CPU torch tensors with integer labels and ids (an
epoch's full batches and its shorter last one, say) are compared attribute by attribute,
with nothing else looked at (:data:`Quick`); they stay from one epoch to the next
*provisionally*. A batch of such a form is taken at once (its epoch's facts are those of
the epoch before, which that form agreed with); if the epoch's first batch is of another
form, the epoch starts afresh (:meth:`BatchForms._fresh`), as it would have without them.
"""

from __future__ import annotations

from typing import Any

from predaudit.errors import InputError
from predaudit.record import buffer
from predaudit.record.buffer import (
    Batches,
    check_auto_ids,
    dtype_name,
    is_numeric,
    keep,
    shape_of,
)

Quick = tuple[Any, ...]
"""One form of the quick path: the types, shapes and dtypes of the scores, labels and ids
(``NoneType, None, None`` for no ids), the rows of such a batch, and its
:attr:`~predaudit.record.buffer.Batches.form`."""


def quick_form(key: tuple[Any, ...], tails: tuple[Any, ...], ids_given: bool) -> Quick:
    """The :data:`Quick` of batches of torch tensors of form ``key`` (see
    ``Recorder.add``) and ``tails`` (shapes past the batch axis)."""
    ts, ss, ds, tl, sl, dl, i = key
    ti, si, di = i if ids_given else (type(None), None, None)
    return ts, ss, ds, tl, sl, dl, ti, si, di, ss[0], buffer.form_of(key, tails)


class BatchForms:
    """The checking half of :class:`~predaudit.record.Recorder` (its attributes)."""

    ordered: bool
    sharded: bool | None
    _where: Any
    _epoch: Batches
    _batches: int
    _checked: dict[tuple[Any, ...], tuple[Any, str, bool, bool]]
    _quick: tuple[Quick, ...]  # the forms of add()'s quick path, newest first
    _key: tuple[Any, ...] | None  # the last checked batch's types and shapes
    _auto_ids: bool | None
    _dtype: str
    _tails: tuple[tuple[int, ...], tuple[int, ...]] | None
    _tokens: int | None
    _tensors: bool  # the last checked batch's arrays are all torch tensors
    _grads: bool  # its labels or ids are tensors that can require grad (floats)

    def _fresh(self) -> None:
        """The epoch's facts unknown: its first batch sets them."""
        self._key = None
        self._auto_ids = None
        self._dtype = ""
        self._tails = None
        self._tensors = False
        self._grads = True
        self._quick = ()

    def _note_quick(self, key: tuple[Any, ...] | None, tails: tuple[Any, ...]) -> None:
        """A batch of form ``key`` (None: not looked up) is held: it joins the quick path if
        it can go there, else the quick path is emptied; its forms share one
        :attr:`~predaudit.record.buffer.Batches.form`, that of the epoch's batches (or
        that form is None: of no one form), which the quick path does not update."""
        if key is None or not self._tensors or self._grads:
            self._quick = ()
            return
        quick = quick_form(key, tails, not self._auto_ids)
        if self._quick and self._quick[0][-1] == quick[-1]:
            self._quick = (quick, self._quick[0]) if self._quick[0] != quick else self._quick
        else:
            self._quick = (quick,)

    def _known(self, key: tuple[Any, ...]) -> bool:
        """Whether batches of this form (``key``: types, shapes, dtypes) passed the checks
        before, in this epoch or an earlier one, and agree with this epoch's batches; if so,
        it becomes the form :meth:`add` compares with (the epoch's first and last batch,
        often shorter, are then not checked again every epoch)."""
        if not self._epoch.held:  # the epoch's first batch
            self._fresh()
        facts = self._checked.get(key)
        if facts is None:
            return False
        tails, name, auto_ids, tensors = facts
        if self._tails is None:
            if auto_ids:
                check_auto_ids(self.ordered, self.sharded)
            self._tails, self._dtype, self._auto_ids = tails, name, auto_ids
        elif (tails, name, auto_ids) != (self._tails, self._dtype, self._auto_ids):
            return False  # the error is raised by _add_checked
        self._key, self._tensors = key, tensors
        self._grads = not tensors or buffer.can_require_grad(key)
        self._epoch.note(buffer.form_of(key, tails) if tensors else None)
        self._note_quick(key, tails)
        return True

    def _add_checked(self, scores: Any, labels: Any, ids: Any, key: tuple[Any, ...] | None) -> None:
        if not self._epoch.held:
            self._fresh()
        b = self._batches
        s, y = keep(scores), keep(labels)
        i = None if ids is None else keep(ids)
        shape_s, name = shape_of(s), dtype_name(s)
        if not 1 <= len(shape_s) <= 3 or not is_numeric(name):
            raise self._batch_error(
                f"scores have shape {shape_s} and dtype {name}; expected "
                "numbers of shape [B, C] or [B]"
            )
        if i is None:
            check_auto_ids(self.ordered, self.sharded)
        if self._auto_ids is not None and self._auto_ids != (i is None):
            raise self._batch_error("some batches of this epoch have ids, others not")
        self._auto_ids = i is None
        if len(shape_s) == 3:
            s, y, i, self._tokens = buffer.tokens_as_samples(
                s, y, i, self._tokens, self._batch_error
            )
            shape_s, key = shape_of(s), None
        shape_y = shape_of(y)
        if shape_y[:1] != shape_s[:1] or len(shape_y) not in (1, 2):
            raise self._batch_error(f"labels have shape {shape_y} for scores of shape {shape_s}")
        if i is not None:
            if shape_of(i) != shape_s[:1]:
                raise self._batch_error(f"ids have shape {shape_of(i)} for {shape_s[0]} samples")
            if dtype_name(i) == "object":
                raise self._batch_error("ids have dtype object; give integers or text")
        tails = (shape_s[1:], shape_y[1:])
        if self._tails is None:
            self._tails, self._dtype = tails, name
        else:
            problem = buffer.unlike_before(tails, self._tails, shape_s, shape_y, name, self._dtype)
            if problem:
                raise self._batch_error(problem)
        self._key = key
        self._tensors = all(hasattr(x, "_version") for x in (scores, labels, ids) if x is not None)
        self._grads = key is None or not self._tensors or buffer.can_require_grad(key)
        if key is not None:
            if len(self._checked) >= 16:  # batch sizes that vary: keep it small
                self._checked.clear()
            self._checked[key] = (tails, name, i is None, self._tensors)
        self._note_quick(key, tails)
        self._epoch.note(buffer.form_of(key, tails) if self._tensors and key is not None else None)
        self._epoch.hold(b, s, y, i)
        self._epoch.n += shape_s[0]

    def _batch_error(self, problem: str) -> InputError:
        return InputError(self._where, f"batch {self._batches}: {problem}")
