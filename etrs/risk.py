"""High-risk medication classes and the double-check rule (pure).

Default classes follow the issue and the Dutch "Veilige principes in de medicatieketen":
a loose (not in the GDS roll) high-risk item needs a double check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# class -> ATC prefixes; the longest matching prefix wins (methotrexate L01BA01 before L01).
DEFAULT_ATC_CLASSES: dict[str, tuple[str, ...]] = {
    "insulin": ("A10A",),
    "coumarin": ("B01AA",),
    "opioid": ("N02A",),
    "methotrexate": ("L01BA01", "L04AX03"),
    "oncolytic": ("L01",),
    "lithium": ("N05AN01",),
    "digoxin": ("C01AA05",),
}
NOT_HIGH_RISK = "none"  # product-table value: classified, not high-risk


@dataclass(frozen=True)
class RiskPolicy:
    """The organisation's double-check policy (adjustable with its pharmacist)."""

    atc_classes: dict[str, tuple[str, ...]] = field(
        default_factory=lambda: dict(DEFAULT_ATC_CLASSES)
    )
    # Safe default: a loose item nobody classified needs a double check until classified.
    unclassified_loose_needs_check: bool = True
    high_risk_in_gds_needs_check: bool = False


@dataclass(frozen=True)
class Classification:
    """What is known about an item's risk, and from where."""

    status: Literal["high_risk", "not_high_risk", "unclassified"]
    risk_class: str | None
    sources: tuple[str, ...]


def atc_class(atc: str | None, policy: RiskPolicy) -> str | None:
    """The high-risk class of an ATC code, if any."""
    if not atc:
        return None
    code = atc.strip().upper()
    best: tuple[int, str] | None = None
    for name, prefixes in policy.atc_classes.items():
        for prefix in prefixes:
            if code.startswith(prefix) and (best is None or len(prefix) > best[0]):
                best = (len(prefix), name)
    return best[1] if best else None


def classify(
    *,
    atc: str | None,
    pharmacy_flag: bool | None,
    table_class: str | None,
    policy: RiskPolicy,
) -> Classification:
    """Combine ATC, pharmacy flag and product table; any source saying high-risk wins."""
    high: list[str] = []
    known_safe: list[str] = []
    risk_class: str | None = None
    by_atc = atc_class(atc, policy)
    if by_atc is not None:
        high.append("atc")
        risk_class = by_atc
    elif atc:
        known_safe.append("atc")
    if table_class is not None:
        if table_class == NOT_HIGH_RISK:
            known_safe.append("product_table")
        else:
            high.append("product_table")
            risk_class = risk_class or table_class
    if pharmacy_flag is True:
        high.append("pharmacy")
        risk_class = risk_class or "pharmacy_flag"
    elif pharmacy_flag is False:
        known_safe.append("pharmacy")
    if high:
        return Classification("high_risk", risk_class, tuple(high))
    if known_safe:
        return Classification("not_high_risk", None, tuple(known_safe))
    return Classification("unclassified", None, ())


def needs_double_check(classification: Classification, *, in_gds: bool, policy: RiskPolicy) -> bool:
    """True when an administration of this item needs a second, different person."""
    if classification.status == "high_risk":
        return policy.high_risk_in_gds_needs_check or not in_gds
    if classification.status == "unclassified":
        return policy.unclassified_loose_needs_check and not in_gds
    return False
