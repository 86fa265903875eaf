"""`carehub import-list FILE --pharmacy ID`: validate a pharmacy list and store it atomically."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from etrs.importers import ImportResult, content_type_for, import_bytes
from etrs.importers.limits import Limits

console = Console(stderr=True)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def print_report(result: ImportResult, *, lang: str = "nl") -> None:
    """Issues as a table (Dutch by default), then a one-line verdict."""
    if result.issues:
        table = Table(title="Validatierapport" if lang == "nl" else "Validation report")
        table.add_column("ernst" if lang == "nl" else "severity")
        table.add_column("waar" if lang == "nl" else "where", overflow="fold")
        table.add_column("melding" if lang == "nl" else "message", overflow="fold")
        for i in result.issues:
            style = "red" if i.severity == "error" else "yellow"
            table.add_row(
                f"[{style}]{i.severity}[/{style}]",
                i.where("nl" if lang == "nl" else "en"),
                i.message_nl if lang == "nl" else i.message_en,
            )
        console.print(table)
    if result.ok:
        console.print(
            f"[green]geaccepteerd[/green]: {len(result.drafts)} cliënt(en), "
            f"{result.item_count} regel(s)"
        )
    else:
        console.print(f"[red]geweigerd[/red]: {len(result.errors)} fout(en); er is niets ingelezen")


def import_list(
    file: Annotated[
        Path,
        typer.Argument(
            exists=True, dir_okay=False, readable=True, help="FHIR Bundle (.xml/.json) or CSV file"
        ),
    ],
    pharmacy: Annotated[str, typer.Option("--pharmacy", help="Pharmacy id in carehub")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only parse and validate; store nothing")
    ] = False,
    content_type: Annotated[
        str | None,
        typer.Option(
            "--content-type",
            help="Override: application/fhir+xml, application/fhir+json or text/csv",
        ),
    ] = None,
    english: Annotated[bool, typer.Option("--english", help="Report in English")] = False,
) -> None:
    """Parse, validate and (unless --dry-run) store a pharmacy administration list."""
    lang = "en" if english else "nl"
    limits = Limits()
    size = file.stat().st_size
    if size > limits.max_bytes:
        console.print(f"[red]geweigerd[/red]: bestand te groot ({size} bytes)")
        raise typer.Exit(1)
    ctype = content_type or content_type_for(file.name)
    with _progress() as progress:
        task = progress.add_task("inlezen en valideren (entries)", total=None)
        seen = [1]

        def advance(done: int, total: int) -> None:
            seen[0] = total
            progress.update(task, completed=done, total=total)

        result = import_bytes(file.read_bytes(), ctype, limits=limits, progress=advance)
        progress.update(task, completed=seen[0], total=seen[0])
    print_report(result, lang=lang)
    if not result.ok:
        raise typer.Exit(1)
    if dry_run:
        console.print("--dry-run: niets opgeslagen")
        return
    _store(result, pharmacy=pharmacy)


def _store(result: ImportResult, *, pharmacy: str) -> None:
    """All clients in one transaction: one bad BSN stores nothing (a half list is unsafe)."""
    from etrs.importers.service import UploadRefused, store_upload
    from hub.settings import get_settings
    from hub.store.db import make_engine, make_sessionmaker, unit_of_work

    engine = make_engine(get_settings().db_url)
    try:
        with _progress() as progress, unit_of_work(make_sessionmaker(engine)) as session:
            task = progress.add_task("opslaan", total=len(result.drafts))
            stored = store_upload(
                session,
                pharmacy_id=pharmacy,
                result=result,
                actor=f"cli:{getpass.getuser()}",
                origin="cli",
                on_stored=lambda: progress.advance(task),
            )
    except UploadRefused as exc:
        console.print(f"[red]geweigerd[/red]: {exc}; er is niets opgeslagen")
        raise typer.Exit(1) from None
    finally:
        engine.dispose()
    console.print(
        f"opgeslagen: {stored.created} nieuwe lijstversie(s), {stored.unchanged} ongewijzigd"
    )
