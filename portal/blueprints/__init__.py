"""Blueprints, one per concern, plus what every response shares (security headers, CSRF errors)."""

from __future__ import annotations

from flask import Flask, request
from flask_wtf.csrf import CSRFError

from portal.auth import login_manager
from portal.blueprints.account_pages import bp as account_pages
from portal.blueprints.admin_api import bp as admin_api
from portal.blueprints.attendance_api import bp as attendance_api
from portal.blueprints.browse_pages import bp as browse_pages
from portal.blueprints.case_pages import bp as case_pages
from portal.blueprints.dashboard import bp as dashboard
from portal.blueprints.letter_pages import bp as letter_pages
from portal.blueprints.openapi import bp as openapi
from portal.blueprints.ops import bp as ops
from portal.blueprints.retry_pages import bp as retry_pages
from portal.blueprints.sign_in import bp as sign_in
from portal.blueprints.student_pages import bp as student_pages
from portal.blueprints.students_api import bp as students_api
from portal.blueprints.template_helpers import register_template_helpers
from portal.errors import error_response
from portal.forms import init_csrf
from portal.operations.browse import InvalidQuery

# No inline script or style anywhere: the pages load portal/static/* only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)


def register_blueprints(app: Flask) -> None:
    """Register every blueprint and bind the auth extensions."""
    login_manager.init_app(app)
    init_csrf(app)
    app.register_blueprint(attendance_api)
    app.register_blueprint(ops)
    app.register_blueprint(admin_api)
    app.register_blueprint(students_api)
    app.register_blueprint(openapi)
    app.register_blueprint(sign_in)
    app.register_blueprint(dashboard)
    app.register_blueprint(retry_pages)
    app.register_blueprint(browse_pages)
    app.register_blueprint(letter_pages)
    app.register_blueprint(student_pages)
    app.register_blueprint(case_pages)
    app.register_blueprint(account_pages)
    register_template_helpers(app)
    _register_csrf_error(app)
    app.after_request(_security_headers)


def _register_csrf_error(app: Flask) -> None:
    @app.errorhandler(InvalidQuery)
    def invalid_query(exc: InvalidQuery):
        return error_response(400, str(exc))

    @app.errorhandler(CSRFError)
    def csrf_refused(exc: CSRFError):
        if request.path.startswith("/api/"):
            message = (
                f"{exc.description} Session calls must send the X-CSRFToken header "
                "(the page's csrf-token meta tag); scripts should use 'Authorization: Bearer <token>'."
            )
        else:
            message = f"{exc.description} The form may have expired: go back, reload the page and try again."
        return error_response(400, message)


def _security_headers(response):
    headers = response.headers
    headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html" or request.path.startswith("/api/"):
        # Pages and API answers carry operational data: never keep them in shared caches.
        headers.setdefault("Cache-Control", "no-store")
    return response
