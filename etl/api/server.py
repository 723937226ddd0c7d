"""Running the application under uvicorn: what `group-etl serve` does."""

from __future__ import annotations

import logging

from etl.api.settings import ServeSettings
from etl.config import Settings
from etl.errors import EtlError


def run_server(settings: Settings, serve: ServeSettings) -> None:
    """Open the warehouse read-only (a clear error now if it cannot be read), then serve
    until stopped. uvicorn's own access log is off: ours (etl.api.app) leaves out query
    strings and headers."""
    try:
        import uvicorn

        from etl.api.app import create_app
    except ModuleNotFoundError as error:
        raise EtlError(f"group-etl serve needs the serve extra ({error.name} is missing): "
                       "pip install 'group-analytics-etl[serve]'") from None
    app = create_app(settings, serve)
    logging.getLogger("group_etl.serve").setLevel(logging.INFO)
    _log_info_lines()
    uvicorn.run(app, host=serve.host, port=serve.port, root_path=serve.root_path, access_log=False,
                log_level="info")


def _log_info_lines() -> None:
    """The request lines (INFO) reach stderr; the CLI's own handler shows warnings only."""
    logger = logging.getLogger("group_etl.serve")
    if not logger.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)
        logger.propagate = False
