"""ERCOT's Market Notice layout, as plain text and HTML, and the mail subject.

Order (DESIGN.md): NOTICE DATE, NOTICE TYPE (with the notice id), SHORT DESCRIPTION, INTENDED
AUDIENCE, DAY(S) AFFECTED, LONG DESCRIPTION, ACTION REQUIRED (optional), ADDITIONAL INFORMATION
(optional), CONTACT. A cancellation repeats the cancelled notice with a cancellation line first.
"""

from __future__ import annotations

import html

from meterhub_common.models.notifier import Notice, NoticeType
from meterhub_notifier.notices.calendar import notice_date_text
from meterhub_notifier.notices.types import type_label

LABELS = (
    "NOTICE DATE",
    "NOTICE TYPE",
    "SHORT DESCRIPTION",
    "INTENDED AUDIENCE",
    "DAY(S) AFFECTED",
    "LONG DESCRIPTION",
    "ACTION REQUIRED",
    "ADDITIONAL INFORMATION",
    "CONTACT",
)


def cancellation_line(notice: Notice) -> str | None:
    if notice.notice_type != NoticeType.CANCELLATION or not notice.cancels:
        return None
    return (
        f"CANCELLATION: Meterhub is cancelling the following notice: {notice.cancels}. "
        "Disregard it."
    )


def _label(notice: Notice) -> str:
    return type_label(notice.notice_type, reminder=notice.is_reminder)


def long_description(notice: Notice) -> str:
    services = ", ".join(notice.affected_services)
    prefix = f"Affected services: {services}.\n" if services else ""
    return prefix + notice.long_description


def fields(notice: Notice) -> list[tuple[str, str]]:
    """The layout's (label, value) pairs in order; optional ones only when present."""
    values = {
        "NOTICE DATE": notice_date_text(notice.notice_date),
        "NOTICE TYPE": f"{notice.notice_id} {_label(notice)}",
        "SHORT DESCRIPTION": notice.short_description,
        "INTENDED AUDIENCE": notice.intended_audience,
        "DAY(S) AFFECTED": notice.days_affected,
        "LONG DESCRIPTION": long_description(notice),
        "ACTION REQUIRED": notice.action_required or "",
        "ADDITIONAL INFORMATION": notice.additional_information or "",
        "CONTACT": notice.contact,
    }
    optional = {"ACTION REQUIRED", "ADDITIONAL INFORMATION"}
    return [(k, values[k]) for k in LABELS if k not in optional or values[k].strip()]


def subject(notice: Notice) -> str:
    one_line = " ".join(notice.short_description.split())
    return f"{notice.notice_id} {_label(notice)}: {one_line}"


def render_text(notice: Notice) -> str:
    lines: list[str] = []
    first = cancellation_line(notice)
    if first:
        lines += [first, ""]
    for label, value in fields(notice):
        lines.append(f"{label}: {value.strip()}")
    return "\n".join(lines) + "\n"


def render_html(notice: Notice) -> str:
    rows = []
    for label, value in fields(notice):
        body = "<br>".join(html.escape(line) for line in value.strip().splitlines())
        rows.append(
            f'<tr><th style="text-align:left;vertical-align:top;padding:4px 12px 4px 0">'
            f'{html.escape(label)}:</th><td style="padding:4px 0">{body}</td></tr>'
        )
    first = cancellation_line(notice)
    banner = f'<p style="font-weight:bold;color:#b00020">{html.escape(first)}</p>' if first else ""
    return (
        '<!DOCTYPE html><html><head><meta charset="utf-8">'
        f"<title>{html.escape(subject(notice))}</title></head>"
        f'<body style="font-family:Arial,Helvetica,sans-serif">{banner}'
        f"<table>{''.join(rows)}</table></body></html>\n"
    )
