"""Blueprints, one per concern."""

from flask import Flask


def register_blueprints(app: Flask) -> None:
    """Register every blueprint and bind the auth extensions."""
    from portal.auth import login_manager
    from portal.blueprints.attendance_api import bp as attendance_api
    from portal.blueprints.ops import bp as ops

    login_manager.init_app(app)
    app.register_blueprint(attendance_api)
    app.register_blueprint(ops)
