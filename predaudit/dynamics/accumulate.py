"""Streaming per-sample training dynamics over the epochs of a run.

:class:`DynamicsAccumulator` takes one epoch at a time (the per-sample
statistics predaudit stores per epoch) and keeps O(N) state: a fixed set of
arrays of shape ``(n_samples,)`` or ``(2, n_samples)`` allocated once, so memory
does not grow with the number of epochs. :meth:`DynamicsAccumulator.result` returns a frozen
:class:`DynamicsResult`; it does not change the state and may be called again
after more updates.

Definitions, per sample, over the E epochs passed to ``update`` (in that order):

``confidence``
    mean of ``p_true`` (Swayamdipta et al. 2020, Dataset Cartography).
``variability``
    population standard deviation (ddof 0) of ``p_true``, by Welford's update.
``correct_epochs`` / ``correctness``
    number / fraction of epochs where ``correct`` is True.
``forgetting_events``
    number of correct -> wrong changes between consecutive epochs (Toneva et
    al. 2019). A sample never correct has 0 events and ``never_learned`` True;
    no sentinel (Cartography's 1000, Toneva's E) is mixed into the counts.
``first_learned``
    label of the first epoch where ``correct`` is True. Where ``never_learned``
    is True it holds ``last_epoch + 1`` ("not learned by the last epoch seen",
    a censored time, so sorting puts those samples last); read it with the mask.
``aum``
    mean of ``margin`` (true-class logit minus the largest other logit; Pleiss
    et al. 2020). Only for ``input_kind="logits"``.
``el2n``
    ``sqrt(brier)`` at one epoch (Paul et al. 2021), default the first epoch.
``suspect_*``
    evidence for a label problem, from a Misra-Gries summary with two slots of
    the classes predicted at the sample's *wrong* epochs: a predicted class
    already in a slot adds to it; another takes a slot whose vote counter is 0
    (starting afresh), or else cancels one vote of each slot. Any class predicted
    at more than a third of the wrong epochs is in a slot at the end. Each slot
    counts exactly the epochs predicting its class since the class entered the
    slot, so when the wrong predictions went to at most two classes the counts
    are exact (``suspect_exact`` True); otherwise they are lower bounds.
    ``suspect_class`` is the slot class with more counted epochs (then more
    votes, then the lower class), ``suspect_epochs`` its count, and
    ``suspect_mean_confidence`` and ``suspect_slope`` the mean and least-squares
    slope (per unit of epoch label) of ``confidence`` (the predicted class's
    probability) over those epochs (Welford co-moment updates).

Invalid samples (``valid`` False, e.g. label -100): a sample counts only if it
is valid at every epoch passed; the others are dropped from the result and
listed in ``excluded`` (``n_excluded``). While streaming, their entries are
replaced by neutral values so the state stays finite.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from predaudit.dynamics.result import DynamicsResult
from predaudit.reduce.welford import welford_step
from predaudit.report.vocab import KINDS, REDUCED

INPUT_KINDS = (*KINDS, REDUCED)
"""What the per-sample columns were computed from: scores, or pre-reduced records."""

_AUM_REFUSED = (
    "margin given for input_kind={kind!r}: AUM (Pleiss et al. 2020) is the mean over epochs of "
    "the logit margin, true-class logit minus the largest other logit, which is unbounded. A "
    "margin taken from probabilities (p_y - max p_other, or a log-ratio clipped at 1e-7) is "
    "bounded and saturates for confident samples, so its mean ranks samples differently and is "
    "not AUM. Pass margin=None (no AUM), or accumulate from the logits (input_kind='logits')."
)


class DynamicsAccumulator:
    """Accumulate per-sample training dynamics one epoch at a time, in O(N) memory.

    Parameters
    ----------
    n_samples : int
        N; every array passed to :meth:`update` has shape ``(n_samples,)`` and
        position i is the same sample at every epoch.
    input_kind : {"logits", "probs", "log_probs", "reduced"}
        What the scores were (``reduced``: pre-reduced per-sample records). Margins
        (hence AUM) are accepted for logits only.
    el2n_epoch : int or None
        Epoch label at which ``sqrt(brier)`` is kept as EL2N; None: the first
        epoch passed.
    label_votes : bool
        Keep the summary of wrong predictions (``suspect_*``, for label problems); False
        skips it (3/4 of an update's work) when only the data map is needed.

    State: 180 bytes per sample (67 without ``label_votes``; fixed-size arrays
    allocated here), however many epochs are passed; :meth:`state_nbytes` reports it.
    """

    def __init__(
        self,
        n_samples: int,
        *,
        input_kind: str,
        el2n_epoch: int | None = None,
        label_votes: bool = True,
    ) -> None:
        if not _is_int(n_samples) or n_samples < 0:
            raise ValueError(f"n_samples must be a non-negative int, got {n_samples!r}")
        if input_kind not in INPUT_KINDS:
            raise ValueError(f"input_kind must be one of {INPUT_KINDS}, got {input_kind!r}")
        if el2n_epoch is not None and not _is_int(el2n_epoch):
            raise ValueError(f"el2n_epoch must be an int epoch label or None, got {el2n_epoch!r}")
        n = int(n_samples)
        self.n_samples = n
        self.input_kind = input_kind
        self.el2n_epoch = None if el2n_epoch is None else int(el2n_epoch)
        self.label_votes = bool(label_votes)
        self.n_epochs = 0
        self.first_epoch: int | None = None
        self.last_epoch: int | None = None
        self._has_margin: bool | None = None  # decided at the first update
        self._has_labels: bool | None = None
        self._el2n_seen: int | None = None
        # Fixed-size state, shape (n,) each (the vote slots below: (2, n)).
        self._valid_all = np.ones(n, dtype=bool)
        self._labels = np.zeros(n, dtype=np.int64)
        self._p_mean = np.zeros(n)  # Welford mean of p_true
        self._p_m2 = np.zeros(n)  # Welford sum of squared deviations of p_true
        self._correct_epochs = np.zeros(n, dtype=np.int64)
        self._forgetting = np.zeros(n, dtype=np.int64)
        self._prev_correct = np.zeros(n, dtype=bool)
        self._learned = np.zeros(n, dtype=bool)
        self._first_learned = np.zeros(n, dtype=np.int64)
        self._margin_sum = np.zeros(n)
        self._el2n = np.zeros(n)
        # Two-slot Misra-Gries summary of the wrong predictions, shape (2, n) each: the
        # slot's class and vote counter, and for the epochs predicting the slot's class
        # since it entered the slot their number, mean epoch label, mean confidence, sum
        # of squared epoch-label deviations and epoch-label x confidence co-moment.
        m = n if self.label_votes else 0  # without label_votes: shape (2, 0)
        self._slot_class = np.full((2, m), -1, dtype=np.int64)
        self._slot_votes = np.zeros((2, m), dtype=np.int64)
        self._slot_n = np.zeros((2, m), dtype=np.int64)
        self._slot_mean_t = np.zeros((2, m))
        self._slot_mean_x = np.zeros((2, m))
        self._slot_m2_t = np.zeros((2, m))
        self._slot_c_tx = np.zeros((2, m))
        self._lossy = np.zeros(m, dtype=bool)  # a third wrong class was seen

    def state_nbytes(self) -> int:
        """Total bytes of the per-sample state arrays (constant over updates)."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))

    def update(
        self,
        epoch_label: int,
        *,
        p_true: ArrayLike,
        correct: ArrayLike,
        pred: ArrayLike,
        confidence: ArrayLike,
        valid: ArrayLike,
        margin: ArrayLike | None = None,
        labels: ArrayLike | None = None,
        brier: ArrayLike | None = None,
    ) -> None:
        """Add one epoch. Every array has shape ``(n_samples,)``.

        Parameters
        ----------
        epoch_label : int
            Larger than the previous update's label.
        p_true : float array
            Probability of the (given) true class, in [0, 1].
        correct : bool array
            ``pred == label``.
        pred : int array
            Arg-max class.
        confidence : float array
            Largest class probability (the probability of ``pred``).
        valid : bool array
            False for samples that do not count (label -100); a sample invalid
            at any epoch is left out of the result.
        margin : float array or None
            True-class logit minus the largest other logit (logits only); give
            it at every epoch or at none.
        labels : int array or None
            The labels; give them at every epoch or at none. They must not
            change between epochs and must agree with ``correct == (pred == labels)``.
        brier : float array or None
            ``sum_k (p_k - onehot_k)^2``; used only at the EL2N epoch.

        Raises ValueError on a bad shape, a non-increasing epoch label, a
        non-finite value of a valid sample, or margins for probabilities.
        """
        if not _is_int(epoch_label):
            raise ValueError(f"epoch_label must be an int, got {epoch_label!r}")
        t = int(epoch_label)
        if self.last_epoch is not None and t <= self.last_epoch:
            raise ValueError(f"epoch labels must increase: got {t} after {self.last_epoch}")
        if margin is not None and self.input_kind != "logits":
            raise ValueError(_AUM_REFUSED.format(kind=self.input_kind))
        self._check_every_or_none("margin", margin, self._has_margin)
        self._check_every_or_none("labels", labels, self._has_labels)

        v = self._vec(valid, "valid", bool)
        p = self._finite(self._vec(p_true, "p_true", np.float64), v, "p_true")
        c = self._vec(correct, "correct", bool) & v
        pr = self._vec(pred, "pred", np.int64)
        conf = self._finite(self._vec(confidence, "confidence", np.float64), v, "confidence")
        m = (
            None
            if margin is None
            else self._finite(self._vec(margin, "margin", np.float64), v, "margin")
        )
        lab = None if labels is None else self._vec(labels, "labels", np.int64)
        take_el2n = self._el2n_seen is None and (
            t == self.el2n_epoch if self.el2n_epoch is not None else self.n_epochs == 0
        )
        b = None
        if take_el2n and brier is not None:
            b = self._finite(self._vec(brier, "brier", np.float64), v, "brier")
        elif take_el2n and self.el2n_epoch is not None:
            raise ValueError(f"el2n_epoch={self.el2n_epoch}: no brier given at that epoch")
        if np.any((pr < 0) & v):
            raise ValueError(f"pred: {int(np.count_nonzero((pr < 0) & v))} valid samples are < 0")
        if lab is not None:
            if self._has_labels and np.any((lab != self._labels) & v & self._valid_all):
                raise ValueError(f"epoch {t}: labels differ from the earlier epochs'")
            if np.any(((pr == lab) != c) & v):
                raise ValueError(f"epoch {t}: correct disagrees with pred == labels")

        # -- everything checked: change the state ------------------------------------------
        first = self.n_epochs == 0
        self.n_epochs += 1
        k = self.n_epochs
        if first:
            self.first_epoch = t
            self._has_margin = m is not None
            self._has_labels = lab is not None
        self.last_epoch = t
        if lab is not None and first:
            self._labels[:] = lab
        self._valid_all &= v

        # Welford on p_true; an invalid entry is replaced by the running mean (no change).
        welford_step(self._p_mean, self._p_m2, p, v, k)

        self._correct_epochs += c
        if not first:
            self._forgetting += self._prev_correct & ~c
        self._prev_correct[:] = c
        newly = c & ~self._learned
        self._first_learned[newly] = t
        self._learned |= c

        if m is not None:
            self._margin_sum += np.where(v, m, 0.0)
        if b is not None:
            np.sqrt(np.where(v, b, 0.0), out=self._el2n)
            self._el2n_seen = t

        if self.label_votes:
            self._vote(t, v & ~c, pr, np.where(v, conf, 0.0))

    def _vote(
        self, t: int, wrong: NDArray[np.bool_], pred: NDArray[np.int64], conf: NDArray[np.float64]
    ) -> None:
        """Misra-Gries step (two counters) on the wrong predictions, with per-slot sums."""
        cls, votes, cnt = self._slot_class, self._slot_votes, self._slot_n
        in0 = wrong & (pred == cls[0])
        in1 = wrong & (pred == cls[1]) & ~in0
        rest = wrong & ~in0 & ~in1
        free0, free1 = votes[0] == 0, votes[1] == 0
        put0 = rest & free0 & (~free1 | (cnt[0] <= cnt[1]))
        put1 = rest & ~put0 & free1
        drop = rest & ~put0 & ~put1  # both slots taken: cancel one vote of each
        self._lossy |= drop | (put0 & (cnt[0] > 0)) | (put1 & (cnt[1] > 0))
        votes[:, drop] -= 1
        for j, (hit_class, put) in enumerate(((in0, put0), (in1, put1))):
            # a class entering a slot starts its sums afresh
            cls[j, put] = pred[put]
            votes[j, put] = 0
            for arr in (cnt, self._slot_mean_t, self._slot_mean_x, self._slot_m2_t):
                arr[j, put] = 0
            self._slot_c_tx[j, put] = 0.0
            hit = hit_class | put
            votes[j] += hit
            cnt[j] += hit
            safe = np.maximum(cnt[j], 1)
            dt = np.where(hit, t - self._slot_mean_t[j], 0.0)
            dx = np.where(hit, conf - self._slot_mean_x[j], 0.0)
            self._slot_mean_t[j] += dt / safe
            self._slot_mean_x[j] += dx / safe
            # Welford co-moments: old deviation of t times new deviation of t (or x)
            self._slot_m2_t[j] += dt * np.where(hit, t - self._slot_mean_t[j], 0.0)
            self._slot_c_tx[j] += dt * np.where(hit, conf - self._slot_mean_x[j], 0.0)

    def result(self) -> DynamicsResult:
        """The dynamics so far, for the samples valid at every epoch (state unchanged)."""
        if self.n_epochs == 0 or self.first_epoch is None or self.last_epoch is None:
            raise ValueError("no epoch accumulated yet: call update() first")
        keep = self._valid_all
        index = np.flatnonzero(keep).astype(np.int64)
        excluded = np.flatnonzero(~keep).astype(np.int64)
        e = self.n_epochs
        never = ~self._learned[keep]
        first_learned = np.where(never, self.last_epoch + 1, self._first_learned[keep])
        out = DynamicsResult(
            n_samples=self.n_samples,
            n_epochs=e,
            first_epoch=self.first_epoch,
            last_epoch=self.last_epoch,
            input_kind=self.input_kind,
            index=index,
            excluded=excluded,
            labels=self._labels[keep].copy() if self._has_labels else None,
            confidence=self._p_mean[keep].copy(),
            variability=np.sqrt(self._p_m2[keep] / e),
            correct_epochs=self._correct_epochs[keep].copy(),
            correctness=self._correct_epochs[keep] / e,
            forgetting_events=self._forgetting[keep].copy(),
            never_learned=never,
            first_learned=first_learned.astype(np.int64),
            aum=self._margin_sum[keep] / e if self._has_margin else None,
            el2n=self._el2n[keep].copy() if self._el2n_seen is not None else None,
            el2n_epoch=self._el2n_seen,
            **self._suspects(keep),
            label_votes=self.label_votes,
        )
        for value in vars(out).values():
            if isinstance(value, np.ndarray):
                value.flags.writeable = False
        return out

    def _suspects(self, keep: NDArray[np.bool_]) -> dict[str, np.ndarray]:
        """The ``suspect_*`` fields of the samples ``keep`` (placeholders without votes)."""
        n = int(np.count_nonzero(keep))
        if not self.label_votes:
            return {
                "suspect_class": np.full(n, -1, dtype=np.int64),
                "suspect_epochs": np.zeros(n, dtype=np.int64),
                "suspect_exact": np.zeros(n, dtype=bool),
                "suspect_mean_confidence": np.full(n, np.nan),
                "suspect_slope": np.full(n, np.nan),
            }
        # the slot with more counted epochs (then more votes, then the lower class)
        cnt = self._slot_n[:, keep]
        votes = self._slot_votes[:, keep]
        cls = self._slot_class[:, keep]
        pick1 = (cnt[1] > cnt[0]) | (
            (cnt[1] == cnt[0])
            & ((votes[1] > votes[0]) | ((votes[1] == votes[0]) & (cls[1] < cls[0])))
        )
        j = pick1.astype(np.intp)
        cols = np.arange(j.size)
        s_n = cnt[j, cols]
        m2_t = self._slot_m2_t[:, keep][j, cols]
        with np.errstate(invalid="ignore", divide="ignore"):
            mean_x = np.where(s_n > 0, self._slot_mean_x[:, keep][j, cols], np.nan)
            slope = np.where(s_n > 1, self._slot_c_tx[:, keep][j, cols] / m2_t, np.nan)
        return {
            "suspect_class": np.where(s_n > 0, cls[j, cols], -1).astype(np.int64),
            "suspect_epochs": s_n.astype(np.int64),
            "suspect_exact": ~self._lossy[keep],
            "suspect_mean_confidence": mean_x,
            "suspect_slope": slope,
        }

    # -- helpers ---------------------------------------------------------------------------

    def _vec(self, a: ArrayLike, name: str, dtype: type) -> np.ndarray:
        arr = np.asarray(a)
        if arr.shape != (self.n_samples,):
            raise ValueError(f"{name} must have shape ({self.n_samples},), got {arr.shape}")
        if dtype is bool and arr.dtype != np.bool_:
            raise ValueError(f"{name} must be a bool array, got dtype {arr.dtype}")
        if dtype is np.int64 and not np.issubdtype(arr.dtype, np.integer):
            raise ValueError(f"{name} must be an integer array, got dtype {arr.dtype}")
        return arr.astype(dtype, copy=False)

    @staticmethod
    def _finite(arr: NDArray[np.float64], valid: NDArray[np.bool_], name: str) -> np.ndarray:
        bad = ~np.isfinite(arr) & valid
        if bad.any():
            raise ValueError(f"{name}: {int(bad.sum())} valid samples are NaN or infinite")
        return arr

    def _check_every_or_none(self, name: str, given: object, before: bool | None) -> None:
        if before is None:
            return
        if before != (given is not None):
            had = "given" if before else "not given"
            raise ValueError(
                f"{name} must be given at every epoch or at none; it was {had} at the first epoch"
            )


def _is_int(x: object) -> bool:
    """A Python or numpy integer, not a bool."""
    return isinstance(x, int | np.integer) and not isinstance(x, bool)
