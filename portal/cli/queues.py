"""``flask queues list|pause|resume``: pausing an RQ queue (its jobs wait, workers take none)."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from portal.cli.connectivity import needs_database
from portal.cli.operator import cli_actor
from portal.operations import queue_pause
from portal.queues import QUEUE_NAMES

QUEUE_NAME = click.Choice(QUEUE_NAMES)


@click.group("queues")
def queues_group() -> None:
    """RQ queues: list them, pause one (workers take nothing from it), resume it."""


@queues_group.command("list")
@with_appcontext
@needs_database
def list_queues() -> None:
    """Show every queue, whether it is paused and how many jobs wait in it."""
    click.echo(f"{'QUEUE':14} {'STATE':8} {'WAITING':>7}")
    for queue in queue_pause.queue_states():
        click.echo(f"{queue['name']:14} {'paused' if queue['paused'] else 'running':8} {queue['length']:>7}")


@queues_group.command("pause")
@click.argument("name", type=QUEUE_NAME)
@with_appcontext
@needs_database
def pause(name: str) -> None:
    """Pause a queue: workers take nothing from it; its jobs wait until it is resumed."""
    changed = queue_pause.pause_queue(name, cli_actor(), "cli")
    click.echo(
        f"Paused {name}: workers take nothing from it until 'flask queues resume {name}'."
        if changed
        else f"{name} was paused already."
    )


@queues_group.command("resume")
@click.argument("name", type=QUEUE_NAME)
@with_appcontext
@needs_database
def resume(name: str) -> None:
    """Resume a paused queue: workers take its jobs again, in their order."""
    changed = queue_pause.resume_queue(name, cli_actor(), "cli")
    click.echo(f"Resumed {name}: workers take its jobs again." if changed else f"{name} was not paused.")
