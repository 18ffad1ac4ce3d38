"""The FTPS server's path to the database.

pyftpdlib is blocking and runs one thread per connection, while everything else here is
asyncio with asyncpg (psycopg is not installed). The bridge runs its own event loop in a
dedicated thread with a small asyncpg pool; connection threads submit coroutines to it and
wait for the result. Chosen over a credential cache refreshed from the app's loop because
lockout counters and the retrieval log must be written through at once (several replicas
share them), and a rotated password or a new allow-list takes effect at the next login.
The FastAPI loop is not used, so a busy publisher never delays a login.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

T = TypeVar("T")


class DbBridge:
    def __init__(self, dsn: str, *, max_size: int = 4, timeout: float = 10.0) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self.timeout = timeout
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pool: asyncpg.Pool | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="ftps-db-bridge", daemon=True)
        self._thread.start()
        self._ready.wait(30)
        if self._error is not None:
            raise RuntimeError(f"the FTPS database bridge did not start: {self._error}")

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            # min_size=0: start even while the database is away; logins fail until it is back.
            self._pool = loop.run_until_complete(
                asyncpg.create_pool(self._dsn, min_size=0, max_size=self._max_size)
            )
        except BaseException as exc:  # reported to start() in the caller's thread
            self._error = exc
            self._ready.set()
            loop.close()
            return
        self._ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._pool.close())
            loop.close()

    def call(self, fn: Callable[[asyncpg.Pool], Awaitable[T]]) -> T:
        """Run ``fn(pool)`` on the bridge loop; blocks the calling (connection) thread."""
        if self._loop is None or self._pool is None:
            raise RuntimeError("the FTPS database bridge is not running")
        pool = self._pool

        async def run() -> T:
            return await fn(pool)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        return future.result(self.timeout)

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(15)
        self._loop = None
        self._pool = None
