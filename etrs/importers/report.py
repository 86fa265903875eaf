"""Import outcome: drafts or a structured list of issues, with FHIR and plain-text renderings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from etrs.drafts import ClientListDraft

Severity = Literal["error", "warning"]
# FHIR R4 IssueType codes (http://hl7.org/fhir/issue-type) we use
IssueCode = Literal[
    "structure",
    "invalid",
    "required",
    "value",
    "not-supported",
    "business-rule",
    "too-costly",
    "security",
    "informational",
    "exception",
]
Format = Literal["fhir+json", "fhir+xml", "csv"]


@dataclass(frozen=True)
class Issue:
    """One finding, located by bundle entry + FHIRPath expression, or CSV row + column."""

    severity: Severity
    code: IssueCode
    message_nl: str
    message_en: str
    entry: int | None = None  # 0-based Bundle.entry index
    full_url: str | None = None
    expression: str | None = (
        None  # FHIRPath-like, e.g. Bundle.entry[3].resource.dosageInstruction[0]
    )
    row: int | None = None  # 1-based physical CSV record number, header = 1
    column: str | None = None

    def where(self, lang: Literal["nl", "en"] = "nl") -> str:
        """Location for people, in Dutch or English."""
        nl = lang == "nl"
        parts: list[str] = []
        if self.row is not None:
            parts.append(f"{'rij' if nl else 'row'} {self.row}")
        if self.column:
            parts.append(f"{'kolom' if nl else 'column'} '{self.column}'")
        if self.entry is not None:
            parts.append(f"entry {self.entry}" + (f" ({self.full_url})" if self.full_url else ""))
        if self.expression:
            parts.append(f"element {self.expression}")
        return ", ".join(parts)


@dataclass(frozen=True)
class ImportResult:
    """Either drafts (no errors) or errors; never both, so nothing is ever half-imported."""

    format: Format
    drafts: tuple[ClientListDraft, ...] = ()
    issues: tuple[Issue, ...] = ()
    stats: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True when there are no errors (warnings allowed)."""
        return not any(i.severity == "error" for i in self.issues)

    @property
    def errors(self) -> tuple[Issue, ...]:
        """Only the errors."""
        return tuple(i for i in self.issues if i.severity == "error")

    @property
    def item_count(self) -> int:
        """Number of list items over all clients."""
        return sum(len(d.items) for d in self.drafts)


def rejected(fmt: Format, issues: list[Issue], stats: dict[str, int] | None = None) -> ImportResult:
    """A result that imports nothing."""
    return ImportResult(format=fmt, drafts=(), issues=tuple(issues), stats=stats or {})


def report_lines(result: ImportResult, *, lang: Literal["nl", "en"] = "nl") -> list[str]:
    """Human-readable report, one line per issue (Dutch by default, for pharmacy staff)."""
    lines: list[str] = []
    for issue in result.issues:
        if lang == "nl":
            label = "FOUT" if issue.severity == "error" else "waarschuwing"
            where, msg = issue.where("nl"), issue.message_nl
        else:
            label = "ERROR" if issue.severity == "error" else "warning"
            where, msg = issue.where("en"), issue.message_en
        lines.append(f"{label}: {where + ': ' if where else ''}{msg}")
    return lines


def operation_outcome(result: ImportResult) -> dict[str, Any]:
    """FHIR R4 OperationOutcome (JSON form, validated with fhir.resources R4B) for the result."""
    from fhir.resources.R4B.operationoutcome import OperationOutcome

    issues: list[dict[str, Any]] = []
    for i in result.issues:
        issue: dict[str, Any] = {
            "severity": i.severity,
            "code": i.code,
            # details.text is what a receiving system shows; Dutch, as the sender is Dutch
            "details": {"text": i.message_nl},
            "diagnostics": i.message_en,
        }
        expr = i.expression
        if expr is None and i.row is not None:
            # CSV uploads answered as FHIR still say where: row/column as a pseudo-path
            expr = f"row[{i.row}]" + (f".{i.column}" if i.column else "")
        if expr:
            issue["expression"] = [expr]
        if i.full_url:
            issue["details"]["text"] = f"{i.message_nl} (entry {i.entry}: {i.full_url})"
        issues.append(issue)
    if not issues:
        issues.append(
            {
                "severity": "information",
                "code": "informational",
                "details": {
                    "text": f"Geaccepteerd: {len(result.drafts)} cliënt(en), "
                    f"{result.item_count} regel(s)."
                },
                "diagnostics": f"Accepted: {len(result.drafts)} client(s), "
                f"{result.item_count} item(s).",
            }
        )
    oo = OperationOutcome.model_validate({"resourceType": "OperationOutcome", "issue": issues})
    dumped: dict[str, Any] = oo.model_dump(mode="json", exclude_none=True)
    return dumped
