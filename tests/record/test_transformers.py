"""Hugging Face Trainer: a tiny BERT (built from a config) on synthetic token ids."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
import transformers

import predaudit
from predaudit.record import Recorder

pytestmark = [
    pytest.mark.frameworks,
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

SEQ = 8


class Tokens(torch.utils.data.Dataset):
    """Sequences of random token ids; the class is the sequence's first token mod 3."""

    def __init__(self, n, seed, token_labels=False):
        g = torch.Generator().manual_seed(seed)
        self.ids = torch.randint(1, 100, (n, SEQ), generator=g)
        self.mask = torch.ones(n, SEQ, dtype=torch.long)
        lengths = torch.randint(3, SEQ + 1, (n,), generator=g)
        if token_labels:
            self.labels = self.ids % 3
            self.labels[torch.arange(SEQ)[None, :] >= lengths[:, None]] = -100  # padding
        else:
            self.labels = self.ids[:, 0] % 3

    def __len__(self):
        return len(self.ids)

    def __getitem__(self, i):
        return {"input_ids": self.ids[i], "attention_mask": self.mask[i], "labels": self.labels[i]}


def tiny_bert(cls):
    config = transformers.BertConfig(
        vocab_size=100,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=37,
        num_labels=3,
        max_position_embeddings=SEQ,
    )
    torch.manual_seed(0)
    return cls(config)


def args(tmp_path, **kw):
    return transformers.TrainingArguments(
        output_dir=str(tmp_path / "hf"),
        per_device_train_batch_size=16,
        per_device_eval_batch_size=16,
        learning_rate=5e-3,
        save_strategy="no",
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
        logging_strategy="no",
        seed=0,
        **kw,
    )


class EvalLosses(transformers.TrainerCallback):
    def __init__(self):
        self.losses = []

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):
        self.losses.append(metrics["eval_loss"])


def test_sequence_classification_each_epoch(tmp_path):
    from predaudit.record.transformers import PredauditCallback

    model = tiny_bert(transformers.BertForSequenceClassification)
    seen = EvalLosses()
    trainer = transformers.Trainer(
        model=model,
        args=args(tmp_path, num_train_epochs=3, eval_strategy="epoch"),
        train_dataset=Tokens(96, seed=1),
        eval_dataset=Tokens(80, seed=2),
        callbacks=[seen],
    )
    PredauditCallback(Recorder(tmp_path / "run", split="eval")).attach(trainer)
    trainer.train()
    trainer.evaluate()  # the same weights as the last evaluation: not written again
    run = predaudit.load_run(tmp_path / "run")
    split = run.splits["eval"]
    assert split.epochs == [1, 2, 3] and split.n_samples == 80
    ours = [r.loss for r in predaudit.analyze(run, start="first").splits["eval"].per_epoch]
    assert len(seen.losses) == 4
    np.testing.assert_allclose(ours, seen.losses[:3], rtol=1e-5)
    for e, loss in zip(split.epochs, ours, strict=True):
        with np.load(tmp_path / "run" / "eval" / f"epoch_{e:04d}.npz") as z:
            ce = F.cross_entropy(torch.tensor(z["logits"]).double(), torch.tensor(z["labels"]))
        np.testing.assert_allclose(loss, float(ce), rtol=1e-6)


def test_token_classification_by_steps_keeps_ignored_tokens(tmp_path):
    from predaudit.record.transformers import PredauditCallback

    def accuracy(eval_pred):
        pred = eval_pred.predictions.argmax(-1)
        keep = eval_pred.label_ids != -100
        return {"acc": float((pred[keep] == eval_pred.label_ids[keep]).mean())}

    cb = PredauditCallback(Recorder(tmp_path / "run", split="eval"), compute_metrics=accuracy)
    eval_ds = Tokens(40, seed=4, token_labels=True)
    trainer = transformers.Trainer(
        model=tiny_bert(transformers.BertForTokenClassification),
        args=args(tmp_path, max_steps=6, eval_strategy="steps", eval_steps=2),
        train_dataset=Tokens(64, seed=3, token_labels=True),
        eval_dataset=eval_ds,
        callbacks=[cb],
        compute_metrics=cb.compute_metrics,
    )
    trainer.train()
    metrics = trainer.evaluate()
    assert "eval_acc" in metrics  # the wrapped compute_metrics still reports
    names = sorted(p.name for p in (tmp_path / "run" / "eval").iterdir())
    assert names == ["epoch_0002.npz", "epoch_0004.npz", "epoch_0006.npz"]  # global steps
    with np.load(tmp_path / "run" / "eval" / "epoch_0006.npz") as z:
        np.testing.assert_array_equal(z["labels"], eval_ds.labels.reshape(-1))  # -100 kept
        logits, labels = torch.tensor(z["logits"]).double(), torch.tensor(z["labels"])
    run = predaudit.load_run(tmp_path / "run")
    rows = predaudit.analyze(run, start="first").splits["eval"].per_epoch
    ce = F.cross_entropy(logits, labels, ignore_index=-100)
    np.testing.assert_allclose(rows[-1].loss, float(ce), rtol=1e-6)
