"""Work ahead of the consumer in a background thread, in order, with bounded memory.

A commit reads and decodes its input, fingerprints the rows, matches and verifies them and
writes new shards. Decoding (Arrow) and most of fingerprinting (numpy) release the GIL, so
the next batches are read and fingerprinted by a thread while this one matches and
verifies the current one: both cores work. At most `depth` results wait, so memory stays
bounded by a few batches, whatever the input's size.
"""
from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")

_DONE = object()


def ahead(items: Iterable[T], work: Callable[[T], R], depth: int = 2) -> Generator[R, None, None]:
    """`work(item)` for each item, computed by a thread up to `depth` items ahead and given in
    order; an error in the thread is raised here, at the item it concerns. Leaving the loop
    early stops the thread (after the item it is on)."""
    out: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                out.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        it = iter(items)
        try:
            for item in it:
                if stop.is_set() or not put((True, work(item))):
                    return
            put((True, _DONE))
        except BaseException as e:      # noqa: BLE001 - handed to the consumer, raised there
            put((False, e))
        finally:
            close = getattr(it, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="dsreg-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            ok, value = out.get()
            if not ok:
                raise value
            if value is _DONE:
                return
            yield value
    finally:
        stop.set()
        thread.join()


def background(work: Callable[..., R], *args) -> Future:
    """`work(*args)` started now in a thread of its own; `.result()` waits for it and
    raises what it raised. For one piece of work that can overlap others, such as a commit
    building its base index while its first batches are read."""
    future: Future = Future()

    def run() -> None:
        if not future.set_running_or_notify_cancel():
            return
        try:
            future.set_result(work(*args))
        except BaseException as e:      # noqa: BLE001 - handed to whoever waits for the result
            future.set_exception(e)

    threading.Thread(target=run, name="dsreg-background", daemon=True).start()
    return future


__all__ = ["ahead", "background"]
