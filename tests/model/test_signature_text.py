"""Signature text within bounds (model/signature_text.py): hostile JSON and YAML are
refused early."""

from __future__ import annotations

import time

import pytest

from forwardpass.errors import SignatureError
from forwardpass.model import signature as sig
from forwardpass.model import signature_text


def laughs(levels: int) -> str:
    """'Billion laughs': each level an anchored list of nine aliases of the level below."""
    lines = ['l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for n in range(1, levels):
        lines.append(f"l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    # 9 levels: 9**9 (387 million) strings from 586 bytes; unbounded, 15 s and 3.3 GB.
    "laughs": (laughs(9), False, "YAML aliases"),
    "deep yaml flow": ("[" * 50_000 + "]" * 50_000, False, "not valid JSON or YAML"),
    "deep yaml block": ("".join("  " * i + "- \n" for i in range(100)), False, "deeper than 32"),
    "deep json": ("[" * 50_000 + "]" * 50_000, True, "deeper than 32"),
    "deep json in bounds of recursion": ('{"a":' * 100 + "1" + "}" * 100, True, "deeper than 32"),
    "large": ("x: " + "a" * signature_text.MAX_BYTES, False, "at most 262144"),
    "not utf-8": (b"inputs: \xff", False, "not UTF-8"),
}


@pytest.mark.parametrize("case", HOSTILE)
def test_hostile_text_is_refused_quickly_with_the_reason(case):
    text, json_only, reason = HOSTILE[case]
    started = time.perf_counter()
    with pytest.raises(SignatureError, match=reason) as refused:
        signature_text.load(text, json_only=json_only)
    assert time.perf_counter() - started < 1.0
    assert refused.value.status == 400


def test_aliases_within_bounds_and_json_in_yaml_still_read():
    text = 'shape: &s [2]\ninputs: [{"name": "x", "type": "numeric", "shape": *s}]\n'
    assert signature_text.load(text) == {
        "shape": [2],
        "inputs": [{"name": "x", "type": "numeric", "shape": [2]}],
    }
    given = sig.Signature.from_text(
        '{"inputs": [{"name": "x", "type": "numeric", "shape": [2]}],'
        ' "outputs": [{"name": "y", "type": "numeric"}]}',
        json_only=True,
    )
    assert [(f.name, f.shape) for f in given.inputs] == [("x", (2,))]
