"""HTTP basic authentication with the one service account of the settings, as
Mixpanel's service accounts authenticate: `Authorization: Basic base64(user:secret)`.
Compared in constant time; the secret is never logged or echoed."""

from __future__ import annotations

import base64
import hmac

from fastapi import HTTPException, Request

from etl.api.settings import ServeSettings

CHALLENGE = {"WWW-Authenticate": 'Basic realm="group-etl", charset="UTF-8"'}


def authenticated_user(request: Request) -> str:
    """The user of a request whose credentials match the settings; else 401."""
    settings: ServeSettings = request.app.state.serve_settings
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    user, secret = "", ""
    if scheme.lower() == "basic":
        try:
            user, _, secret = base64.b64decode(token.strip(), validate=True).decode().partition(":")
        except ValueError:  # not base64 (binascii.Error), not ASCII (a header of latin-1 text), not UTF-8
            user, secret = "", ""
    good_user = hmac.compare_digest(user.encode(), settings.user.encode())
    good_secret = hmac.compare_digest(secret.encode(), settings.secret.encode())
    if not (good_user and good_secret):
        raise HTTPException(401, "Unable to authenticate request: HTTP basic authentication with the "
                                 "service account's user and secret is required", headers=CHALLENGE)
    request.state.user = user
    return user
