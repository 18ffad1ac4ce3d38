"""``python -m meterhub_headend_sim --port N --callback-url URL --mode ack|reject|fail|silent``."""

from __future__ import annotations

import logging

import uvicorn

from meterhub_headend_sim.app import create_app
from meterhub_headend_sim.config import parse_args


def main(argv: list[str] | None = None) -> None:
    config = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per report is noise
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        ssl_certfile=config.certfile,
        ssl_keyfile=config.keyfile,
        log_level="warning",
        access_log=False,
    )


if __name__ == "__main__":
    main()
