"""The floor (bench-only): the smallest ASGI app that answers every request with a fixed JSON body, served by the same
uvicorn settings as the model server (httptools, uvloop, one process, access log and proxy headers off), and like it
with the header block sent in the body's write (cxops.serving.transport). No ASGI app on this stack can be faster
per request, so `make bench` reports ours as a share of it (ours answers sized scoring requests without an ASGI
cycle, cxops.serving.direct, so it is measured against this floor, not bounded by it).

Run as `python -m bench.floor PORT`."""

from __future__ import annotations

import sys
from typing import Any

from cxops.serving.transport import HOLD, HoldingHttpTools

BODY = b'{"predictions":[0],"confidence":[1.0],"version":"0"}'
HEADERS = [(b"content-type", b"application/json"), (b"content-length", str(len(BODY)).encode())]


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Read the request body to its end (as any real server must), then answer BODY with 200."""
    if scope["type"] != "http":  # lifespan: nothing to set up
        return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    token = HOLD.set(True)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    finally:
        HOLD.reset(token)
    await send({"type": "http.response.body", "body": BODY})


if __name__ == "__main__":
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=int(sys.argv[1]),
        access_log=False,
        log_level="warning",
        http=HoldingHttpTools,
        loop="uvloop",
        lifespan="off",
        proxy_headers=False,  # as the model server: no middleware around the app
    )
