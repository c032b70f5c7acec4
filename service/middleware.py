"""ASGI middleware: the request body limit, enforced while the body is read, before any parsing.

Starlette's own limiter answers 413 in plain text, and an exception raised from ``receive`` while FastAPI
reads the body turns into a 400. So this middleware reads the body itself, counting bytes as they arrive,
answers 413 in Heartfelt's one error shape at the first byte over the limit, and otherwise hands the
application the body it has already read. The body is never parsed, logged or kept here.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

PAYLOAD_TOO_LARGE = "payload_too_large"


class BodyLimitMiddleware:
    """413 when Content-Length, or the bytes actually received (chunked bodies too), exceed ``max_bytes``."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length", b"")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._reject(send)
            return

        chunks: list[bytes] = []
        received = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # http.disconnect: nobody is left to answer
                return
            chunk = message.get("body", b"")
            received += len(chunk)
            if received > self.max_bytes:  # stop reading at the first byte over the limit
                await self._reject(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break

        body: list[Message] = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replay() -> Message:
            # The body once, already complete; afterwards the server's own messages (http.disconnect).
            return body.pop() if body else await receive()

        await self.app(scope, replay, send)

    async def _reject(self, send: Send) -> None:
        message = f"the request body is larger than {self.max_bytes} bytes"
        body = json.dumps({"error": {"type": PAYLOAD_TOO_LARGE, "message": message}}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"cache-control", b"no-store"),
        ]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})
