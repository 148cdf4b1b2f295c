"""Retrying Bot API calls that certainly did not take effect.

:class:`RetryingRequest` wraps the ``BaseRequest`` that sends every Bot API call (not the
long poll, which PTB's updater retries itself). A call is tried again, after
:data:`BACKOFF` seconds (doubling), at most :data:`ATTEMPTS` times in all, when

* Telegram answered with a server error (HTTP 500, 502, 503 or 504): it reports that the
  call failed, so it had no effect; or
* the connection could not be made (``httpx.ConnectError``, ``ConnectTimeout``, or no free
  connection in the pool): nothing was sent.

Anything else is not retried, so that nothing is ever sent twice: a time-out while
waiting for the answer, or a connection dropped mid-answer, may come after Telegram has
already delivered the message. Those errors reach the error handler
(:mod:`bot.handlers.errors`), which tells the person in their language that something went
wrong. 429 (flood wait) is the rate limiter's business (``AIORateLimiter`` waits
``retry_after``), 400 and 403 are permanent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from telegram.error import NetworkError
from telegram.request import BaseRequest, RequestData

log = logging.getLogger(__name__)

#: HTTP statuses that say the call failed at Telegram's end (no effect).
RETRY_STATUSES = frozenset({500, 502, 503, 504})
#: Tries in all (the first and the retries).
ATTEMPTS = 3
#: Seconds before the first retry; doubles each time.
BACKOFF = 0.5

_NEVER_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def never_sent(error: BaseException) -> bool:
    """True if *error* (from a ``BaseRequest``) means the request never left this machine."""
    cause = error.__cause__
    return isinstance(cause, _NEVER_SENT) or isinstance(error, _NEVER_SENT)


class RetryingRequest(BaseRequest):
    """A ``BaseRequest`` that sends through *inner* and retries what had no effect (see
    the module docstring). *sleep* waits that many seconds (tests pass a fast one)."""

    def __init__(
        self,
        inner: BaseRequest,
        attempts: int = ATTEMPTS,
        backoff: float = BACKOFF,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        self.inner = inner
        self.attempts = max(attempts, 1)
        self.backoff = backoff
        self._sleep = sleep

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def initialize(self) -> None:
        """Open the inner request."""
        await self.inner.initialize()

    async def shutdown(self) -> None:
        """Close the inner request."""
        await self.inner.shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Send; retry a server error or a connection never made (see the module
        docstring); return the last ``(status, body)`` or raise the last error."""
        api_method = url.rsplit("/", 1)[-1]
        delay = self.backoff
        for attempt in range(1, self.attempts + 1):
            last = attempt == self.attempts
            try:
                code, payload = await self.inner.do_request(  # by keyword, as PTB calls it
                    url=url,
                    method=method,
                    request_data=request_data,
                    read_timeout=read_timeout,
                    write_timeout=write_timeout,
                    connect_timeout=connect_timeout,
                    pool_timeout=pool_timeout,
                )
            except NetworkError as exc:  # TimedOut is one too
                if last or not never_sent(exc):
                    raise
                reason = type(exc.__cause__ or exc).__name__
            else:
                if last or code not in RETRY_STATUSES:
                    return code, payload
                reason = f"HTTP {code}"
            log.info("Bot API %s: %s; trying again in %.1f s (attempt %d of %d)",
                     api_method, reason, delay, attempt + 1, self.attempts)  # fmt: skip
            await self._sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover
