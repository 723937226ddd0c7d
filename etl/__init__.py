"""group-etl: Mixpanel-style Group Analytics in your own warehouse.

Layers, each importing only the ones above it in this list:
`etl.config`/`etl.errors`/`etl.days` -> `etl.store` -> `etl.ingest` -> `etl.model`
-> `etl.serve` -> `etl.run` -> `etl.cli`.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("group-analytics-etl")
except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
    __version__ = "0+unknown"
