"""Training loaders: ranks x workers cover the split exactly, shuffles repeat per seed and
differ per epoch, every rank gets as many batches, resuming is exact, DDP runs on CPU."""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

import dsreg
from dsreg.rows.settings import RowSettings
from dsreg.rows.shards import ShardSettings

torch = pytest.importorskip("torch")
from torch.utils.data import DataLoader  # noqa: E402

from dsreg.errors import UsageError  # noqa: E402
from helpers.tables import make_table  # noqa: E402

N = 1013      # divisible by no world size or worker count tried


@pytest.fixture
def version(registry):
    registry.commit("d", {"train": make_table(N)}, message="m",
                    settings=RowSettings(ShardSettings(row_group_target_bytes=4 << 10, row_group_min_rows=64)))
    return dsreg.dataset("d", columns=["id", "score", "label", "embedding"])


def _ids(loader) -> list[int]:
    return [i for batch in loader for i in batch["id"].tolist()]


@pytest.mark.parametrize("world", [1, 2, 3, 4])
@pytest.mark.parametrize("workers", [0, 1, 2, 3])
def test_ranks_and_workers_read_the_split_exactly_once(version, world, workers):
    per_rank, lengths = [], set()
    for rank in range(world):
        tds = version.to_torch(batch_size=16, shuffle=True, seed=3, rank=rank, world_size=world, unit_bytes=1 << 12)
        ids = _ids(DataLoader(tds, batch_size=None, num_workers=workers))
        lengths.add(-(-len(ids) // 16))
        assert len(tds) == lengths.copy().pop()
        per_rank.append(ids)
    everything = [i for ids in per_rank for i in ids]
    assert sorted(everything) == list(range(N))          # no row lost, none twice
    assert len(lengths) == 1                             # as many batches on every rank


def test_the_loader_order_does_not_depend_on_workers(version):
    tds = version.to_torch(batch_size=10, shuffle=True, seed=1, unit_bytes=1 << 12)
    orders = {tuple(_ids(DataLoader(tds, batch_size=None, num_workers=w))) for w in (0, 2, 3)}
    assert len(orders) == 1


def test_shuffles_repeat_per_seed_and_differ_per_epoch(version):
    def order(seed, epoch):
        tds = version.to_torch(batch_size=32, shuffle=True, seed=seed, unit_bytes=1 << 12)
        tds.set_epoch(epoch)
        return _ids(tds)
    assert order(0, 0) == order(0, 0)
    assert order(0, 0) != order(0, 1)
    assert order(0, 0) != order(1, 0)
    assert sorted(order(0, 1)) == list(range(N))
    plain = version.to_torch(batch_size=32)
    assert _ids(plain) == list(range(N))


def test_drop_last_gives_full_equal_batches(version):
    counts = []
    for rank in range(3):
        tds = version.to_torch(batch_size=50, drop_last=True, rank=rank, world_size=3)
        sizes = [len(b["id"]) for b in tds]
        assert set(sizes) == {50}
        counts.append(len(sizes))
    assert len(set(counts)) == 1


@pytest.mark.parametrize("workers", [0, 2])
def test_resuming_yields_exactly_the_rest_of_the_epoch(version, workers):
    tds = version.to_torch(batch_size=16, shuffle=True, seed=7, unit_bytes=1 << 12)
    tds.set_epoch(2)
    full = [b["id"].tolist() for b in DataLoader(tds, batch_size=None, num_workers=workers)]
    taken = 0
    for _ in DataLoader(tds, batch_size=None, num_workers=workers):
        taken += 1
        if taken == 23:
            break
    state = tds.state_dict(batches=taken)
    assert len(state) < 20 and state["epoch"] == 2
    again = version.to_torch(batch_size=16, shuffle=True, seed=7, unit_bytes=1 << 12)
    again.load_state_dict(state)
    rest = [b["id"].tolist() for b in DataLoader(again, batch_size=None, num_workers=workers)]
    assert rest == full[23:]


@pytest.mark.parametrize("workers", [0, 2])
def test_a_resumed_loader_with_workers_yields_exactly_the_rest_without_a_count(version, workers):
    tds = version.to_torch(batch_size=16, shuffle=True, seed=3, unit_bytes=1 << 12)
    tds.set_epoch(1)
    full = [b["id"].tolist() for b in tds.loader(num_workers=workers)]
    loader = tds.loader(num_workers=workers, prefetch_factor=4) if workers else tds.loader()
    states = []
    for i, _ in enumerate(loader):
        if i + 1 in (5, 29):              # workers are batches ahead by now: the loop's count wins
            states.append(loader.state_dict())
        if i + 1 == 29:
            break
    assert [s["done"] for s in states] == [5, 29] and states[1] == tds.state_dict()
    for state in states:
        again = version.to_torch(batch_size=16, shuffle=True, seed=3, unit_bytes=1 << 12).loader(num_workers=2)
        again.load_state_dict(state)
        rest = [b["id"].tolist() for b in again]
        assert rest == full[state["done"]:]
        assert again.state_dict()["done"] == len(full)     # the whole epoch, counted across the resume


def test_rows_read_by_loader_workers_have_no_exact_position(version):
    tds = version.to_torch(columns=["id"])
    loader = tds.loader(num_workers=2, batch_size=10)
    next(iter(loader))
    with pytest.raises(UsageError, match="no exact position"):
        tds.state_dict()
    assert tds.state_dict(batches=0)["done"] == 0
    with pytest.raises(UsageError, match="batch_size"):
        version.to_torch(batch_size=8).loader(batch_size=8)


def test_state_counts_batches_taken_in_process_and_checks_the_commit(version, registry):
    tds = version.to_torch(batch_size=100)
    it = iter(tds)
    next(it), next(it)
    assert tds.state_dict()["done"] == 2
    registry.commit("d", {"train": make_table(5)}, message="other")
    other = dsreg.dataset("d", columns=["id"]).to_torch(batch_size=100)
    with pytest.raises(UsageError, match="commit"):
        other.load_state_dict(tds.state_dict())


def test_rows_mode_and_transform(version):
    tds = version.to_torch(columns=["id", "label"], transform=lambda row: (row["id"], row["label"]))
    rows = list(DataLoader(tds, batch_size=100))
    assert sum(len(b[0]) for b in rows) == N
    assert tds.commit == version.commit


def test_batches_are_tensors(version):
    batch = next(iter(version.to_torch(batch_size=8)))
    assert batch["id"].dtype == torch.int64 and batch["score"].dtype == torch.float64
    assert tuple(batch["embedding"].shape) == (8, 4)
    assert isinstance(batch["label"], list)


def test_two_process_ddp_on_cpu_over_a_pinned_version(version, tmp_path):
    script = tmp_path / "train.py"
    script.write_text(textwrap.dedent(f"""
        import json, os, sys
        import torch, torch.distributed as dist
        from torch.utils.data import DataLoader
        import dsreg
        dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=2)
        ds = dsreg.dataset("d@{version.commit}", columns=["id", "score"]).to_torch(batch_size=32, shuffle=True)
        model = torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(1, 1))
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        seen = []
        for batch in DataLoader(ds, batch_size=None, num_workers=1):
            loss = model(batch["score"].float().unsqueeze(1)).pow(2).mean()
            opt.zero_grad(); loss.backward(); opt.step()
            seen += batch["id"].tolist()
        json.dump(seen, open(sys.argv[1] + os.environ["RANK"], "w"))
        dist.destroy_process_group()
    """))
    env = dict(os.environ, MASTER_ADDR="127.0.0.1", MASTER_PORT=str(29500 + os.getpid() % 1000))
    procs = [subprocess.Popen([sys.executable, str(script), str(tmp_path / "seen")],
                              env=dict(env, RANK=str(r)), cwd=str(version.store.root.parent.parent))
             for r in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    import json
    seen = [json.loads((tmp_path / f"seen{r}").read_text()) for r in range(2)]
    assert sorted(seen[0] + seen[1]) == list(range(N))
    assert -(-len(seen[0]) // 32) == -(-len(seen[1]) // 32)
