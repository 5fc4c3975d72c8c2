"""Data-parallel MERU training on 2 CPU processes (gloo) equals one process on the whole batch."""

from __future__ import annotations

import os

import pytest

torch = pytest.importorskip("torch")
import torch.distributed as dist
import torch.distributed.nn.functional as dist_fn
import torch.multiprocessing as mp

from lorentz.meru import MERUHead
from lorentz.testing._meru_models import TinyImage, TinyText

pytestmark = pytest.mark.slow

B = 4  # per process


def _model():
    torch.manual_seed(0)
    return MERUHead(TinyImage(), TinyText(), 6, 5, 7)


def _data():
    g = torch.Generator().manual_seed(1)
    return torch.rand(2 * B, 3, 8, 8, generator=g), torch.randint(0, 20, (2 * B, 4), generator=g)


def _gather(x):
    return torch.cat(dist_fn.all_gather(x), dim=0)


def _step(model, loss):
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    opt.zero_grad()
    loss.backward()
    if dist.is_initialized():  # what DistributedDataParallel does: average the gradients
        for p in model.parameters():
            if p.grad is not None:
                dist.all_reduce(p.grad)
                p.grad /= dist.get_world_size()
    opt.step()
    return [p.detach().clone() for p in model.parameters()]


def _worker(rank, init_file, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=2)
    images, tokens = _data()
    mine = slice(rank * B, (rank + 1) * B)
    model = _model()
    params = _step(model, model.loss(images[mine], tokens[mine], gather=_gather)["loss"])
    torch.save(params, os.path.join(out_dir, f"rank{rank}.pt"))
    dist.destroy_process_group()


def test_two_processes_match_one(tmp_path):
    mp.spawn(_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    images, tokens = _data()
    model = _model()
    single = _step(model, model.loss(images, tokens)["loss"])
    for rank in range(2):
        for p, q in zip(torch.load(tmp_path / f"rank{rank}.pt"), single):
            # float32 (the head computes in float32): the two sums run in different orders
            torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6)
    assert any(
        not torch.equal(p, q) for p, q in zip(single, [p.detach() for p in _model().parameters()])
    )
