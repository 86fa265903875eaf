"""Dutch first, English second: the UI's words."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Request

LANGS = ("nl", "en")

WORDS: dict[str, dict[str, str]] = {
    "app.title": {"nl": "carehub", "en": "carehub"},
    "nav.round": {"nl": "Mijn ronde", "en": "My round"},
    "nav.alerts": {"nl": "Meldingen", "en": "Alerts"},
    "nav.checks": {"nl": "Dubbele controles", "en": "Double checks"},
    "nav.upload": {"nl": "Toedienlijst uploaden", "en": "Upload list"},
    "nav.admin": {"nl": "Beheer", "en": "Admin"},
    "nav.logout": {"nl": "Uitloggen", "en": "Log out"},
    "nav.skip": {"nl": "Naar de inhoud", "en": "Skip to content"},
    "login.title": {"nl": "Inloggen", "en": "Log in"},
    "login.username": {"nl": "Gebruikersnaam", "en": "Username"},
    "login.password": {"nl": "Wachtwoord", "en": "Password"},
    "login.submit": {"nl": "Inloggen", "en": "Log in"},
    "login.failed": {
        "nl": "Gebruikersnaam of wachtwoord klopt niet.",
        "en": "Username or password is not right.",
    },
    "home.welcome": {"nl": "Welkom", "en": "Welcome"},
    "admin.homes": {"nl": "Woningen", "en": "Homes"},
    "admin.devices": {"nl": "Apparaten", "en": "Devices"},
    "admin.provision": {"nl": "Apparaat aanmelden", "en": "Provision device"},
    "admin.created": {"nl": "Aangemeld:", "en": "Provisioned:"},
    "admin.once": {
        "nl": "Het wachtwoord wordt maar één keer getoond. Zet het nu in het apparaat.",
        "en": "The password is shown only once. Put it into the device now.",
    },
    "admin.kind": {"nl": "Soort", "en": "Kind"},
    "admin.home": {"nl": "Woning", "en": "Home"},
    "admin.label": {"nl": "Omschrijving", "en": "Label"},
    "admin.lastseen": {"nl": "Laatst gezien", "en": "Last seen"},
    "admin.battery": {"nl": "Batterij", "en": "Battery"},
    "admin.revoke": {"nl": "Intrekken", "en": "Revoke"},
    "admin.name": {"nl": "Naam", "en": "Name"},
    "admin.team": {"nl": "Team", "en": "Team"},
    "admin.addhome": {"nl": "Woning toevoegen", "en": "Add home"},
    "upload.file": {
        "nl": "Toedienlijst (FHIR XML/JSON of CSV)",
        "en": "List (FHIR XML/JSON or CSV)",
    },
    "upload.hint": {
        "nl": "MP9 toedieningsafspraken, of CSV met ; als scheidingsteken "
        "(kolommen: docs/pharmacy-csv.md).",
        "en": "MP9 administration agreements, or CSV separated by ; "
        "(columns: docs/pharmacy-csv.md).",
    },
    "upload.submit": {"nl": "Controleren en opslaan", "en": "Check and store"},
    "upload.accepted": {"nl": "geaccepteerd", "en": "accepted"},
    "upload.refused": {"nl": "geweigerd, niets opgeslagen", "en": "refused, nothing stored"},
    "upload.summary": {
        "nl": "%s nieuwe lijstversie(s), %s ongewijzigd, %s regels.",
        "en": "%s new list version(s), %s unchanged, %s items.",
    },
    "upload.version": {"nl": "Versie", "en": "Version"},
    "upload.changes": {"nl": "Wijzigingen", "en": "Changes"},
    "upload.same": {"nl": "al ontvangen", "en": "already received"},
    "lang.switch": {"nl": "English", "en": "Nederlands"},
    "error.notfound": {"nl": "Niet gevonden.", "en": "Not found."},
    "error.forbidden": {
        "nl": "Dit verzoek komt niet van deze site en is geweigerd.",
        "en": "This request did not come from this site and was refused.",
    },
}


def lang_of(request: Request) -> str:
    """The UI language: the `lang` cookie, else the browser's preference, else Dutch."""
    cookie = request.cookies.get("lang")
    if cookie in LANGS:
        return cookie
    accept = request.headers.get("accept-language", "")
    first = accept.split(",")[0].strip().lower()[:2]
    return first if first in LANGS else "nl"


def translator(lang: str) -> Callable[[str], str]:
    """A `t(key)` function for templates."""

    def t(key: str) -> str:
        entry = WORDS.get(key)
        if entry is None:
            return key
        return entry.get(lang) or entry["nl"]

    return t
