"""CSV imports in the browser: the upload form and past imports (``/imports/``), one
import's live progress and report (``/imports/<id>``), and the report as a file.

Uploads are for admins; viewers see the list and the reports. The upload's body is streamed
to disk (``upload_stream``) and its CSRF token checked after that, by this view.
"""

from __future__ import annotations

import os

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge
from wtforms import ValidationError

from portal.attendance import upload_jobs, uploads
from portal.auth import require_page_role
from portal.blueprints.upload_stream import remove_all, stream_form_to
from portal.forms import checks_csrf_itself
from portal.operations import browse

bp = Blueprint("imports", __name__, url_prefix="/imports")

# The page shows this many bad rows; the downloadable report has every one.
REPORT_LINES_SHOWN = 100


def size_text(size: int) -> str:
    """``104857600`` as ``100 MB`` (whole megabytes), else in bytes."""
    mib = 1024 * 1024
    return f"{size // mib} MB" if size % mib == 0 else f"{size:,} bytes"


def _index(status: int = 200, form: dict | None = None):
    page, per_page = browse.page_args(request.args)
    return render_template(
        "imports/index.html",
        imports=uploads.imports_page(page, per_page),
        kinds=uploads.KINDS,
        limit=size_text(current_app.config["IMPORT_MAX_BYTES"]),
        form=form or {},
    ), status


@bp.get("/")
@require_page_role()
def index():
    """Past imports (newest first, paged) and, for admins, the upload form."""
    return _index()


def _received() -> tuple[uploads.Upload | None, dict]:
    """Stream the form to disk and check its CSRF token; return the upload (None: no file) and
    the form's values. Files other than the ``file`` field are deleted."""
    form, files, paths = stream_form_to(uploads.upload_folder(), current_app.config["IMPORT_MAX_BYTES"])
    try:
        validate_csrf(form.get("csrf_token") or request.headers.get("X-CSRFToken"))
    except ValidationError as exc:
        remove_all(paths)
        raise CSRFError(exc.args[0]) from None
    values = {"kind": form.get("kind", ""), "skip_invalid": form.get("skip_invalid") == "on"}
    storage = files.get("file")
    kept = storage.stream.name if storage is not None and storage.filename else None
    remove_all([path for path in paths if path != kept])
    if kept is None:
        return None, values
    filename = os.path.basename(storage.filename.replace("\\", "/"))
    upload = uploads.Upload(values["kind"], filename, kept, os.path.getsize(kept), values["skip_invalid"])
    return upload, values


@bp.post("/")
@checks_csrf_itself
@require_page_role("admin")
def upload():
    """Store the uploaded CSV file, check its kind and header at once, and queue its import."""
    limit = current_app.config["IMPORT_MAX_BYTES"]
    try:
        upload, values = _received()
    except RequestEntityTooLarge:
        flash(
            _("Nothing was imported: the file is larger than the %(limit)s limit for imports.", limit=size_text(limit)),
            "error",
        )
        return _index(413)
    if upload is None:
        flash(_("Nothing was imported: choose a CSV file to upload."), "error")
        return _index(400, values)
    caller = {"actor": current_user.username, "ip": request.remote_addr}
    try:
        uploads.check_upload(upload)
    except uploads.UploadRefused as exc:
        uploads.refuse_upload(upload, str(exc), **caller)
        flash(_("Nothing was imported: %(reason)s", reason=str(exc)), "error")
        return _index(400, values)
    row = uploads.queue_import(upload, **caller)
    flash(_("%(filename)s is uploaded; its import is queued.", filename=row.original_filename), "success")
    return redirect(url_for("imports.show", import_id=row.id))


def _import(import_id: int):
    row = uploads.get_import(import_id)
    if row is None:
        abort(404, description=_("There is no import with id %(id)d.", id=import_id))
    return row


def _progress_context(import_id: int) -> dict:
    row = _import(import_id)
    progress = {} if row.finished else upload_jobs.read_progress(row.id)
    report = (row.report or "").splitlines()
    return {"row": row, "progress": progress, "report": report[:REPORT_LINES_SHOWN], "report_total": len(report)}


@bp.get("/<int:import_id>")
@require_page_role()
def show(import_id: int):
    """One import: its progress while it runs (refreshed live), then its counts and report."""
    return render_template("imports/show.html", **_progress_context(import_id))


@bp.get("/<int:import_id>/live")
@require_page_role()
def live(import_id: int):
    """The progress and report part of an import's page, as a fragment (polled by live.js)."""
    return render_template("imports/live/progress.html", **_progress_context(import_id))


@bp.get("/<int:import_id>/report.txt")
@require_page_role()
def report(import_id: int):
    """The full report of an import as text: every bad row, as the CLI prints it, and the outcome."""
    row = _import(import_id)
    name = f"import-{row.id}-report.txt"
    return Response(
        uploads.report_text(row),
        mimetype="text/plain",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
