"""group-etl: Mixpanel-style Group Analytics in your own warehouse.

Layers, each importing only the ones above it in this list:
`etl.config`/`etl.errors`/`etl.days` -> `etl.store` -> `etl.ingest` -> `etl.model`
-> `etl.serve` -> `etl.run` -> `etl.cli`.

`etl.connect()` (etl.serve.frames) gives analysts pandas DataFrames; it is
imported on first use, so `import etl` stays cheap (no pandas, no SQLAlchemy).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl.serve.frames import connect

try:
    __version__ = version("group-analytics-etl")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"

__all__ = ["__version__", "connect"]


def __getattr__(name: str) -> object:
    if name == "connect":
        from etl.serve.frames import connect

        return connect
    raise AttributeError(f"module 'etl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), "connect"])
