"""``POST /api/attendance``: a JSON list of attendance records, all written or none."""

from __future__ import annotations

from flask import Blueprint, abort, jsonify, request

from portal.attendance import saving
from portal.auth import api_user, require_api_role
from portal.blueprints.json_body import json_body
from portal.domain.batches import RowChecker

bp = Blueprint("attendance_api", __name__, url_prefix="/api")

MAX_RECORDS = 10_000


@bp.post("/attendance")
@require_api_role("admin")
def post_attendance():
    """Validate every record, then write them in one transaction; 400 lists every problem."""
    payload = json_body()
    if isinstance(payload, dict) and isinstance(payload.get("records"), list):
        payload = payload["records"]
    if not isinstance(payload, list):
        abort(400, description="Expected a JSON list of attendance records.")
    if not payload:
        abort(400, description="The list of records is empty.")
    if len(payload) > MAX_RECORDS:
        abort(413, description=f"At most {MAX_RECORDS} records per request; got {len(payload)}.")
    checker = RowChecker(
        "attendance",
        latest=saving.latest_allowed_date(),
        place="record",
        same="student, course, date, slot",
        known_fields_only=True,
    )
    problems, records = [], []
    for index, item in enumerate(payload):
        if not isinstance(item, dict):
            problems.append({"index": index, "errors": ["record must be a JSON object"]})
            continue
        record, errors = checker.check(item, index)
        if errors:
            problems.append({"index": index, "errors": errors})
        else:
            records.append(record)
    if problems:
        return jsonify(
            {"success": False, "error": "Some records are invalid; nothing was saved.", "problems": problems}
        ), 400
    pairs, problems = saving.save_attendance(records, actor=api_user().username, source="api", ip=request.remote_addr)
    if problems:
        return jsonify(
            {"success": False, "error": "Some records are invalid; nothing was saved.", "problems": problems}
        ), 400
    return jsonify({"success": True, "data": {"saved": len(records), "pairs": len(pairs)}}), 201
