"""What every `dsreg` command shares: the one place where errors become output, the state
passed on `ctx.obj`, the progress renderer, and small rendering helpers.

Only click is imported here, so `dsreg --help` stays fast.
"""
from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import sys
import time
import traceback
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any

import click

from dsreg.errors import DsregError
from dsreg.progress import NO_PROGRESS, Progress

if TYPE_CHECKING:
    from dsreg.registry import Registry

SHORT = 12                                        # commit id characters in human output
CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


# -- the one place where errors become output -------------------------------------
class CliError(click.ClickException):
    """An error shown as one `Error: ...` line on stderr; exit 1 (CliMisuse: 2). Click
    reads the exit code from the class, so each code is a class of its own."""

    def __init__(self, message: str):
        super().__init__(printable(" ".join(message.splitlines())))


class CliMisuse(CliError):
    exit_code = 2


# What a terminal acts on rather than shows: C0 controls but newline and tab, DEL, C1
# controls (0x9b is CSI on some terminals), and the bidirectional controls that reorder
# what follows. Text from outside (a remote's commit messages, authors, names, values)
# may hold any of them; human output shows them escaped, as Python's repr would.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _escape(m: re.Match) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: str) -> str:
    """`text` with every control and bidirectional character escaped (newlines and tabs kept)."""
    return _UNSAFE.sub(_escape, text)


def echo(text: str = "", **kw: Any) -> None:
    """click.echo for human output: nothing in it can drive the terminal."""
    click.echo(printable(text), **kw)


class OrderedGroup(click.Group):
    """Lists its commands in the order they are added, not alphabetically."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(self.commands)


def tune_process() -> None:
    """The command line owns its process, so it sets what a library leaves to its caller:
    Arrow's memory pool is jemalloc, unless the user chose one (ARROW_DEFAULT_MEMORY_POOL).
    The default, mimalloc, gives freed memory back to the system within milliseconds, so a
    commit, which decodes and frees hundreds of MB, spent a fifth of its CPU on fresh pages;
    with jemalloc a commit takes about 10% less time and 80 MiB less memory
    (docs/benchmarks.md). Only on x86-64 Linux, where pyarrow's wheels always have it (the
    ARM ones dropped it, some macOS ones lack it, and asking for a pool a build lacks prints
    a warning). Arrow reads the variable when pyarrow is imported, so this runs before
    anything imports it."""
    if "ARROW_DEFAULT_MEMORY_POOL" in os.environ or "pyarrow" in sys.modules:
        return
    if sys.platform.startswith("linux") and platform.machine() in ("x86_64", "AMD64"):
        os.environ["ARROW_DEFAULT_MEMORY_POOL"] = "jemalloc"


class DsregGroup(OrderedGroup):
    """The top-level group: turns every exception, from any command below it, into an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        state = ctx.ensure_object(State)
        try:
            try:
                return super().invoke(ctx)
            finally:
                state.close()
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except KeyboardInterrupt as e:
            # Ctrl-C: one line and the shell's code for SIGINT, not click's "Aborted!"
            state.fail(e, "interrupted", 130)      # for its side effects: ends a bar, --debug traceback
            click.echo("Interrupted", err=True)
            raise click.exceptions.Exit(130) from None
        except BrokenPipeError:
            # the reader of stdout went away (`dsreg log x | head`): it has what it wanted,
            # so stop quietly with success, as git does
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            raise click.exceptions.Exit(0) from None
        except DsregError as e:
            from dsreg.cli.messages import describe  # flags, where the library names options
            raise state.fail(e, describe(e), e.exit_code) from None
        except OSError as e:
            # the file system said no (a missing parent, no permission, a full disk): the
            # user can act on that, so it is no internal error
            where = f": {e.filename}" if e.filename else ""
            raise state.fail(e, f"{e.strerror or str(e) or type(e).__name__}{where}", 1) from None
        except Exception as e:  # noqa: BLE001 - the last line of defence
            raise state.fail(e, f"internal error: {type(e).__name__}: {e}; "
                                "rerun with --debug for the traceback", 1) from None


class State:
    """What commands share through `ctx.obj`: the registry (opened on first use) and flags."""

    def __init__(self, registry_dir: str | None = None, debug: bool = False):
        self.registry_dir, self.debug = registry_dir, debug
        self._reg: Registry | None = None
        self._progress: TerminalProgress | None = None

    @property
    def reg(self):
        return self.open_registry()

    def open_registry(self, need_manifest: bool = True):
        """The registry, opened on first use (need_manifest=False: also one whose manifest
        is missing or unreadable, for `fsck --rebuild`)."""
        if self._reg is None:
            from dsreg.registry import DIRNAME, Registry
            if self.registry_dir is not None:
                # a registry named explicitly must be exactly there, not in a parent folder
                if not (os.path.isdir(os.path.join(self.registry_dir, DIRNAME))):
                    from dsreg.errors import RegistryNotFound
                    raise RegistryNotFound(self.registry_dir)
            self._reg = Registry(self.registry_dir, need_manifest=need_manifest)
        return self._reg

    def progress(self) -> Progress:
        """A bar on stderr when it is a terminal; nothing otherwise (pipes, files, tests)."""
        if not sys.stderr.isatty():
            return NO_PROGRESS
        self._progress = TerminalProgress(sys.stderr)
        return self._progress

    def fail(self, exc: BaseException, message: str, exit_code: int) -> CliError:
        from dsreg.redact import redact  # no credential reaches the output, whatever raised
        if self._progress is not None:
            self._progress.abandon()
        if self.debug:
            sys.stderr.write(redact("".join(traceback.format_exception(type(exc), exc, exc.__traceback__))))
        return (CliMisuse if exit_code == 2 else CliError)(redact(message))

    def close(self) -> None:
        if self._reg is not None:
            self._reg.close()
            self._reg = None


pass_state = click.make_pass_decorator(State, ensure=True)


class TerminalProgress(Progress):
    """One status line on a terminal, redrawn at most ten times a second. A transfer's
    line shows objects and bytes, each as done/total where the total is known."""

    WIDTH = 30

    def __init__(self, stream):
        self.stream = stream
        self.label: str | None = None
        self.total: int | None = None
        self.unit, self.done, self._drawn_at = "rows", 0, 0.0
        self.nbytes: int | None = None      # a transfer's bytes: total (None: not known), and done
        self.bytes_done = 0
        self.transfer = False

    def start(self, label: str, total: int | None, unit: str = "rows") -> None:
        self._begin(label, total, unit, transfer=False, nbytes=None)

    def start_transfer(self, label: str, objects: int | None, nbytes: int | None, unit: str = "objects") -> None:
        self._begin(label, objects, unit, transfer=True, nbytes=nbytes)

    def _begin(self, label: str, total: int | None, unit: str, transfer: bool, nbytes: int | None) -> None:
        self.abandon()
        self.label, self.total, self.unit, self.done = label, total, unit, 0
        self.transfer, self.nbytes, self.bytes_done = transfer, nbytes, 0
        self._draw(force=True)

    def advance(self, n: int) -> None:
        if self.label is not None:
            self.done += n
            if self.total is not None and self.done > self.total:
                self.total = self.done      # the total was an estimate, and too low
            self._draw()

    def advance_transfer(self, objects: int, nbytes: int) -> None:
        if self.label is not None:
            self.bytes_done += nbytes
            if self.nbytes is not None and self.bytes_done > self.nbytes:
                self.nbytes = self.bytes_done
            self.advance(objects)

    def finish(self) -> None:
        if self.label is not None:
            self._draw(force=True)
            self.abandon()

    def abandon(self) -> None:
        """End the current line, if any, so what follows starts on a fresh one."""
        if self.label is not None:
            self.stream.write("\n")
            self.stream.flush()
            self.label = None

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._drawn_at < 0.1:
            return
        self._drawn_at = now
        done, total = self.done, self.total
        if self.transfer:
            count = f"{self.done:,}/{self.total:,} {self.unit}" if self.total is not None else \
                f"{self.done:,} {self.unit}"
            count += ", " + (format_sizes(self.bytes_done, self.nbytes) if self.nbytes else format_size(self.bytes_done))
            if self.nbytes:         # the bar follows the bytes where their total is known
                done, total = self.bytes_done, self.nbytes
        elif self.unit == "bytes":
            count = format_sizes(self.done, self.total) if self.total else format_size(self.done)
        elif self.total is not None:
            count = f"{self.done:,}/{self.total:,} {self.unit}"
        else:
            count = f"{self.done:,} {self.unit}"
        # A line as wide as the terminal wraps (the cursor moves on at the last column), and
        # every redraw would then leave a line behind: stay one column short of the width.
        room = self._columns() - 1
        if total:
            frac = min(done / total, 1.0)
            width = min(self.WIDTH, room - len(f"{self.label} [] {frac:4.0%} {count}"))
            bar = "#" * int(frac * width)
            # narrower and narrower: a shorter bar, no bar, no count; the percentage stays
            fits = [f"{self.label} [{bar:<{width}}] {frac:4.0%} {count}"] if width >= 10 else []
            fits += [f"{self.label} {frac:4.0%} {count}", f"{self.label} {frac:4.0%}"]
        else:
            fits = [f"{self.label}: {count}"]
        text = next((t for t in fits if len(t) <= room), fits[-1][:max(room - 1, 0)] + "…")
        self.stream.write("\r" + text + "\x1b[K")
        self.stream.flush()

    def _columns(self) -> int:
        """The width of the terminal the bar is drawn on (stderr, not stdout, which may be a
        pipe); COLUMNS wins, as for shutil.get_terminal_size."""
        try:
            columns = int(os.environ.get("COLUMNS", "0"))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(self.stream.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        return columns if columns > 0 else 80


# -- rendering helpers -------------------------------------------------------------
def emit_json(value: Any) -> None:
    # json escapes C0 controls itself; the others can only stand inside strings, where
    # \uXXXX is the same text
    click.echo(_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, indent=2, ensure_ascii=False)))


def short_id(commit_id: str | None) -> str:
    return commit_id[:SHORT] if commit_id else "-"


def format_date(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp).astimezone().isoformat(timespec="seconds")


def format_sizes(done: float, total: float) -> str:
    """'12.3/45.6 MiB': both in the unit that suits the total, so the unit does not jump."""
    scale, unit = 1, "B"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if total < 1024 * scale or unit == "TiB":
            break
        scale *= 1024
    if unit == "B":
        return f"{done:.0f}/{total:.0f} B"
    return f"{done / scale:.1f}/{total / scale:.1f} {unit}"


def format_size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def table_lines(rows: list[list[str]], right: AbstractSet[int] = frozenset()) -> list[str]:
    """Aligned columns; the columns numbered in `right` are right-aligned."""
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return ["  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
            for r in rows]


json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")


def warn(message: str) -> None:
    """A `Warning: ...` line on stderr: something worked, but the user should know this."""
    from dsreg.redact import redact
    click.echo("Warning: " + printable(redact(" ".join(message.splitlines()))), err=True)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}{'' if n == 1 else 's'}"
