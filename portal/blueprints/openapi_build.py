"""Builders of the OpenAPI document's parts: answers, parameters, operations (used by
``portal.blueprints.openapi`` and ``portal.blueprints.openapi_students``)."""

from __future__ import annotations

from typing import Any

from portal.blueprints.openapi_spec import Schema, envelope, ref

READ = [{"bearerToken": []}, {"sessionCookie": []}]
WRITE = [{"bearerToken": []}, {"sessionCookie": [], "csrfToken": []}]
ERROR, ACTION_ERROR, RECORDS_ERROR = ref("Error"), ref("ActionError"), ref("RecordsError")


def answer(description: str, schema: Schema | None = None, example: Any = None, media: str = "application/json"):
    response: dict[str, Any] = {"description": description}
    if schema is not None:
        response["content"] = {media: {"schema": schema}}
        if example is not None:
            response["content"][media]["example"] = example
    return response


def failure(message: str) -> dict[str, Any]:
    return {"success": False, "error": message}


def shared(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/responses/{name}"}


def query(name: str, schema: Schema, description: str) -> dict[str, Any]:
    """An optional query argument; an empty value counts as not given."""
    return {"name": name, "in": "query", "allowEmptyValue": True, "schema": schema, "description": description}


def choice(values: tuple[str, ...]) -> Schema:
    return {"type": "string", "enum": list(values)}


def ok(schema: Schema, example: dict, description: str = "Done.", message: str | None = None, status_code="200"):
    return {status_code: answer(description, envelope(schema, message), example)}


def operation(
    op_id: str, summary: str, role: str, security: list, responses: dict, scope: str = "admin", **more: Any
) -> dict:
    """One operation; ``role`` is who may call it (``x-role``), ``scope`` the narrow token scope
    that reaches it besides ``admin`` (``x-token-scopes``; portal.auth.scope_needed)."""
    description = more.pop("description", summary)
    scopes = ["admin"] if scope == "admin" or not security else [scope, "admin"]
    who = f"Who: {role}." + (f" Tokens: scope {' or '.join(scopes)}." if security else "")
    return {
        "operationId": op_id,
        "summary": summary,
        "description": f"{description}\n\n{who}",
        "x-role": role,
        "x-token-scopes": scopes if security else [],
        "security": security,
        "responses": responses,
        **more,
    }


def body(schema: Schema, **media: Any) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema, **media}}}
