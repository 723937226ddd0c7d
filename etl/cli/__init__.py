"""The command line `group-etl`: commands, output formats, charts and the demo."""

from etl.cli.commands import app, console, main

__all__ = ["app", "console", "main"]
