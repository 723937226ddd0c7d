"""`group-etl serve` as a user starts it: the real console script on a free port of
127.0.0.1, ready once /healthz answers; for the end-to-end tests of the API and pages."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from etl.config import Settings

SCRIPT = Path(sys.executable).parent / "group-etl"
USER, SECRET = "svc-account", "the-secret-0123"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def environment(settings: Settings) -> dict[str, str]:
    return {**os.environ, "GROUP_ETL_WAREHOUSE_URL": settings.warehouse_url, "GROUP_ETL_LAKE_URL": settings.lake_url,
            "GROUP_ETL_SCHEMA": settings.schema or "", "GROUP_ETL_SESSION_DIR": settings.session_dir or "",
            "GROUP_ETL_SERVE_USER": USER, "GROUP_ETL_SERVE_SECRET": SECRET}


@contextlib.contextmanager
def running_server(settings: Settings, log: Path) -> Iterator[str]:
    """The base URL of a `group-etl serve` over `settings`' warehouse; its output goes to `log`."""
    port = free_port()
    with open(log, "wb") as out:
        process = subprocess.Popen([str(SCRIPT), "serve", "--port", str(port)], env=environment(settings),
                                   stdout=out, stderr=out)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:  # ready when /healthz answers
            try:
                with urllib.request.urlopen(f"{base}/healthz", timeout=2) as response:
                    assert json.load(response)["status"] == "ok"
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"group-etl serve did not start: {log.read_text()}")
                time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
