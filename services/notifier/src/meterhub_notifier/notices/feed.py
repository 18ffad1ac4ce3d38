"""An Atom feed (RFC 4287) of the latest notices, for machines that watch the market."""

from __future__ import annotations

from datetime import datetime
from xml.etree.ElementTree import Element, SubElement, tostring

from meterhub_common.models.notifier import Notice, NoticeThread
from meterhub_notifier.notices.render import render_text, subject

ATOM = "http://www.w3.org/2005/Atom"


def atom_feed(
    items: list[tuple[Notice, NoticeThread]], *, public_url: str, generated_at: datetime
) -> bytes:
    base = public_url.rstrip("/")
    feed = Element("feed", xmlns=ATOM)
    SubElement(feed, "id").text = "urn:meterhub:notices"
    SubElement(feed, "title").text = "Meterhub Market Notices"
    SubElement(feed, "link", rel="self", href=f"{base}/v1/notices/feed")
    updated = max((n.issued_at for n, _ in items), default=generated_at)
    SubElement(feed, "updated").text = updated.isoformat()
    author = SubElement(feed, "author")
    SubElement(author, "name").text = "Meterhub Operations"
    for notice, thread in items:
        entry = SubElement(feed, "entry")
        SubElement(entry, "id").text = f"urn:meterhub:notice:{notice.notice_id}"
        SubElement(entry, "title").text = subject(notice)
        SubElement(entry, "updated").text = notice.issued_at.isoformat()
        SubElement(entry, "published").text = notice.issued_at.isoformat()
        SubElement(entry, "link", rel="alternate", href=f"{base}/v1/notices/{notice.notice_id}")
        SubElement(entry, "category", term=notice.notice_type)
        for service in notice.affected_services:
            SubElement(entry, "category", term=service, scheme="urn:meterhub:service")
        SubElement(entry, "category", term=thread.code, scheme="urn:meterhub:thread")
        SubElement(entry, "summary").text = notice.short_description
        SubElement(entry, "content", type="text").text = render_text(notice)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + bytes(tostring(feed, encoding="utf-8"))
