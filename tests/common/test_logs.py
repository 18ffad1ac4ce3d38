"""configure_logging: uvicorn's records go through our JSON handler, and its access log stays
off when uvicorn was told so."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from meterhub_common.logs import configure_logging


@pytest.fixture
def access() -> Iterator[logging.Logger]:
    logger = logging.getLogger("uvicorn.access")
    root = logging.getLogger()
    saved = (logger.handlers, logger.propagate, root.handlers, root.level)
    yield logger
    logger.handlers, logger.propagate, root.handlers = saved[0], saved[1], saved[2]
    root.setLevel(saved[3])


def test_an_enabled_access_log_goes_through_the_json_handler(access: logging.Logger) -> None:
    access.handlers, access.propagate = [logging.StreamHandler()], False  # as uvicorn sets it
    configure_logging("test")
    assert access.handlers == [] and access.propagate


def test_a_disabled_access_log_stays_off(access: logging.Logger) -> None:
    access.handlers, access.propagate = [], False  # uvicorn --no-access-log
    configure_logging("test")
    assert not access.propagate
