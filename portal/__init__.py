"""Attendance threshold monitoring: Flask app factory."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from portal.config import load_config
from portal.extensions import babel, db, migrate
from portal.logs import configure_logging
from portal.page_language import page_language


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Create the Flask app: config from the environment (or ``test_config``), extensions, blueprints."""
    app = Flask(__name__, instance_relative_config=True)
    env = dict(os.environ)
    if test_config is not None:
        env.setdefault("FLASK_ENV", "testing")
    app.config.from_mapping(load_config(env, app.instance_path))
    if test_config is not None:
        app.config.from_mapping(test_config)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        os.makedirs(app.instance_path, exist_ok=True)

    db.init_app(app)
    migrate.init_app(app, db, directory=os.path.join(os.path.dirname(app.root_path), "migrations"))
    babel.init_app(app, locale_selector=page_language, default_translation_directories="translations")
    configure_logging(app)
    if app.config.get("TRUSTED_PROXY_COUNT"):  # behind nginx: the client's address, not the proxy's
        hops = app.config["TRUSTED_PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    from portal import models  # noqa: F401  (registers the tables on db.metadata)
    from portal.blueprints import register_blueprints
    from portal.cli import register_commands
    from portal.errors import register_error_handlers

    register_blueprints(app)
    register_error_handlers(app)
    register_commands(app)
    return app
