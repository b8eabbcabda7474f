"""The OpenAPI document's queue endpoints (``/api/admin/queues``): list, pause, resume.

``portal.blueprints.openapi`` merges them into the document it serves.
"""

from __future__ import annotations

from portal.blueprints.openapi_build import ERROR, READ, WRITE, answer, failure, ok, operation, shared
from portal.blueprints.openapi_spec import BOOL, COUNT, done, obj
from portal.queues import QUEUE_NAMES

QUEUE_NAME = {"type": "string", "enum": list(QUEUE_NAMES)}
QUEUES = {
    "type": "array",
    "items": obj(
        {
            "name": QUEUE_NAME,
            "paused": {**BOOL, "description": "Workers take nothing from a paused queue; its jobs wait."},
            "length": {**COUNT, "description": "Jobs waiting in the queue."},
        },
        ["name", "paused", "length"],
    ),
}
EXAMPLE = [
    {"name": name, "paused": name == "notifications", "length": 3 if name == "notifications" else 0}
    for name in QUEUE_NAMES
]
NAME_PARAMETER = [{"name": "name", "in": "path", "required": True, "schema": QUEUE_NAME}]
ERRORS = {"401": shared("Unauthorized"), "503": shared("Unavailable")}
ACTION_ERRORS = {
    "400": answer("(Session calls) a missing or wrong X-CSRFToken.", ERROR, failure("The CSRF token is missing.")),
    "403": shared("Forbidden"),
    "404": answer(
        "No queue has that name.",
        ERROR,
        failure(f"No queue named 'nope'; queues are: {', '.join(QUEUE_NAMES)}."),
    ),
    **ERRORS,
}


def _action(op_id: str, summary: str, message: str) -> dict:
    return operation(
        op_id,
        summary,
        "admin",
        WRITE,
        {**ok(QUEUES, done(EXAMPLE, message), "Every queue's state, most urgent first.", "required"), **ACTION_ERRORS},
        parameters=NAME_PARAMETER,
    )


QUEUE_PATHS = {
    "/api/admin/queues": {
        "get": operation(
            "listQueues",
            "Every RQ queue, most urgent first: paused or not, and how many jobs wait in it.",
            "any signed-in user or token (viewer or admin)",
            READ,
            {**ok(QUEUES, done(EXAMPLE)), **ERRORS},
        )
    },
    "/api/admin/queues/{name}/pause": {
        "post": _action(
            "pauseQueue",
            "Pause a queue: workers take nothing from it, its jobs wait (`was paused already` when it was).",
            "Paused notifications.",
        )
    },
    "/api/admin/queues/{name}/resume": {
        "post": _action(
            "resumeQueue",
            "Resume a paused queue: workers take its jobs again (`was not paused` when it was not).",
            "Resumed notifications.",
        )
    },
}
