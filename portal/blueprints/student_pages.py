"""The office's page for one student (``/students/<student_number>``) and the header's search."""

from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from portal.alerts import case_views, cases
from portal.auth import require_page_role
from portal.models.cases import CASE_OUTCOMES
from portal.operations import browse, student_page
from portal.operations.browse import InvalidQuery

bp = Blueprint("students", __name__, url_prefix="/students")


@bp.get("/")
@require_page_role()
def search():
    """``?q=``: an exact student number opens that student's page; anything else searches names."""
    page, per_page = browse.page_args(request.args)
    try:
        text = student_page.search_query(request.args.get("q"))
        if student_page.find_student(text) is not None:
            return redirect(url_for("students.show", student_number=text))
        found = student_page.search_by_name(text, page, per_page)
    except InvalidQuery as exc:
        return render_template("students/search.html", q=request.args.get("q", ""), message=str(exc), found=None), 400
    return render_template("students/search.html", q=text, message=None, found=found)


@bp.get("/<student_number>")
@require_page_role()
def show(student_number: str):
    """Courses by term with hours, rates and forecast; alerts with their cases (and, for admins,
    the follow-up forms); notifications with their letters
    and deliveries; a page of attendance records."""
    page, per_page = browse.page_args(request.args)
    if "perPage" not in request.args and "per_page" not in request.args:
        per_page = student_page.RECORDS_PER_PAGE
    student = student_page.find_student(student_number)
    if student is None:
        abort(404, description=f"No student has the student number {student_number[:32]!r}.")
    terms = student_page.course_terms(student.id)
    alerts = student_page.student_alerts(student.id)
    return render_template(
        "students/show.html",
        student=student,
        terms=terms,
        alerts=alerts,
        cases=case_views.case_views(row["alert"].id for row in alerts),
        assignable=cases.assignable_users() if current_user.is_admin and alerts else [],
        outcomes=CASE_OUTCOMES,
        notifications=student_page.student_notifications(student.id),
        records=student_page.attendance_records(student.id, page, per_page),
    )
