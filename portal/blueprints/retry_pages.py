"""The retry queue: pending deliveries and dead ones, with retry-now, cancel and clear-all."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal.auth import require_page_role, safe_next_url
from portal.notifications import group_actions, retry_queue
from portal.operations import browse
from portal.redis_connection import RedisUnavailable

bp = Blueprint("retry", __name__, url_prefix="/retry-queue")


@bp.get("/")
@require_page_role()
def index():
    """Deliveries waiting for a retry (or, with ``status=dead``, the dead ones), filtered and paginated."""
    page, per_page = browse.page_args(request.args)
    filters = browse.delivery_filters(request.args)
    deliveries = browse.retry_deliveries(page=page, per_page=per_page, **filters)
    return render_template(
        "retry/index.html",
        deliveries=deliveries,
        filters=filters,
        summary=retry_queue.retry_queue_status(),
        held=retry_queue.held_until_labels(deliveries.items),  # quiet hours: "held until 07:00"
    )


def _back():
    return redirect(safe_next_url(request.form.get("next")) or url_for("retry.index"))


def _caller() -> dict[str, str | None]:
    """Who acts, for the audit log: the signed-in user, source ``page``, the client's address."""
    return {"actor": current_user.username, "source": "page", "ip": request.remote_addr}


@bp.post("/<int:delivery_id>/retry")
@require_page_role("admin")
def retry(delivery_id: int):
    """Attempt a pending or dead delivery again now."""
    try:
        delivery = retry_queue.retry_delivery(delivery_id, **_caller())
    except LookupError:
        abort(404, description=f"There is no delivery #{delivery_id}.")
    except ValueError as exc:
        flash(_("Delivery #%(id)d was not retried: %(problem)s", id=delivery_id, problem=exc), "error")
        return _back()
    except RedisUnavailable as exc:
        flash(str(exc), "error")
        return _back()
    held = retry_queue.held_until_labels([delivery]).get(delivery_id)
    if held:
        flash(
            _(
                "Delivery #%(id)d will be attempted again at the end of quiet hours (%(time)s).",
                id=delivery_id,
                time=held,
            ),
            "success",
        )
    else:
        flash(_("Delivery #%(id)d will be attempted again now.", id=delivery_id), "success")
    return _back()


@bp.post("/<int:delivery_id>/cancel")
@require_page_role("admin")
def cancel(delivery_id: int):
    """Cancel one pending delivery (kept in the database as cancelled)."""
    try:
        retry_queue.cancel_delivery(delivery_id, **_caller())
    except LookupError:
        abort(404, description=f"There is no delivery #{delivery_id}.")
    except ValueError as exc:
        flash(_("Delivery #%(id)d was not cancelled: %(problem)s", id=delivery_id, problem=exc), "error")
        return _back()
    flash(_("Delivery #%(id)d is cancelled.", id=delivery_id), "success")
    return _back()


@bp.get("/clear")
@require_page_role("admin")
def confirm_clear():
    """Ask for confirmation, saying how many pending deliveries clearing would cancel."""
    return render_template("retry/clear.html", summary=retry_queue.retry_queue_status())


@bp.post("/clear")
@require_page_role("admin")
def clear():
    """Cancel every pending delivery and remove their scheduled jobs."""
    cleared = retry_queue.clear_retry_queue(**_caller())
    flash(
        ngettext(
            "Cleared the retry queue: %(num)d pending delivery cancelled.",
            "Cleared the retry queue: %(num)d pending deliveries cancelled.",
            cleared,
        ),
        "success",
    )
    return redirect(url_for("retry.index"))


def _group_action(action: str) -> str:
    if action not in group_actions.ACTIONS:
        abort(404, description=_("There is no group action %(action)s; expected retry or cancel.", action=repr(action)))
    return action


@bp.get("/group/<action>")
@require_page_role("admin")
def confirm_group(action: str):
    """Ask for confirmation, saying how many deliveries of the filtered list the action touches."""
    filters = browse.delivery_filters(request.args)
    snapshot = group_actions.take_snapshot(filters)
    return render_template("retry/group.html", action=_group_action(action), filters=filters, snapshot=snapshot)


@bp.post("/group/<action>")
@require_page_role("admin")
def group(action: str):
    """Retry now or cancel the deliveries the confirmation page counted (none that came after it)."""
    _group_action(action)
    filters = browse.delivery_filters(request.form)
    shown, max_id = browse.snapshot_args(request.form)
    snapshot = group_actions.Snapshot(shown, max_id)
    back = redirect(url_for("retry.index", **_filter_args(filters)))
    if action == "cancel":
        touched = group_actions.cancel_group(filters, snapshot, **_caller())
        flash(ngettext("%(num)d delivery is cancelled.", "%(num)d deliveries are cancelled.", touched), "success")
    else:
        try:
            touched = group_actions.retry_group(filters, snapshot, **_caller())
        except RedisUnavailable as exc:
            flash(str(exc), "error")
            return back
        flash(
            ngettext(
                "%(num)d delivery will be attempted again now.",
                "%(num)d deliveries will be attempted again now.",
                touched,
            ),
            "success",
        )
    if touched != shown:
        flash(
            _(
                "The confirmation page counted %(shown)d; %(touched)d still matched the filter when the action ran "
                "(the others were sent, cancelled or changed in between; deliveries that came after it are left alone).",
                shown=shown,
                touched=touched,
            ),
            "info",
        )
    return back


def _filter_args(filters: dict) -> dict:
    """The list's query arguments for ``filters`` (empty ones left out)."""
    args = {
        "status": filters["status"],
        "type": filters["kind"],
        "attempts": filters["attempts"],
        "channel": filters["channel"],
    }
    return {
        name: value
        for name, value in args.items()
        if value is not None and not (name == "status" and value == "pending")
    }
