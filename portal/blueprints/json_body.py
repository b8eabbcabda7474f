"""Reading a request's JSON body, the one way every JSON endpoint does it."""

from __future__ import annotations

from typing import Any

from flask import abort, request


def json_body(expected: type | None = None, what: str = "a JSON object") -> Any:
    """Return the request's parsed JSON body.

    Aborts 415 when the body is not sent as JSON, and 400 when it does not parse or (with
    ``expected``) is not of that type; ``what`` names the expected body in the message.
    """
    if not request.is_json:
        abort(415, description="Send a JSON body (Content-Type: application/json).")
    try:
        payload = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not a document anyone sends
        payload = None
    if payload is None and request.get_data(cache=True).strip() != b"null":
        abort(400, description="The request body is not valid JSON.")
    if expected is not None and not isinstance(payload, expected):
        abort(400, description=f"Expected {what}.")
    return payload
