"""Who is at the terminal: the actor recorded in the audit log for CLI actions."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    """Return ``cli:<login name>`` (or ``cli`` where there is no login name, as in containers)."""
    try:
        return f"cli:{getpass.getuser()}"
    except Exception:  # noqa: BLE001 - getuser raises several kinds of error when no name is known
        return "cli"
