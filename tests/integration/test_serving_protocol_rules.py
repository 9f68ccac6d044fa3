"""The model server refuses Open Inference Protocol v2 data that does not match its declared shape or datatype,
and aligns MLflow `dataframe_records` by column name (issue 26, classes 5 and 6).

A real build served by a real `python -m cxops.serving` process. Every body goes over a real socket twice: with a
Content-Length (answered by the direct path, cxops.serving.direct) and chunked (answered through uvicorn's ASGI
cycle); both must give the same answer. The parsers' properties on their own: tests/unit/test_protocol_properties.py.
"""

from __future__ import annotations

import json
import math
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from helpers import model_server

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[str]:
    with model_server(built, "--max-batch", "50") as (url, _):
        yield url


def post_both_ways(url: str, path: str, doc: dict) -> tuple[int, dict]:
    """POST `doc` sized and chunked on fresh connections; assert both answers are the same; return it."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(doc).encode()
    answers = []
    for chunked in (False, True):
        head = [f"POST {path} HTTP/1.1".encode(), b"host: test", b"content-type: application/json"]
        if chunked:
            head.append(b"transfer-encoding: chunked")
            payload = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
        else:
            head.append(b"content-length: %d" % len(body))
            payload = body
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"\r\n".join([*head, b"connection: close"]) + b"\r\n\r\n" + payload)
            data = b""
            while chunk := sock.recv(65536):
                data += chunk
        status_line, _, rest = data.partition(b"\r\n")
        answers.append((int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])))
    assert answers[0] == answers[1], answers
    return answers[0]


def nested(flat: list, shape: list[int]) -> list:
    if len(shape) == 1:
        return list(flat)
    step = math.prod(shape[1:])
    return [nested(flat[i * step : (i + 1) * step], shape[1:]) for i in range(shape[0])]


@pytest.fixture(scope="module")
def tensor(server: str, built: Path, cfg) -> dict:
    """The model's v2 input (name, datatype, row shape) and two golden rows, flat."""
    meta = httpx.get(f"{server}/v2/models/{cfg.model.name}").json()
    (inp,) = meta["inputs"]
    golden = json.loads((built / "golden.json").read_text())
    flat = [float(v) for r in golden["inputs"][:2] for v in _leaves(r)]
    return {"name": inp["name"], "row": inp["shape"][1:], "flat": flat, "infer": f"/v2/models/{meta['name']}/infer"}


def _leaves(x):
    if isinstance(x, list):
        for v in x:
            yield from _leaves(v)
    else:
        yield x


def _bodies(t: dict) -> dict[str, tuple[dict, str]]:
    """Bad v2 bodies → (body, what the refusal must say)."""
    shape = [2, *t["row"]]
    n_row = math.prod(t["row"])
    rows_2d = [2, n_row]
    one = {"name": t["name"], "datatype": "FP32"}

    def body(shape_: list[int], data: list, **extra) -> dict:
        return {"inputs": [{**one, "shape": shape_, "data": data, **extra}]}

    ragged = nested(t["flat"], shape)
    inner = ragged
    while isinstance(inner[0][0], list):
        inner = inner[0]
    inner[-1] = inner[-1][:-1]
    return {
        "ragged": (body(shape, ragged), "elements where dimension"),
        "transposed": (body(rows_2d, nested(t["flat"], [n_row, 2])), "nested data must follow shape"),
        "3-D declared 2-D": (body(rows_2d, nested(t["flat"], [2, n_row // 2, 2])), "nested data must follow shape"),
        "INT64 with a fraction": (
            body(shape, [*t["flat"][:-1], 2.5], datatype="INT64"),
            "datatype INT64 takes integers",
        ),
        "UINT8 above 255": (body(shape, [*t["flat"][:-1], 256], datatype="UINT8"), "outside datatype UINT8's range"),
        "UINT8 below 0": (body(shape, [-1, *t["flat"][1:]], datatype="UINT8"), "outside datatype UINT8's range"),
    }


@pytest.mark.parametrize(
    "case", ["ragged", "transposed", "3-D declared 2-D", "INT64 with a fraction", "UINT8 above 255", "UINT8 below 0"]
)
def test_v2_data_unlike_its_shape_or_datatype_is_400_naming_the_input_and_rule(server: str, tensor: dict, case: str):
    doc, rule = _bodies(tensor)[case]
    status, answer = post_both_ways(server, tensor["infer"], doc)
    assert status == 400, (case, answer)
    assert answer["error"].startswith("inputs[0].data") and rule in answer["error"], (case, answer)


def test_v2_flat_nested_and_integer_data_still_score(server: str, tensor: dict):
    shape = [2, *tensor["row"]]
    answers = []
    for data, datatype in (
        (tensor["flat"], "FP32"),
        (nested(tensor["flat"], shape), "FP32"),
        ([int(v) for v in tensor["flat"]], "UINT8"),  # the digits' pixels are whole numbers 0..16
    ):
        doc = {"inputs": [{"name": tensor["name"], "shape": shape, "datatype": datatype, "data": data}]}
        status, answer = post_both_ways(server, tensor["infer"], doc)
        assert status == 200, answer
        answers.append(next(o["data"] for o in answer["outputs"] if o["name"] == "predictions"))
    assert answers[0] == answers[1] == answers[2]


def test_dataframe_records_are_aligned_by_column_name(server: str, tensor: dict):
    cols = [f"c{i}" for i in range(math.prod(tensor["row"]))]
    n = len(cols)
    rows = [tensor["flat"][:n], tensor["flat"][n:]]
    ordered = [dict(zip(cols, r, strict=True)) for r in rows]
    shuffled = [ordered[0], dict(reversed(list(ordered[1].items())))]  # same columns, the second in reverse
    a = post_both_ways(server, "/invocations", {"dataframe_records": ordered})
    b = post_both_ways(server, "/invocations", {"dataframe_records": shuffled})
    assert a[0] == b[0] == 200 and a == b
    missing = [ordered[0], {k: v for k, v in ordered[1].items() if k != "c7"} | {"pixel_x": 1.0}]
    status, answer = post_both_ways(server, "/invocations", {"dataframe_records": missing})
    assert status == 400, answer
    detail = json.dumps(answer)
    assert "dataframe_records[1]" in detail and "missing column 'c7'" in detail and "'pixel_x'" in detail, answer
