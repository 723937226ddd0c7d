"""group-etl: Mixpanel-style Group Analytics in your own warehouse.

Layers, each importing only the ones above it in this list:
`etl.config`/`etl.errors`/`etl.days` -> `etl.store` -> `etl.ingest` -> `etl.model`
-> `etl.serve` -> `etl.run` -> `etl.cli`.

`etl.connect()` (etl.serve.frames) gives analysts pandas DataFrames; it is
imported on first use, so `import etl` stays cheap (no pandas, no SQLAlchemy).
`etl.__version__` is read from the package metadata on first use too: every
command imports `etl`, and importlib.metadata alone costs 20-30 ms (issue 21).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from etl.serve.frames import connect

__all__ = ["__version__", "connect"]


def __getattr__(name: str) -> object:
    if name == "connect":
        from etl.serve.frames import connect

        return connect
    if name == "__version__":
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("group-analytics-etl")
        except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
            found = "0+unknown"
        globals()["__version__"] = found
        return found
    raise AttributeError(f"module 'etl' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), "__version__", "connect"})
