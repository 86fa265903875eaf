"""High-risk classification, the double-check rule and the BSN elfproef."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from etrs.bsn import is_valid_bsn
from etrs.risk import RiskPolicy, atc_class, classify, needs_double_check

POLICY = RiskPolicy()


@pytest.mark.parametrize(
    ("atc", "expected"),
    [
        ("A10AE04", "insulin"),
        ("B01AA07", "coumarin"),
        ("N02AA01", "opioid"),
        ("L01BA01", "methotrexate"),
        ("L04AX03", "methotrexate"),
        ("L01XE01", "oncolytic"),
        ("N05AN01", "lithium"),
        ("C01AA05", "digoxin"),
        ("C07AB02", None),
        ("A10BA02", None),
        (None, None),
    ],
)
def test_atc_classes(atc: str | None, expected: str | None) -> None:
    assert atc_class(atc, POLICY) == expected


def test_loose_high_risk_needs_check_but_gds_does_not() -> None:
    c = classify(atc="B01AA04", pharmacy_flag=None, table_class=None, policy=POLICY)
    assert c.status == "high_risk"
    assert c.risk_class == "coumarin"
    assert needs_double_check(c, in_gds=False, policy=POLICY)
    assert not needs_double_check(c, in_gds=True, policy=POLICY)


def test_unclassified_loose_needs_check_by_default_and_policy_can_relax() -> None:
    c = classify(atc=None, pharmacy_flag=None, table_class=None, policy=POLICY)
    assert c.status == "unclassified"
    assert needs_double_check(c, in_gds=False, policy=POLICY)
    relaxed = RiskPolicy(unclassified_loose_needs_check=False)
    assert not needs_double_check(c, in_gds=False, policy=relaxed)


def test_any_source_saying_high_risk_wins() -> None:
    by_table = classify(atc="C07AB02", pharmacy_flag=False, table_class="opioid", policy=POLICY)
    assert by_table.status == "high_risk"
    assert by_table.risk_class == "opioid"
    by_flag = classify(atc=None, pharmacy_flag=True, table_class="none", policy=POLICY)
    assert by_flag.status == "high_risk"
    safe = classify(atc=None, pharmacy_flag=None, table_class="none", policy=POLICY)
    assert safe.status == "not_high_risk"


def _elfproef_sum(digits: str) -> int:
    return sum(int(d) * w for d, w in zip(digits, [9, 8, 7, 6, 5, 4, 3, 2, -1], strict=True))


@given(st.text(alphabet="0123456789", min_size=9, max_size=9))
def test_bsn_valid_iff_weighted_sum_is_a_positive_multiple_of_11(bsn: str) -> None:
    total = _elfproef_sum(bsn)
    assert is_valid_bsn(bsn) == (total % 11 == 0 and total > 0)


@given(st.text(max_size=12))
def test_bsn_check_never_crashes_and_needs_nine_ascii_digits(value: str) -> None:
    if is_valid_bsn(value):
        assert len(value) == 9
        assert value.isascii()
        assert value.isdigit()


def test_known_synthetic_bsns() -> None:
    assert is_valid_bsn("111222333")
    assert not is_valid_bsn("111222334")
    assert not is_valid_bsn("000000000")
