"""A version as a `torch.utils.data.IterableDataset` for training loops.

Work is split over ranks (`torch.distributed`, or `rank=`/`world_size=`) and DataLoader
workers without overlap or loss (read/order.py); the shuffle is drawn from (commit, seed,
epoch); every rank gets the same number of batches; the state is (commit, epoch, batches
done), so resuming mid-epoch is exact and costs nothing. In batch mode (`batch_size=N`)
the dataset yields whole batches (use `DataLoader(ds, batch_size=None)`); batch b of a rank
is made by worker b mod num_workers, which is the order DataLoader takes them in, so the
loader's output is the rank's sequence whatever the number of workers.

DataLoader workers iterate copies of the dataset, so the training loop's own count of
batches is the position: `ds.loader(num_workers=...)` (a DataLoader that keeps that count
in the main process, as torchdata's StatefulDataLoader does) makes `state_dict()` exact
between batches; over a plain DataLoader with workers, pass `state_dict(batches=N)`.

Pickled (spawn, forkserver), the dataset carries its read units and how to reopen its
version, never open files or connections.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from dsreg.errors import UsageError
from dsreg.integrations import need
from dsreg.read.order import EpochOrder, rank_batches, rank_share
from dsreg.read.stream import prefetched

if TYPE_CHECKING:
    import torch

    from dsreg.read.dataset import Dataset
else:
    torch = need("torch", "torch")     # this module is imported only by to_torch

UNIT_BYTES = 16 << 20      # units a worker decodes whole: small enough to keep two at hand


def _world(rank: int | None, world_size: int | None) -> tuple[int, int]:
    if rank is not None or world_size is not None:
        if rank is None or world_size is None:
            raise UsageError("give both rank= and world_size=")
    elif torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, world_size = torch.distributed.get_rank(), torch.distributed.get_world_size()
    else:
        rank, world_size = 0, 1
    if world_size < 1 or not 0 <= rank < world_size:
        raise UsageError(f"rank {rank} is not within world size {world_size}")
    return rank, world_size


def to_tensors(table: pa.Table) -> dict[str, Any]:
    """Columns as tensors where they are numbers (fixed-size lists of numbers: 2-D), else lists."""
    out: dict[str, Any] = {}
    for name, col in zip(table.column_names, table.columns):
        t = col.type
        if col.null_count == 0 and (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_boolean(t)):
            out[name] = torch.from_numpy(np.array(col.to_numpy()))    # a copy: tensors want writable memory
        elif col.null_count == 0 and pa.types.is_fixed_size_list(t) and \
                (pa.types.is_integer(t.value_type) or pa.types.is_floating(t.value_type)):
            flat = pa.concat_arrays([c.flatten() for c in col.chunks]) if col.num_chunks else pa.array([], t.value_type)
            out[name] = torch.from_numpy(np.array(flat.to_numpy()).reshape(len(col), t.list_size))
        else:
            out[name] = col.to_pylist()
    return out


class TorchDataset(torch.utils.data.IterableDataset):
    def __init__(self, view: Dataset, batch_size: int | None = None, shuffle: bool = False, seed: int = 0,
                 drop_last: bool = False, transform: Callable | None = None, *, rank: int | None = None,
                 world_size: int | None = None, unit_bytes: int = UNIT_BYTES):
        if batch_size is not None and batch_size <= 0:
            raise UsageError("batch_size must be positive")
        self.view = view
        self.commit, self.dataset, self.split = view.commit, view.dataset, view.split
        self.batch_size, self.shuffle, self.seed, self.drop_last = batch_size, shuffle, seed, drop_last
        self.transform = transform
        self.rank, self.world_size = _world(rank, world_size)
        self.units = view.read_units(unit_bytes)
        self.unit_rows = [u.rows for u in self.units] if view.filter is None else \
            [view.read_unit(u).num_rows for u in self.units]
        self.epoch = 0
        self.start = 0           # batches (or rows, without batch_size) of this epoch already done
        self._done = 0           # counted here when iterated in this process, or by Loader
        self._uncounted = False  # rows read by workers of a Loader: no exact position

    # -- epochs and state ---------------------------------------------------------------
    def set_epoch(self, epoch: int) -> None:
        if epoch != self.epoch:
            self.epoch, self.start, self._done = epoch, 0, 0

    def loader(self, **kwargs: Any) -> Loader:
        """A DataLoader over this dataset (any DataLoader options; batch_size=None in batch
        mode) that counts the batches it hands out, so `state_dict()` needs no count."""
        return Loader(self, **kwargs)

    def state_dict(self, batches: int | None = None) -> dict:
        """Where this epoch is: `batches` done (with DataLoader workers, the training loop's
        count of batches taken this epoch; without, or through `loader()`, counted here).
        Exact when taken between batches."""
        if batches is None and self._uncounted:
            raise UsageError("rows read by DataLoader workers have no exact position",
                             "give to_torch a batch_size to resume with workers, or pass state_dict(batches=N)")
        done = self.start + self._done if batches is None else self.start + batches
        return {"commit": self.commit, "dataset": self.dataset, "split": self.split, "epoch": self.epoch,
                "done": done, "seed": self.seed, "shuffle": self.shuffle, "batch_size": self.batch_size,
                "rank": self.rank, "world_size": self.world_size}

    def load_state_dict(self, state: dict) -> None:
        if state.get("commit") != self.commit:
            raise UsageError(f"this state was saved reading commit {str(state.get('commit'))[:12]}, "
                             f"not {self.commit[:12]}", "resume with the same pinned version")
        for key in ("seed", "shuffle", "batch_size", "world_size"):
            if state.get(key) != getattr(self, key):
                raise UsageError(f"this state was saved with {key}={state.get(key)!r}, not {getattr(self, key)!r}")
        self.epoch, self.start, self._done = int(state["epoch"]), int(state["done"]), 0
        self._uncounted = False

    # -- the rank's sequence ----------------------------------------------------------------
    def _positions(self, total: int) -> list[np.ndarray]:
        """Positions of each item (a batch, or one row) of this rank's epoch."""
        if self.batch_size is not None:
            return rank_batches(total, self.rank, self.world_size, self.batch_size, self.drop_last)
        first, n = rank_share(total, self.rank, self.world_size)
        per = total // self.world_size if self.drop_last else -(-total // self.world_size)
        pos = first + np.arange(min(n, per))
        if per > n and total:        # padding, as DistributedSampler: rows from the start
            pos = np.concatenate([pos, np.arange(per - n) % total])
        return [pos]

    def __len__(self) -> int:
        total = sum(self.unit_rows)
        items = self._positions(total)
        return len(items) if self.batch_size is not None else len(items[0])

    def __iter__(self) -> Iterator[Any]:
        info = torch.utils.data.get_worker_info()
        worker, workers = (info.id, info.num_workers) if info is not None else (0, 1)
        if info is None:
            self._done = 0       # a new pass over the epoch starts again from `start`
        order = EpochOrder(self.unit_rows, commit=self.commit, seed=self.seed, epoch=self.epoch,
                           shuffle=self.shuffle)
        items = self._positions(order.total)
        if self.batch_size is None:
            rows = items[0][self.start:]
            # rows in blocks of 256 per worker, round robin: each worker reads its own stretch
            mine = [rows[i:i + 256] for i in range(worker * 256, len(rows), 256 * workers)]
        else:
            mine = [p for b, p in enumerate(items[self.start:]) if b % workers == worker]
        located = [order.locate(p) for p in mine]
        # units in the order this worker first needs them; positions only grow (padding
        # aside, which starts over), so a unit left behind is never needed again
        needed = [u for segs in located for u, _ in segs]
        needed = [u for i, u in enumerate(needed) if i == 0 or needed[i - 1] != u]
        tables = prefetched(lambda: ((u, self.view.read_unit(self.units[u])) for u in needed), depth=1)
        held: dict[int, tuple[pa.Table, np.ndarray]] = {}
        for segs in located:
            pieces = []
            for u, within in segs:
                if u not in held:
                    held.clear()
                    got, table = next(tables)
                    held[got] = (table, order.rows_within(got, table.num_rows))
                table, perm = held[u]
                pieces.append(table.take(perm[within]))
            batch = pa.concat_tables(pieces) if len(pieces) > 1 else pieces[0]
            if self.batch_size is None:
                for row in batch.to_pylist():
                    if info is None:        # counted as it is handed out
                        self._done += 1
                    yield self.transform(row) if self.transform else row
            else:
                out = to_tensors(batch)
                if info is None:
                    self._done += 1
                yield self.transform(out) if self.transform else out


class Loader(torch.utils.data.DataLoader):
    """A DataLoader over a `TorchDataset` that counts, in the main process, the batches it
    hands to the training loop: workers read ahead (prefetch), so only the consumer knows
    how far the loop got. `state_dict()` / `load_state_dict()` are the dataset's."""

    dataset: TorchDataset

    def __init__(self, dataset: TorchDataset, **kwargs: Any):
        if not isinstance(dataset, TorchDataset):
            raise UsageError(f"Loader reads a dsreg TorchDataset, not {type(dataset).__name__}")
        if dataset.batch_size is not None:
            if kwargs.setdefault("batch_size", None) is not None:
                raise UsageError("the dataset already yields batches: leave the loader's batch_size unset")
        super().__init__(dataset, **kwargs)

    def __iter__(self) -> Iterator[Any]:  # type: ignore[override]
        ds = self.dataset
        counting = self.num_workers > 0 and ds.batch_size is not None
        ds._done, ds._uncounted = 0, self.num_workers > 0 and ds.batch_size is None
        for batch in super().__iter__():
            if counting:
                ds._done += 1
            yield batch

    def state_dict(self) -> dict:
        return self.dataset.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.dataset.load_state_dict(state)
