"""The exit handler reads `{{workflow.failures}}` as Argo substitutes it (issue 26, class 4).

Argo marshals the failed nodes to JSON (Go's encoding/json) and quotes that text with Go's strconv.Quote before
substituting it, so `cxops workflows outcome --failures` receives a JSON document inside a Go string literal. The
two literals below were produced by that Go code (json.Marshal + strconv.Quote, Go 1.26) from the node lists
shown; the property tests use `argo_substitution`, a stand-in restating the same two Go functions (Argo's
controller cannot run here), checked against those literals.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from cxops.workflows.outcome import argo_failures, gate_outcome, go_unquote
from tests.helpers import REPO

INCONCLUSIVE_NODES = [
    {
        "displayName": "analyze-canary",
        "message": "Error (exit code 4)",
        "templateName": "analyze-canary",
        "phase": "Failed",
        "podName": "promote-model-x-analyze-canary-123",
    },
    {
        "displayName": "promote-model-x",
        "message": "child 'promote-model-x-1' failed",
        "templateName": "promote-model",
        "phase": "Failed",
        "podName": "promote-model-x",
    },
]
INCONCLUSIVE_ARG = (
    r'"[{\"displayName\":\"analyze-canary\",\"message\":\"Error (exit code 4)\",\"templateName\":\"analyze-canary\",'
    r"\"phase\":\"Failed\",\"podName\":\"promote-model-x-analyze-canary-123\"},{\"displayName\":\"promote-model-x\","
    r"\"message\":\"child "
    "'promote-model-x-1'"
    r' failed\",\"templateName\":\"promote-model\",\"phase\":\"Failed\",\"podName\":\"promote-model-x\"}]"'
)
FAILED_NODES = [
    {
        "displayName": "evaluate",
        "message": 'Error (exit code 3): "accuracy" < 0.9 → fails',
        "templateName": "evaluate",
        "phase": "Failed",
        "podName": "p",
    }
]
FAILED_ARG = (
    r'"[{\"displayName\":\"evaluate\",\"message\":\"Error (exit code 3): \\\"accuracy\\\" \\u003c 0.9 → fails\",'
    r'\"templateName\":\"evaluate\",\"phase\":\"Failed\",\"podName\":\"p\"}]"'
)


def go_json(nodes: list[dict]) -> str:
    """Go's json.Marshal of the nodes: compact, UTF-8 kept, HTML characters and U+2028/9 escaped."""
    text = json.dumps(nodes, ensure_ascii=False, separators=(",", ":"))
    for ch in "<>&\u2028\u2029":
        text = text.replace(ch, f"\\u{ord(ch):04x}")
    return text


def go_quote(text: str) -> str:
    """Go's strconv.Quote: printable runes kept (Go's unicode.IsPrint is Python's isprintable), the rest escaped."""
    named = {"\a": r"\a", "\b": r"\b", "\f": r"\f", "\n": r"\n", "\r": r"\r", "\t": r"\t", "\v": r"\v"}
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in named:
            out.append(named[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


def argo_substitution(nodes: list[dict]) -> str:
    return go_quote(go_json(nodes))


def test_the_stand_in_matches_go():
    assert argo_substitution(INCONCLUSIVE_NODES) == INCONCLUSIVE_ARG
    assert argo_substitution(FAILED_NODES) == FAILED_ARG


def test_gate_outcomes_from_argos_substitution():
    assert argo_failures(INCONCLUSIVE_ARG) == INCONCLUSIVE_NODES
    assert gate_outcome("Failed", INCONCLUSIVE_ARG) == "inconclusive"
    assert gate_outcome("Failed", FAILED_ARG) == "failed"
    assert gate_outcome("Error", FAILED_ARG) == "failed"
    assert gate_outcome("Succeeded", "") == "passed"
    transient = argo_substitution([{**FAILED_NODES[0], "message": "Error (exit code 1)"}])
    assert gate_outcome("Failed", transient) == "error"
    assert gate_outcome("Failed", "") == "error"


def test_a_plain_json_list_and_a_mangled_value_still_name_the_gate():
    assert gate_outcome("Failed", json.dumps(FAILED_NODES)) == "failed"
    assert gate_outcome("Failed", FAILED_ARG[: len(FAILED_ARG) // 2 + 40]) == "failed"  # truncated by hand edits


def test_the_exit_handler_command_records_the_gate(tmp_path):
    """The exit handler's own command line, as the rendered template runs it."""
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "cxops", "workflows", "outcome", "--workflow", "promote-model-x"),
            *("--status", "Failed", "--duration", "61", "--failures", INCONCLUSIVE_ARG, "--outputs-dir", str(tmp_path)),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["gate_outcome"] == "inconclusive"
    assert json.loads((tmp_path / "outcome.json").read_text())["gate_outcome"] == "inconclusive"


# text a Go string can hold: any Unicode scalar value (no lone surrogates)
go_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
node = st.fixed_dictionaries(
    {
        "displayName": go_text,
        "message": go_text,
        "templateName": go_text,
        "phase": st.sampled_from(["Failed", "Error"]),
        "podName": go_text,
    }
)
gate_code = st.sampled_from([None, "1", "2", "3", "4", "70"])


@settings(max_examples=200, deadline=None)
@given(nodes=st.lists(node, max_size=4), codes=st.lists(gate_code, max_size=4))
def test_property_every_substitution_reads_back_and_decides(nodes, codes):
    for i, n in enumerate(nodes):
        while "exit code" in n["message"]:  # only the codes chosen below appear
            n["message"] = n["message"].replace("exit code", "")
        if i < len(codes) and codes[i] is not None:
            n["message"] += f" Error (exit code {codes[i]})"
    arg = argo_substitution(nodes)
    assert argo_failures(arg) == nodes
    used = {c for n, c in zip(nodes, codes, strict=False) if c is not None}
    want = "inconclusive" if "4" in used else "failed" if "3" in used else "error"
    assert gate_outcome("Failed", arg) == want


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=60))
def test_property_go_unquote_inverts_go_quote_and_never_crashes(text):
    clean = "".join(ch for ch in text if unicodedata.category(ch) != "Cs")
    assert go_unquote(go_quote(clean)) == clean
    assert gate_outcome("Failed", text) in ("failed", "inconclusive", "error")
    with contextlib.suppress(ValueError):  # a ValueError is the documented refusal; nothing else may escape
        argo_failures(text)
