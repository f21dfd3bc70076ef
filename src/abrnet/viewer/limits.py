"""The upload size limit, enforced before a request body is parsed: an oversized upload costs the server at most the
limit in memory and gets a 413 with a one-line message (`BodyLimit`)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException
from fastapi.responses import JSONResponse

MULTIPART_SLACK_BYTES = 64 * 1024  # form fields and boundaries around the file in a multipart body
DRAIN_BYTES = 256 * 1024 * 1024  # an oversized body up to this much over the limit is read (not kept) to answer 413


class BodyLimit:
    """ASGI middleware refusing request bodies over `limit` bytes with 413 before they are parsed or spooled.

    Checks the declared Content-Length first and then counts the bytes actually received (chunked uploads declare
    none), so an oversized upload never costs the server more than `limit` bytes of memory. The rest of the body is
    read and discarded (up to `DRAIN_BYTES`) before answering: a client that is still sending when the server
    closes the connection sees a reset instead of the 413 and its message. Beyond that the connection is dropped.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app, self.limit = app, limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("method") != "POST":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            if int(declared) <= self.limit + DRAIN_BYTES:
                await self._drain(receive, 0)
            await JSONResponse({"detail": self._message()}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> dict:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                if message.get("more_body", False):
                    await self._drain(receive, seen)
                raise HTTPException(413, self._message())
            return message

        await self.app(scope, counted, send)

    async def _drain(self, receive: Any, seen: int) -> None:
        """Read and drop the rest of the body (at most `limit + DRAIN_BYTES` in all)."""
        while seen <= self.limit + DRAIN_BYTES:
            message = await receive()
            seen += len(message.get("body", b""))
            if message["type"] != "http.request" or not message.get("more_body", False):
                return

    def _message(self) -> str:
        return f"upload too large: the limit is {(self.limit - MULTIPART_SLACK_BYTES) / 1e6:g} MB"
