"""Hugging Face ``Trainer.predict`` output, saved the way users save it, read by predaudit.

A tiny BERT (one layer, hidden size 32, built from a config: nothing is
downloaded) evaluated at two "checkpoints"; ``out.predictions`` and
``out.label_ids`` are saved with ``np.save`` into ``checkpoint-N/`` folders next
to the files a checkpoint holds. The losses must be PyTorch's ``cross_entropy``
of the same predictions (``ignore_index=-100`` for token classification).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from predaudit import load_run
from predaudit.cli import main

pytestmark = pytest.mark.frameworks


CONFIG = dict(
    num_hidden_layers=1, hidden_size=32, num_attention_heads=2, intermediate_size=37, vocab_size=100
)
S, T, C = 6, 7, 3


def _dataset(token_level: bool) -> list[dict[str, torch.Tensor]]:
    g = torch.Generator().manual_seed(0)
    rows = []
    for i in range(S):
        ids = torch.randint(1, 100, (T,), generator=g)
        mask = torch.ones(T, dtype=torch.long)
        length = T - (i % 3)
        mask[length:] = 0
        if token_level:
            labels = torch.randint(0, C, (T,), generator=g)
            labels[0] = -100  # [CLS]
            labels[length:] = -100  # padding
        else:
            labels = torch.tensor(i % C)
        rows.append({"input_ids": ids, "attention_mask": mask, "labels": labels})
    return rows


def _predict_into_checkpoints(root: Path, model: torch.nn.Module, token_level: bool) -> list:  # type: ignore[type-arg]
    from transformers import Trainer, TrainingArguments

    args = TrainingArguments(
        output_dir=str(root / "_trainer"), report_to=[], per_device_eval_batch_size=4,
        use_cpu=True, disable_tqdm=True,
    )  # fmt: skip
    data = _dataset(token_level)
    outs = []
    for step in (500, 1000):
        trainer = Trainer(model=model, args=args)
        out = trainer.predict(data)
        d = root / f"checkpoint-{step}"
        d.mkdir(parents=True)
        np.save(d / "predictions.npy", out.predictions)
        np.save(d / "label_ids.npy", out.label_ids)
        # what a Trainer checkpoint holds beside them
        (d / "trainer_state.json").write_text(json.dumps({"global_step": step}))
        (d / "config.json").write_text(model.config.to_json_string())
        torch.save({"state": {}, "param_groups": []}, d / "optimizer.pt")
        from safetensors.torch import save_file

        save_file(
            {k: v.contiguous() for k, v in model.state_dict().items()}, d / "model.safetensors"
        )
        outs.append(out)
        with torch.no_grad():  # "train" a little: the next checkpoint predicts differently
            for p in model.parameters():
                p.add_(torch.randn_like(p) * 0.2)
    return outs


def _ce(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    x = torch.from_numpy(pred.reshape(-1, pred.shape[-1]).astype(np.float64))
    y = torch.from_numpy(labels.reshape(-1).astype(np.int64))
    loss = torch.nn.functional.cross_entropy(x, y, reduction="none", ignore_index=-100).numpy()
    return np.where(y.numpy() == -100, np.nan, loss)


def test_token_classification_checkpoints(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForTokenClassification

    torch.manual_seed(0)
    model = BertForTokenClassification(BertConfig(num_labels=C, **CONFIG)).eval()
    outs = _predict_into_checkpoints(tmp_path / "run", model, token_level=True)
    assert outs[0].predictions.shape == (S, T, C)
    s = load_run(tmp_path / "run").splits["default"]
    assert (s.epochs, s.epoch_unit, s.sample_unit) == ([500, 1000], "step", "token")
    assert s.n_rows == S * T and s.n_ignored == int((outs[0].label_ids == -100).sum())
    ref = np.stack([_ce(o.predictions, o.label_ids) for o in outs])
    np.testing.assert_allclose(s.loss, ref, rtol=1e-5, equal_nan=True)
    r = CliRunner().invoke(
        main, ["analyze", str(tmp_path / "run"), "--format", "json", "--top", "2", "--no-cache"]
    )
    assert r.exit_code == 0, r.output
    split = json.loads(r.output)["splits"]["default"]
    assert (split["epoch_unit"], split["sample_unit"]) == ("step", "token")
    assert {"sequence", "position"} <= set(split["top"][0])
    top = split["top"][0]
    assert top["id"] == top["sequence"] * T + top["position"]


def test_sequence_classification_checkpoints(tmp_path: Path) -> None:
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(1)
    model = BertForSequenceClassification(BertConfig(num_labels=C, **CONFIG)).eval()
    outs = _predict_into_checkpoints(tmp_path / "run", model, token_level=False)
    assert outs[0].predictions.shape == (S, C)
    s = load_run(tmp_path / "run").splits["default"]
    assert (s.epochs, s.epoch_unit, s.sample_unit) == ([500, 1000], "step", "sample")
    ref = np.stack([_ce(o.predictions, o.label_ids) for o in outs])
    np.testing.assert_allclose(s.loss, ref, rtol=1e-5)
