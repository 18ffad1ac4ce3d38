"""A local SMTP sink that keeps every mail as an .eml file (``python -m ...smtp_sink``).

It offers STARTTLS with the development certificate, like a real relay would, so the
notifier's STARTTLS path is exercised locally.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import ssl
import time
import uuid
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


class MaildirHandler:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}.eml"
        header = (
            f"X-Sink-From: {envelope.mail_from}\r\nX-Sink-To: {', '.join(envelope.rcpt_tos)}\r\n"
        ).encode()
        content = envelope.original_content or b""
        (self.folder / name).write_bytes(header + content)
        return "250 Message accepted for delivery"


def start_sink(
    folder: Path, host: str, port: int, tls_context: ssl.SSLContext | None = None
) -> Controller:
    controller = Controller(
        MaildirHandler(folder),
        hostname=host,
        port=port,
        tls_context=tls_context,
        require_starttls=False,
    )
    controller.start()
    return controller


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8025)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args()
    context = None
    if args.cert and args.key:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(args.cert, args.key)
    controller = start_sink(args.dir, args.host, args.port, context)
    stop = asyncio.Event()

    async def wait() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()

    try:
        asyncio.run(wait())
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
