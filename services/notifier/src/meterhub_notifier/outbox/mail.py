"""A notice as an RFC 5322 message (text and HTML), rendered once and stored in the outbox."""

from __future__ import annotations

import email.policy
from email.message import EmailMessage
from email.utils import format_datetime

from meterhub_common.models.notifier import Notice
from meterhub_notifier.notices.render import render_html, render_text, subject

# Long subjects stay on one line (RFC 5322 allows 998): the stdlib folder otherwise moves the
# whole subject to a continuation line, which some clients show with a leading space.
_POLICY = email.policy.SMTP.clone(max_line_length=998)


def _domain(address: str) -> str:
    return address.rsplit("@", 1)[-1].strip("> ") or "meterhub.invalid"


def message_id(notice_id: str, thread_key: str, from_address: str) -> str:
    # The thread's uuid keeps ids unique across environments and databases that restart
    # their notice numbering; the notice id keeps them readable.
    return f"<{notice_id}.{thread_key}@{_domain(from_address)}>"


def build_message(
    notice: Notice,
    *,
    thread_key: str,
    first_notice_id: str,
    from_address: str,
    to_addresses: list[str],
) -> tuple[str, bytes]:
    """Return (Message-ID, message bytes with CRLF line ends) for ``notice``."""
    msg = EmailMessage(policy=_POLICY)
    own_id = message_id(notice.notice_id, thread_key, from_address)
    msg["Message-ID"] = own_id
    msg["Date"] = format_datetime(notice.issued_at)
    msg["From"] = from_address
    msg["To"] = ", ".join(to_addresses)
    msg["Subject"] = subject(notice)
    msg["X-Meterhub-Notice-Id"] = notice.notice_id
    if first_notice_id != notice.notice_id:
        # Follow-ups thread under the first notice in mail clients and list archives.
        first = message_id(first_notice_id, thread_key, from_address)
        msg["In-Reply-To"] = first
        msg["References"] = first
    # Quoted-printable keeps every line 7-bit and short, whatever relay sits in between.
    msg.set_content(render_text(notice), subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(
        render_html(notice), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return own_id, msg.as_bytes()
