"""Each of uvicorn's internals the direct path touches (cxops.serving.direct, whose docstring lists them and where
they come from) still exists with the shape it uses. A uvicorn upgrade that renames or reshapes one fails here, by
name, instead of as misleading answers at run time (issue 27).

uvicorn's real httptools protocol parses a real request here; the transport records writes instead of sending them.
"""

from __future__ import annotations

import asyncio
import inspect
import logging

import httptools
import pytest
import uvicorn
from helpers import RecordingTransport
from uvicorn.protocols.http import httptools_impl
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle
from uvicorn.server import ServerState

from cxops.serving.direct import VERIFIED_UVICORN

# HttpToolsProtocol methods the direct path overrides or calls, with the parameters it passes (after self)
METHODS = {
    "__init__": ["config", "server_state", "app_state", "_loop"],
    "connection_made": ["transport"],
    "on_message_begin": [],
    "on_headers_complete": [],
    "on_body": ["body"],
    "on_message_complete": [],
    "on_response_complete": [],
    "_unset_keepalive_if_required": [],
    "shutdown": [],
}
PARSER_METHODS = ["get_method", "get_http_version", "should_keep_alive", "should_upgrade"]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_the_protocol_methods_it_overrides_or_calls_keep_their_parameters(name: str):
    method = getattr(HttpToolsProtocol, name, None)
    assert callable(method), f"uvicorn's HttpToolsProtocol has no {name} any more"
    params = list(inspect.signature(method).parameters)[1:]
    assert params == METHODS[name], f"HttpToolsProtocol.{name} now takes {params}"


def test_status_lines_are_a_table_of_complete_lines_by_code():
    table = httptools_impl.STATUS_LINE
    assert set(table) >= {200, 400, 404, 413, 415, 422, 500, 503}
    assert table[200] == b"HTTP/1.1 200 OK\r\n" and table[500].startswith(b"HTTP/1.1 500 ")


def test_the_parser_still_answers_what_the_direct_path_asks():
    parser = httptools.HttpRequestParser(object())
    for name in PARSER_METHODS:
        assert callable(getattr(parser, name, None)), f"httptools' parser has no {name}"
    assert callable(httptools.parse_url)


def test_a_protocol_with_a_request_in_its_cycle_has_the_attributes_read():
    """The per-connection and per-request state the direct path reads, on a protocol with a request in progress."""

    async def app(scope, receive, send) -> None:
        while (await receive()).get("more_body"):  # in its cycle until the body ends: the state is read meanwhile
            pass
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    config = uvicorn.Config(app=app, lifespan="off", access_log=False, proxy_headers=False, root_path="")
    config.load()
    state = ServerState()
    state.default_headers = [(b"server", b"uvicorn")]

    async def main() -> None:
        p = HttpToolsProtocol(config=config, server_state=state, app_state={})
        p.connection_made(RecordingTransport())  # type: ignore[arg-type]
        p.data_received(b"POST /x HTTP/1.1\r\nhost: t\r\ntransfer-encoding: chunked\r\n\r\n")
        assert p.app is app and isinstance(p.parser, httptools.HttpRequestParser)
        assert p.url == b"/x" and (b"host", b"t") in p.headers
        assert p.expect_100_continue is False and p.limit_concurrency is None and p.root_path == ""
        assert isinstance(p.flow, FlowControl) and p.flow.write_paused is False
        assert isinstance(p.cycle, RequestResponseCycle) and p.cycle.response_complete is False
        assert isinstance(p.logger, logging.Logger) and p.logger.name == "uvicorn.error"
        assert p.server_state.default_headers == [(b"server", b"uvicorn")]
        assert hasattr(p, "timeout_keep_alive_task") and hasattr(p, "transport")
        p.data_received(b"0\r\n\r\n")  # the body ends: the app answers and the cycle completes
        await asyncio.wait_for(asyncio.gather(*state.tasks), timeout=10)
        assert p.cycle.response_complete is True

    asyncio.run(main())


def test_the_installed_uvicorn_is_one_the_direct_path_was_verified_on():
    """The lock pins uvicorn (requirements.lock); bumping it means verifying the direct path again and adding the
    version to VERIFIED_UVICORN, else the server quietly runs without it."""
    assert uvicorn.__version__ in VERIFIED_UVICORN
