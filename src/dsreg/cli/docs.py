"""Generate the CLI reference from `--help`: `python -m dsreg.cli.docs > docs/cli.md`.

The output is deterministic (fixed width, no terminal probing) so a test can regenerate it
and fail when docs/cli.md is stale.
"""
from __future__ import annotations

import sys

import click

WIDTH = 88
HEADER = """\
# dsreg command line reference

Generated from `--help` by `python -m dsreg.cli.docs > docs/cli.md`; do not edit by hand.
"""


def _help(command: click.Command, name: str, parent: click.Context | None) -> tuple[str, click.Context]:
    settings = {**command.context_settings, "terminal_width": WIDTH, "max_content_width": WIDTH}
    ctx = click.Context(command, info_name=name, parent=parent, **settings)
    return command.get_help(ctx), ctx


def generate() -> str:
    from dsreg.cli.commands import cli
    text, root = _help(cli, "dsreg", None)
    parts = [HEADER, "## dsreg\n", "```\n" + text + "\n```\n"]
    for name in cli.list_commands(root):
        command = cli.commands[name]
        text, ctx = _help(command, name, root)
        parts += [f"## dsreg {name}\n", "```\n" + text + "\n```\n"]
        if isinstance(command, click.Group):      # `dsreg remote add`, ...: one section each
            for sub in command.list_commands(ctx):
                text, _ = _help(command.commands[sub], sub, ctx)
                parts += [f"### dsreg {name} {sub}\n", "```\n" + text + "\n```\n"]
    return "\n".join(parts)


def main() -> None:
    sys.stdout.write(generate())


if __name__ == "__main__":
    main()
