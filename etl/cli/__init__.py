"""The command line `group-etl`: commands, output formats, charts and the demo."""

from etl.cli.commands import app, main

__all__ = ["app", "main"]
