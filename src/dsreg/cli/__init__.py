"""L7, the command line: thin commands that parse, call one porcelain verb, and render.

`dsreg.cli:main` is the console script."""
from dsreg.cli.commands import cli, main

__all__ = ["cli", "main"]
