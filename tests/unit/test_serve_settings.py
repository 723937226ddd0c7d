"""`group-etl serve`'s settings: defaults, overrides, and each wrong value's message."""

from __future__ import annotations

import pytest

from etl.api.settings import ServeSettings, load_serve_settings
from etl.errors import ConfigError

ACCOUNT = {"GROUP_ETL_SERVE_USER": "svc", "GROUP_ETL_SERVE_SECRET": "hunter2"}


def test_defaults_and_overrides() -> None:
    assert load_serve_settings(ACCOUNT) == ServeSettings("127.0.0.1", 8000, "svc", "hunter2", "")
    assert load_serve_settings({**ACCOUNT, "GROUP_ETL_SERVE_ROOT_PATH": "/analytics/"}, port=9000, host="0.0.0.0") \
        == ServeSettings("0.0.0.0", 9000, "svc", "hunter2", "/analytics")


def test_the_secret_never_shows_in_repr() -> None:
    assert "hunter2" not in repr(load_serve_settings(ACCOUNT))


@pytest.mark.parametrize(("env", "message"), [
    ({}, "GROUP_ETL_SERVE_USER and GROUP_ETL_SERVE_SECRET: set both (the service account the API accepts "
         "with HTTP basic authentication)"),
    ({"GROUP_ETL_SERVE_USER": "svc"}, "GROUP_ETL_SERVE_USER and GROUP_ETL_SERVE_SECRET: set both (the service "
                                      "account the API accepts with HTTP basic authentication)"),
    ({**ACCOUNT, "GROUP_ETL_SERVE_USER": "a:b"}, "GROUP_ETL_SERVE_USER: may not hold ':' (HTTP basic "
                                                 "authentication splits there)"),
    ({**ACCOUNT, "GROUP_ETL_SERVE_PORT": "http"}, "GROUP_ETL_SERVE_PORT: expected a whole number, got 'http'"),
    ({**ACCOUNT, "GROUP_ETL_SERVE_PORT": "70000"}, "GROUP_ETL_SERVE_PORT: must be at most 65535, got 70000"),
    ({**ACCOUNT, "GROUP_ETL_SERVE_ROOT_PATH": "analytics"},
     "GROUP_ETL_SERVE_ROOT_PATH: a path starting with '/', such as /analytics, got 'analytics'"),
])
def test_wrong_settings(env, message) -> None:  # noqa: ANN001
    with pytest.raises(ConfigError) as error:
        load_serve_settings(env)
    assert str(error.value) == message
