"""``flask import`` and ``flask demo seed``."""

from __future__ import annotations

import time

import click
from flask.cli import with_appcontext

from portal.attendance import demo, importing, term_imports
from portal.cli.connectivity import needs_database
from portal.cli.operator import cli_actor

MAX_ERRORS_SHOWN = 50


@click.command("import")
@click.argument("kind", type=click.Choice(importing.KINDS + term_imports.KINDS))
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--skip-invalid", is_flag=True, help="Write the good rows and report the bad ones.")
@with_appcontext
@needs_database
def import_command(kind: str, path: str, skip_invalid: bool) -> None:
    """Import students, courses, attendance, terms, offerings or withdrawals from a CSV file.

    A file with any bad row writes nothing unless --skip-invalid is given (terms and
    offerings: always all or nothing).
    """
    if kind in term_imports.KINDS and skip_invalid:
        raise click.UsageError(
            f"--skip-invalid does not apply to {kind}: a {kind} file is imported whole or not at all"
        )
    started = time.monotonic()
    last_report = [started]

    def progress(result: importing.ImportResult) -> None:
        now = time.monotonic()
        if now - last_report[0] >= 2:
            last_report[0] = now
            click.echo(f"  ... {result.rows_read:,} rows read, {result.rows_invalid:,} invalid", err=True)

    with open(path, "rb") as stream:
        try:
            if kind == "terms":
                result = term_imports.import_terms(stream, actor=cli_actor(), source="cli")
            elif kind == "offerings":
                result = term_imports.import_offerings(stream, actor=cli_actor(), source="cli")
            elif kind == "withdrawals":
                result = term_imports.import_withdrawals(stream, actor=cli_actor(), source="cli")
            else:
                result = importing.import_csv(
                    kind, stream, skip_invalid=skip_invalid, progress=progress, actor=cli_actor(), source="cli"
                )
        except importing.ImportFileError as exc:
            raise click.ClickException(f"{path}: {exc}; nothing was written.") from None
    for error in result.errors[:MAX_ERRORS_SHOWN]:
        click.echo(f"{path}: {error}", err=True)
    if len(result.errors) > MAX_ERRORS_SHOWN:
        click.echo(f"{path}: ... and {len(result.errors) - MAX_ERRORS_SHOWN:,} more bad rows", err=True)
    elapsed = time.monotonic() - started
    if result.errors and not result.committed:
        hint = "fix them" if kind in term_imports.KINDS else "fix them, or pass --skip-invalid to import the good rows"
        raise click.ClickException(
            f"{path}: {len(result.errors):,} bad row(s) of {result.rows_read:,}; nothing was written ({hint})."
        )
    click.echo(
        f"Imported {result.rows_written:,} {kind} row(s) from {path} in {elapsed:.1f}s"
        + (f"; skipped {len(result.errors):,} bad row(s)" if result.errors else "")
        + (f"; moved {result.records_moved:,} record(s) into their terms" if result.records_moved else "")
        + (f"; closed {result.alerts_closed:,} open alert(s) without a message" if result.alerts_closed else "")
        + "."
    )


@click.group("demo")
def demo_group() -> None:
    """Demo data for trying the portal."""


@demo_group.command("seed")
@click.option("--students", default=300, show_default=True, type=click.IntRange(1, 500_000))
@click.option("--courses", default=8, show_default=True, type=click.IntRange(1, 200))
@click.option(
    "--sessions", default=12, show_default=True, type=click.IntRange(1, 200), help="Sessions held so far per course."
)
@click.option("--seed", default=1405, show_default=True, help="Random seed (same seed, same university).")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has students.")
@with_appcontext
@needs_database
def demo_seed(students: int, courses: int, sessions: int, seed: int, if_empty: bool) -> None:
    """Fill a demo university: courses, students, two terms of attendance (with retakes)."""
    if if_empty and demo.has_students():
        click.echo("Demo data not added: the database already has students.")
        return

    def progress(message: str) -> None:
        click.echo(f"  {message}", err=True)

    summary = demo.seed(students=students, courses=courses, sessions=sessions, seed=seed, progress=progress)
    click.echo(
        f"Seeded {summary['students']:,} students, {summary['courses']} courses, "
        f"{summary['enrollments']:,} enrollments and {summary['records']:,} attendance records "
        f"over two terms ({summary['retakes']:,} retakes of a course last term barred)."
    )
