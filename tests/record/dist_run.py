"""One process of a two-process ``torch.distributed`` (gloo) evaluation recorded in shards.

Run by tests/record/test_distributed.py: ``python dist_run.py RANK WORLD PORT OUT``.
Rank 0 prints the reference per-epoch mean cross-entropy of the whole dataset.
"""

from __future__ import annotations

import json
import os
import sys

import torch
import torch.distributed as dist
import torch.nn.functional as F  # noqa: N812
from sklearn.datasets import load_digits

from predaudit.record import Recorder, evaluate

N = 597  # odd: DistributedSampler pads one rank with a repeated sample


def main() -> None:
    rank, world, port, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=port)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    x, y = load_digits(return_X_y=True)
    x = torch.tensor(x[:N] / 16.0, dtype=torch.float32)
    y = torch.tensor(y[:N])
    ds = torch.utils.data.TensorDataset(x, y, torch.arange(N))
    torch.manual_seed(0)  # the same weights in every process
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    rec = Recorder(out, split="val")
    reference = []
    for epoch in (1, 2):
        sampler = torch.utils.data.distributed.DistributedSampler(ds, shuffle=True, seed=epoch)
        loader = torch.utils.data.DataLoader(ds, batch_size=50, sampler=sampler)
        evaluate(model, loader, rec, epoch)
        with torch.no_grad():
            reference.append(float(F.cross_entropy(model(x).double(), y)))
            for p in model.parameters():
                p.mul_(1.5)
    dist.barrier()
    dist.destroy_process_group()
    if rank == 0:
        print(json.dumps({"loss": reference}))


if __name__ == "__main__":
    main()
