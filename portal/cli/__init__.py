"""``flask`` commands: one module per concern, registered here."""

from flask import Flask

from portal.cli.alerts import alerts_group, retry_queue_group, thresholds_group
from portal.cli.data import demo_group, import_command
from portal.cli.jobs import jobs_group
from portal.cli.people import check_command, tokens_group, users_group
from portal.cli.queues import queues_group


def register_commands(app: Flask) -> None:
    """Add the project's command groups to ``flask --app wsgi``."""
    for command in (
        import_command,
        demo_group,
        users_group,
        tokens_group,
        check_command,
        jobs_group,
        thresholds_group,
        alerts_group,
        retry_queue_group,
        queues_group,
    ):
        app.cli.add_command(command)
