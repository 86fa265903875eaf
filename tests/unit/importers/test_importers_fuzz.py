"""Arbitrary input never crashes the importer and never yields a partial result."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from etrs.importers import ImportResult, import_bytes
from etrs.importers.fhir_xml import parse_xml
from etrs.importers.synthetic import bundle, to_xml

CONTENT_TYPES = ["application/fhir+json", "application/fhir+xml", "text/csv"]
DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "mp9"
SCRIPT1 = DATA / "mgsets-mp-smg-kwal-TA-script1-v30.xml"
BASE = bundle(2, items_per_client=2)
FAST = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _structured(result: ImportResult) -> None:
    # "exception" is the safety net in import_bytes: reaching it is a bug
    assert all(i.code != "exception" for i in result.issues), result.issues
    assert result.ok or result.drafts == ()
    if not result.ok:
        assert result.errors
        assert all(i.message_nl and i.message_en for i in result.errors)


@FAST
@given(st.binary(max_size=2000), st.sampled_from(CONTENT_TYPES))
def test_arbitrary_bytes_get_a_structured_answer(data: bytes, content_type: str) -> None:
    _structured(import_bytes(data, content_type))


@FAST
@given(st.text(max_size=500), st.sampled_from(CONTENT_TYPES))
def test_arbitrary_text_gets_a_structured_answer(text: str, content_type: str) -> None:
    _structured(import_bytes(text.encode(), content_type))


@FAST
@given(st.data())
def test_corrupted_nictiz_bundle_gets_a_structured_answer(data: st.DataObject) -> None:
    raw = bytearray(SCRIPT1.read_bytes() if SCRIPT1.exists() else to_xml(BASE).encode())
    for _ in range(data.draw(st.integers(1, 5))):
        pos = data.draw(st.integers(0, len(raw) - 1))
        raw[pos] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(len(raw) // 2, len(raw)))
    _structured(import_bytes(bytes(raw[:cut]), "application/fhir+xml"))


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(node, dict):
        for k, v in node.items():
            out.extend(_paths(v, (*prefix, k)))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            out.extend(_paths(v, (*prefix, i)))
    return out


def _nictiz(name: str) -> dict[str, Any]:
    path = DATA / name
    if not path.exists():
        return BASE
    doc: dict[str, Any] = json.loads(json.dumps(parse_xml(path.read_bytes()), default=str))
    return doc


DOCS = [
    BASE,
    _nictiz("mgsets-mp-smg-kwal-TA-script1-v30.xml"),
    _nictiz("mgsets-mp-smg-kwal-TA-script4-v30.xml"),
]
PATHS = [(n, p) for n, doc in enumerate(DOCS) for p in _paths(doc)]


@FAST
@given(st.sampled_from(PATHS), _json_values, st.booleans())
def test_any_element_replaced_by_junk_gets_a_structured_answer(
    where: tuple[int, tuple[Any, ...]], junk: Any, as_xml: bool
) -> None:
    n, path = where
    doc = copy.deepcopy(DOCS[n])
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = junk
    if as_xml:
        try:
            data = to_xml(doc).encode()
        except (KeyError, TypeError, AttributeError):
            return  # the test serializer cannot express this junk as XML
        _structured(import_bytes(data, "application/fhir+xml"))
    else:
        _structured(import_bytes(json.dumps(doc).encode(), "application/fhir+json"))
