"""The fast canonical encoder produces exactly RFC 8785 bytes (or defers to the rfc8785 package)."""

from __future__ import annotations

from typing import Any

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from persona_mcp.audit.record import canonical_bytes

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
_json: st.SearchStrategy[Any] = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.text(max_size=8), _json, max_size=6))
def test_canonical_bytes_equal_rfc8785_for_any_json_object(value: dict[str, Any]) -> None:
    try:
        expected = rfc8785.dumps(value)
    except Exception:
        return  # values JCS itself refuses (lone surrogates): nothing to compare
    assert canonical_bytes(value) == expected


def test_small_floats_that_python_writes_in_exponent_form_are_canonicalised_like_ecmascript() -> None:
    for value in (6.103515625e-05, 1.5e-05, 0.0001, 123.456):
        fields = {"": value}
        assert canonical_bytes(fields) == rfc8785.dumps(fields), value
