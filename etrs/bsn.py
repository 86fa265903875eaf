"""BSN (burgerservicenummer) check: nine digits passing the elfproef."""

from __future__ import annotations


def is_valid_bsn(bsn: str) -> bool:
    """True for a nine-digit string whose weighted sum (9..2, -1) is a positive multiple of 11."""
    if len(bsn) != 9 or not bsn.isascii() or not bsn.isdigit():
        return False
    digits = [int(c) for c in bsn]
    total = sum(d * w for d, w in zip(digits[:8], range(9, 1, -1), strict=True)) - digits[8]
    return total % 11 == 0 and total > 0
