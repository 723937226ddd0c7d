"""The server's settings (docs/configuration.md, "group-etl serve"): where it listens,
the one service account it accepts, and the path prefix a reverse proxy adds."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from etl.config import count_setting
from etl.errors import ConfigError

DEFAULTS = {
    "GROUP_ETL_SERVE_HOST": "127.0.0.1",
    "GROUP_ETL_SERVE_PORT": "8000",
    "GROUP_ETL_SERVE_USER": "",
    "GROUP_ETL_SERVE_SECRET": "",
    "GROUP_ETL_SERVE_ROOT_PATH": "",
}


@dataclass(frozen=True)
class ServeSettings:
    host: str
    port: int
    user: str
    #: the service account's secret: compared, never logged or shown (repr hides it)
    secret: str
    root_path: str = ""

    def __repr__(self) -> str:
        return (f"ServeSettings(host={self.host!r}, port={self.port}, user={self.user!r}, "
                f"secret='***', root_path={self.root_path!r})")


def load_serve_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> ServeSettings:
    """Environment first, then the command line's options (None keeps the environment's)."""
    env = os.environ if environ is None else environ
    raw = {name: env.get(name, default) for name, default in DEFAULTS.items()}
    for name, value in overrides.items():
        if value is not None:
            raw[f"GROUP_ETL_SERVE_{name.upper()}"] = str(value)
    port = count_setting("GROUP_ETL_SERVE_PORT", raw)
    if port > 65_535:
        raise ConfigError(f"GROUP_ETL_SERVE_PORT: must be at most 65535, got {port}")
    if not raw["GROUP_ETL_SERVE_USER"] or not raw["GROUP_ETL_SERVE_SECRET"]:
        raise ConfigError("GROUP_ETL_SERVE_USER and GROUP_ETL_SERVE_SECRET: set both (the service "
                          "account the API accepts with HTTP basic authentication)")
    if ":" in raw["GROUP_ETL_SERVE_USER"]:
        raise ConfigError("GROUP_ETL_SERVE_USER: may not hold ':' (HTTP basic authentication splits there)")
    root = raw["GROUP_ETL_SERVE_ROOT_PATH"].rstrip("/")
    if root and not root.startswith("/"):
        raise ConfigError(f"GROUP_ETL_SERVE_ROOT_PATH: a path starting with '/', such as /analytics, got {root!r}")
    return ServeSettings(raw["GROUP_ETL_SERVE_HOST"], port, raw["GROUP_ETL_SERVE_USER"],
                         raw["GROUP_ETL_SERVE_SECRET"], root)
