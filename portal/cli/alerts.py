"""``flask thresholds check``, ``flask alerts list`` and ``flask retry-queue status|clear``."""

from __future__ import annotations

import json

import click
from flask.cli import with_appcontext

from portal.alerts import listing
from portal.alerts.scan import run_threshold_check
from portal.cli.connectivity import needs_database
from portal.cli.operator import cli_actor
from portal.notifications.retry_queue import clear_retry_queue, retry_queue_status


@click.group("thresholds")
def thresholds_group() -> None:
    """The attendance threshold engine."""


@thresholds_group.command("check")
@click.option("--dry-run", is_flag=True, help="Report what would change; write and send nothing.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@with_appcontext
@needs_database
def check_command(dry_run: bool, as_json: bool) -> None:
    """Check every active student now, in this process (deliveries still go through RQ)."""
    summary = run_threshold_check(dry_run=dry_run)
    if as_json:
        click.echo(json.dumps(summary, indent=2))
    else:
        opened = summary["alertsOpened"]
        click.echo(
            ("Dry run: would have " if dry_run else "")
            + f"checked {summary['totalStudentsChecked']:,} students in {summary['executionTime'] / 1000:.1f}s: "
            + f"opened {opened['warning']:,} warning ({summary['alertsSuppressed']:,} suppressed under mahroom), "
            + f"{opened['mahroom']:,} mahroom, {opened['tasdiq']:,} tasdiq; resolved {summary['alertsResolved']:,}; "
            + f"queued {summary['notificationsQueued']:,} notifications."
        )
        for verb, listed in (("would open", summary.get("wouldOpen")), ("would resolve", summary.get("wouldResolve"))):
            for change in listed or []:
                flag = " (suppressed)" if change.get("suppressed") else ""
                click.echo(
                    f"  {verb}: {change['studentNumber']}\t{change['courseCode']}\t{change['kind']}{flag}\t{change['rate']}%"
                )
        for error in summary["errors"]:
            click.echo(f"error: {error}", err=True)
    if summary["errors"]:
        raise SystemExit(1)


@click.group("alerts")
def alerts_group() -> None:
    """Alerts opened by the threshold engine."""


@alerts_group.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of every alert.")
@click.option("--status", type=click.Choice(["open", "resolved"]), help="Only alerts with this status.")
@with_appcontext
@needs_database
def list_command(as_json: bool, status: str | None) -> None:
    """List alerts, oldest first."""
    first = True
    if as_json:
        click.echo("[", nl=False)
    for item in listing.iter_alerts(status):
        if as_json:
            click.echo(("" if first else ",") + "\n  " + json.dumps(item), nl=False)
        else:
            flag = " (suppressed)" if item["suppressed"] else ""
            reason = f" ({item['resolvedReason']})" if item["resolvedReason"] else ""
            click.echo(
                f"{item['studentNumber']}\t{item['courseCode']}\t{item['termCode'] or '-'}\t{item['kind']}{flag}\t"
                f"{item['status']}{reason}\t{item['rate']}%\t{item['openedAt']}\t{item['resolvedAt'] or ''}"
            )
        first = False
    if as_json:
        click.echo("\n]" if not first else "]")


@click.group("retry-queue")
def retry_queue_group() -> None:
    """Deliveries waiting for a retry."""


@retry_queue_group.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print {totalPending, byType, byAttempts, grid, dead} as JSON.")
@with_appcontext
@needs_database
def status_command(as_json: bool) -> None:
    """Show how many deliveries wait for a retry, by alert kind and attempts made."""
    status = retry_queue_status()
    if as_json:
        click.echo(json.dumps(status))
        return
    click.echo(f"{status['totalPending']:,} deliveries waiting for a retry")
    click.echo("  by type: " + ", ".join(f"{k} {v:,}" for k, v in status["byType"].items()))
    click.echo("  by attempts made: " + (", ".join(f"{k}: {v:,}" for k, v in status["byAttempts"].items()) or "none"))


@retry_queue_group.command("clear")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@with_appcontext
@needs_database
def clear_command(yes: bool) -> None:
    """Cancel every delivery waiting for a retry and remove their scheduled jobs (audit-logged)."""
    waiting = retry_queue_status()["totalPending"]
    if not waiting:
        click.echo("The retry queue is empty.")
        return
    if not yes:
        click.confirm(f"Cancel {waiting:,} waiting deliveries?", abort=True)
    cleared = clear_retry_queue(actor=cli_actor(), source="cli")
    click.echo(f"Cancelled {cleared:,} deliveries; their scheduled retries were removed.")
