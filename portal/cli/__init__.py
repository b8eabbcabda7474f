"""``flask`` commands: one module per concern, registered here."""

from flask import Flask


def register_commands(app: Flask) -> None:
    """Add the project's command groups to ``flask --app wsgi``."""
    from portal.cli.data import demo_group, import_command
    from portal.cli.people import check_command, tokens_group, users_group

    app.cli.add_command(import_command)
    app.cli.add_command(demo_group)
    app.cli.add_command(users_group)
    app.cli.add_command(tokens_group)
    app.cli.add_command(check_command)
    app.cli.add_command(__import__("portal.cli.jobs", fromlist=["jobs_group"]).jobs_group)
    app.cli.add_command(__import__("portal.cli.alerts", fromlist=["thresholds_group"]).thresholds_group)
    app.cli.add_command(__import__("portal.cli.alerts", fromlist=["alerts_group"]).alerts_group)
    app.cli.add_command(__import__("portal.cli.alerts", fromlist=["retry_queue_group"]).retry_queue_group)
