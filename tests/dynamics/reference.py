"""Reference implementations copied from the original research code, for the tests.

Each block names its repository, commit, file and function, and its license.
The bodies are copied statement for statement (re-indented and re-wrapped by
``ruff format``; Cartography uses two-space indentation; AUMCalculator's long
docstrings are left out); changes, all marked ``ADAPTED``, are limited to taking
in-memory data instead of files/pickles and to dropping progress bars, prints
and file output. The small ``*_input`` helpers at the end build
the references' own in-memory formats from ``[E, N, C]`` arrays.
"""

# ruff: noqa: E501, E731, B007, B905, NPY002, UP006, UP007, UP035, F841

from __future__ import annotations

import logging
import types
from collections import defaultdict
from dataclasses import dataclass
from typing import Dict, List, Union

import numpy as np
import pandas as pd
import torch

logger = logging.getLogger(__name__)

# =====================================================================================
# github.com/allenai/cartography @ 3df3438fcc7324e706dee2e787426389bbd8fb1a
# cartography/selection/train_dy_filtering.py: compute_forgetfulness,
# compute_correctness, compute_train_dy_metrics, and the selection lines of
# write_filtered_data / consider_ascending_order.
# Copyright 2020 Swabha Swayamdipta. Licensed under the Apache License, Version 2.0
# (http://www.apache.org/licenses/LICENSE-2.0). Changes: marked # ADAPTED.
# =====================================================================================


def compute_forgetfulness(correctness_trend: List[float]) -> int:
    """
    Given a epoch-wise trend of train predictions, compute frequency with which
    an example is forgotten, i.e. predicted incorrectly _after_ being predicted correctly.
    Based on: https://arxiv.org/abs/1812.05159
    """
    if not any(correctness_trend):  # Example is never predicted correctly, or learnt!
        return 1000
    learnt = False  # Predicted correctly in the current epoch.
    times_forgotten = 0
    for is_correct in correctness_trend:
        if (not learnt and not is_correct) or (learnt and is_correct):
            # nothing changed.
            continue
        elif learnt and not is_correct:
            # Forgot after learning at some point!
            learnt = False
            times_forgotten += 1
        elif not learnt and is_correct:
            # Learnt!
            learnt = True
    return times_forgotten


def compute_correctness(trend: List[float]) -> float:
    """
    Aggregate #times an example is predicted correctly during all training epochs.
    """
    return sum(trend)


def compute_train_dy_metrics(training_dynamics, args):
    """
    Given the training dynamics (logits for each training instance across epochs), compute metrics
    based on it, for data map coorodinates.
    Computed metrics are: confidence, variability, correctness, forgetfulness, threshold_closeness---
    the last two being baselines from prior work
    (Example Forgetting: https://arxiv.org/abs/1812.05159 and
     Active Bias: https://arxiv.org/abs/1704.07433 respectively).
    Returns:
    - DataFrame with these metrics.
    - DataFrame with more typical training evaluation metrics, such as accuracy / loss.
    """
    confidence_ = {}
    variability_ = {}
    threshold_closeness_ = {}
    correctness_ = {}
    forgetfulness_ = {}

    # Functions to be applied to the data.
    variability_func = lambda conf: np.std(conf)
    if args.include_ci:  # Based on prior work on active bias (https://arxiv.org/abs/1704.07433)
        variability_func = lambda conf: np.sqrt(
            np.var(conf) + np.var(conf) * np.var(conf) / (len(conf) - 1)
        )
    threshold_closeness_func = lambda conf: conf * (1 - conf)

    loss = torch.nn.CrossEntropyLoss()

    num_tot_epochs = len(list(training_dynamics.values())[0]["logits"])
    if args.burn_out < num_tot_epochs:
        logger.info(
            f"Computing training dynamics. Burning out at {args.burn_out} of {num_tot_epochs}. "
        )
    else:
        logger.info(f"Computing training dynamics across {num_tot_epochs} epochs")
    logger.info(
        "Metrics computed: confidence, variability, correctness, forgetfulness, threshold_closeness"
    )

    logits = {i: [] for i in range(num_tot_epochs)}
    targets = {i: [] for i in range(num_tot_epochs)}
    training_accuracy = defaultdict(float)

    for guid in training_dynamics:  # ADAPTED: tqdm.tqdm(...) progress bar dropped
        correctness_trend = []
        true_probs_trend = []

        record = training_dynamics[guid]
        for i, epoch_logits in enumerate(record["logits"]):
            probs = torch.nn.functional.softmax(torch.Tensor(epoch_logits), dim=-1)
            true_class_prob = float(probs[record["gold"]])
            true_probs_trend.append(true_class_prob)

            prediction = np.argmax(epoch_logits)
            is_correct = (prediction == record["gold"]).item()
            correctness_trend.append(is_correct)

            training_accuracy[i] += is_correct
            logits[i].append(epoch_logits)
            targets[i].append(record["gold"])

        if args.burn_out < num_tot_epochs:
            correctness_trend = correctness_trend[: args.burn_out]
            true_probs_trend = true_probs_trend[: args.burn_out]

        correctness_[guid] = compute_correctness(correctness_trend)
        confidence_[guid] = np.mean(true_probs_trend)
        variability_[guid] = variability_func(true_probs_trend)

        forgetfulness_[guid] = compute_forgetfulness(correctness_trend)
        threshold_closeness_[guid] = threshold_closeness_func(confidence_[guid])

    # Should not affect ranking, so ignoring.
    epsilon_var = np.mean(list(variability_.values()))

    column_names = [
        "guid",
        "index",
        "threshold_closeness",
        "confidence",
        "variability",
        "correctness",
        "forgetfulness",
    ]
    df = pd.DataFrame(
        [
            [
                guid,
                i,
                threshold_closeness_[guid],
                confidence_[guid],
                variability_[guid],
                correctness_[guid],
                forgetfulness_[guid],
            ]
            for i, guid in enumerate(correctness_)
        ],
        columns=column_names,
    )

    df_train = pd.DataFrame(
        [
            [
                i,
                loss(torch.Tensor(logits[i]), torch.LongTensor(targets[i])).item()
                / len(training_dynamics),
                training_accuracy[i] / len(training_dynamics),
            ]
            for i in range(num_tot_epochs)
        ],
        columns=["epoch", "loss", "train_acc"],
    )
    return df, df_train


def consider_ascending_order(filtering_metric: str) -> bool:
    """
    Determine if the metric values' sorting order to get the most `valuable` examples for training.
    """
    if filtering_metric == "variability":
        return False
    elif filtering_metric == "confidence":
        return True
    elif filtering_metric == "threshold_closeness":
        return False
    elif filtering_metric == "forgetfulness":
        return False
    elif filtering_metric == "correctness":
        return True
    else:
        raise NotImplementedError(f"Filtering based on {filtering_metric} not implemented!")


def select_filtered_guids(args, train_dy_metrics, fraction, n_train):
    """ADAPTED from write_filtered_data: the lines that choose the selected rows for one
    ``fraction``, returning their guids instead of writing TSV files (``n_train`` stands
    for ``len(train_numeric)``; ``args.both_ends`` is not supported)."""
    # Determine whether to sort data in ascending order or not, based on the metric.
    is_ascending = consider_ascending_order(args.metric)
    if args.worst:
        is_ascending = not is_ascending

    # Sort by selection.
    sorted_scores = train_dy_metrics.sort_values(by=[args.metric], ascending=is_ascending)

    num_samples = int(fraction * n_train)
    selected = sorted_scores.head(n=num_samples + 1)
    return selected["guid"].tolist()  # ADAPTED: instead of writing train.tsv


# The data-map plot of cartography (plot_data_map, same file) annotates the regions
# at fixed axes-fraction positions and computes no boundary:
#   an1 = func_annotate("ambiguous", xyc=(0.9, 0.5), bbc='black')
#   an2 = func_annotate("easy-to-learn", xyc=(0.27, 0.85), bbc='r')
#   an3 = func_annotate("hard-to-learn", xyc=(0.35, 0.25), bbc='b')
# with x = variability and y = confidence.
CARTOGRAPHY_FRACTIONS = [0.01, 0.05, 0.10, 0.1667, 0.25, 0.3319, 0.50, 0.75]  # write_filtered_data


# =====================================================================================
# github.com/mtoneva/example_forgetting @ d51c1aaa51c5a5cd3b8a584f8d5dee2c8957653e
# order_examples_by_forgetting.py: compute_forgetting_statistics,
# sort_examples_by_forgetting. License: MIT (LICENSE.md of that repository).
# =====================================================================================


# Calculates forgetting statistics per example
#
# diag_stats: dictionary created during training containing
#             loss, accuracy, and missclassification margin
#             per example presentation
# npresentations: number of training epochs
#
# Returns 4 dictionaries with statistics per example
#
def compute_forgetting_statistics(diag_stats, npresentations):
    presentations_needed_to_learn = {}
    unlearned_per_presentation = {}
    margins_per_presentation = {}
    first_learned = {}

    for example_id, example_stats in diag_stats.items():
        # Skip 'train' and 'test' keys of diag_stats
        if not isinstance(example_id, str):
            # Forgetting event is a transition in accuracy from 1 to 0
            presentation_acc = np.array(example_stats[1][:npresentations])
            transitions = presentation_acc[1:] - presentation_acc[:-1]

            # Find all presentations when forgetting occurs
            if len(np.where(transitions == -1)[0]) > 0:
                unlearned_per_presentation[example_id] = np.where(transitions == -1)[0] + 2
            else:
                unlearned_per_presentation[example_id] = []

            # Find number of presentations needed to learn example,
            # e.g. last presentation when acc is 0
            if len(np.where(presentation_acc == 0)[0]) > 0:
                presentations_needed_to_learn[example_id] = (
                    np.where(presentation_acc == 0)[0][-1] + 1
                )
            else:
                presentations_needed_to_learn[example_id] = 0

            # Find the misclassication margin for each presentation of the example
            margins_per_presentation = np.array(example_stats[2][:npresentations])

            # Find the presentation at which the example was first learned,
            # e.g. first presentation when acc is 1
            if len(np.where(presentation_acc == 1)[0]) > 0:
                first_learned[example_id] = np.where(presentation_acc == 1)[0][0]
            else:
                first_learned[example_id] = np.nan

    return (
        presentations_needed_to_learn,
        unlearned_per_presentation,
        margins_per_presentation,
        first_learned,
    )


# Sorts examples by number of forgetting counts during training, in ascending order
# If an example was never learned, it is assigned the maximum number of forgetting counts
# If multiple training runs used, sort examples by the sum of their forgetting counts over all runs
#
# unlearned_per_presentation_all: list of dictionaries, one per training run
# first_learned_all: list of dictionaries, one per training run
# npresentations: number of training epochs
#
# Returns 2 numpy arrays containing the sorted example ids and corresponding forgetting counts
#
def sort_examples_by_forgetting(unlearned_per_presentation_all, first_learned_all, npresentations):
    # Initialize lists
    example_original_order = []
    example_stats = []

    for example_id in unlearned_per_presentation_all[0].keys():
        # Add current example to lists
        example_original_order.append(example_id)
        example_stats.append(0)

        # Iterate over all training runs to calculate the total forgetting count for current example
        for i in range(len(unlearned_per_presentation_all)):
            # Get all presentations when current example was forgotten during current training run
            stats = unlearned_per_presentation_all[i][example_id]

            # If example was never learned during current training run, add max forgetting counts
            if np.isnan(first_learned_all[i][example_id]):
                example_stats[-1] += npresentations
            else:
                example_stats[-1] += len(stats)

    # ADAPTED: print('Number of unforgettable examples: ...') dropped (tests print nothing)
    return np.array(example_original_order)[np.argsort(example_stats)], np.sort(example_stats)


# =====================================================================================
# github.com/asappresearch/aum @ 892e76eda4b6b85e21bda441d86134e0430ded7a
# aum/aum.py: AUMRecord, AUMCalculator (update; finalize without the CSV files).
# Copyright (c) 2020 ASAPP Research. License: MIT (LICENSE.md of that repository).
# =====================================================================================

sample_identifier = Union[int, str]


@dataclass
class AUMRecord:
    """
    Class for holding info around an aum update for a single sample
    """

    sample_id: sample_identifier
    num_measurements: int
    target_logit: int
    target_val: float
    other_logit: int
    other_val: float
    margin: float
    aum: float


class AUMCalculator:
    def __init__(self, save_dir: str, compressed: bool = True):
        self.save_dir = save_dir
        self.counts = defaultdict(int)
        self.sums = defaultdict(float)

        self.compressed = compressed
        if not compressed:
            self.records = []

    def update(
        self, logits: torch.Tensor, targets: torch.Tensor, sample_ids: List[sample_identifier]
    ) -> Dict[sample_identifier, AUMRecord]:
        target_values = logits.gather(1, targets.view(-1, 1)).squeeze()

        # mask out target values
        masked_logits = torch.scatter(logits, 1, targets.view(-1, 1), float("-inf"))
        other_logit_values, other_logit_index = masked_logits.max(1)
        other_logit_values = other_logit_values.squeeze()
        other_logit_index = other_logit_index.squeeze()

        margin_values = (target_values - other_logit_values).tolist()

        updated_aums = {}
        for i, (sample_id, margin) in enumerate(zip(sample_ids, margin_values)):
            self.counts[sample_id] += 1
            self.sums[sample_id] += margin

            record = AUMRecord(
                sample_id=sample_id,
                num_measurements=self.counts[sample_id],
                target_logit=targets[i].item(),
                target_val=target_values[i].item(),
                other_logit=other_logit_index[i].item(),
                other_val=other_logit_values[i].item(),
                margin=margin,
                aum=self.sums[sample_id] / self.counts[sample_id],
            )

            updated_aums[sample_id] = record
            if not self.compressed:
                self.records.append(record)

        return updated_aums

    def finalize(self, save_dir=None):
        """ADAPTED: returns the frame instead of writing aum_values.csv (and no full records)."""
        results = [
            {"sample_id": sample_id, "aum": self.sums[sample_id] / self.counts[sample_id]}
            for sample_id in self.counts.keys()
        ]

        result_df = pd.DataFrame(results).sort_values(by="aum", ascending=False)
        return result_df


# =====================================================================================
# Input builders (ours): the references' in-memory formats from arrays.
# =====================================================================================


def cartography_input(logits: np.ndarray, gold: np.ndarray, guids) -> dict:
    """``read_training_dynamics`` output: guid -> {"gold", "logits": one list per epoch}.

    ``logits`` is [E, N, C], ``gold`` [N]; the samples ``guids`` (positions) are taken,
    their values as Python lists, as after the JSON round trip.
    """
    return {
        int(guid): {"gold": int(gold[guid]), "logits": logits[:, guid, :].tolist()}
        for guid in guids
    }


def cartography_args(*, burn_out: int = 100, include_ci: bool = False, metric=None, worst=False):
    """The argparse options compute_train_dy_metrics and the selection read."""
    return types.SimpleNamespace(
        burn_out=burn_out, include_ci=include_ci, metric=metric, worst=worst
    )


def toneva_input(correct: np.ndarray, margin: np.ndarray | None = None) -> dict:
    """``example_stats`` as run_mnist.py builds it: id -> [losses, accs, margins].

    ``correct`` is [E, N] (bools become 0/1 ints as ``acc[j].sum().item()`` gives).
    """
    e, n = correct.shape
    margins = np.zeros((e, n)) if margin is None else margin
    stats: dict = {
        i: [[0.0] * e, [int(a) for a in correct[:, i]], margins[:, i].tolist()] for i in range(n)
    }
    stats["train"] = [[], []]
    return stats
