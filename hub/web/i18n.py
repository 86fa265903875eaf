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
    # --- nurse medication pages: round, sign-off, double checks, client page ---
    "round.empty": {"nl": "Geen medicatiemomenten vandaag.", "en": "No medication moments today."},
    "round.highrisk": {"nl": "Dubbele controle", "en": "Double check"},
    "round.exact": {"nl": "Exact op tijd", "en": "Exact time"},
    "round.dispenser": {"nl": "Medicijndispenser", "en": "Dispenser"},
    "round.changed": {
        "nl": "De toedienlijst is gewijzigd.",
        "en": "The administration list changed.",
    },
    "round.review": {"nl": "Wijzigingen bekijken", "en": "Review the changes"},
    "round.amount": {"nl": "Gegeven hoeveelheid", "en": "Amount given"},
    "round.give": {"nl": "Gegeven", "en": "Given"},
    "round.notgiven": {"nl": "Niet gegeven…", "en": "Not given…"},
    "round.notgiven.save": {"nl": "Niet gegeven opslaan", "en": "Save not given"},
    "round.reason": {"nl": "Reden", "en": "Reason"},
    "round.reasontext": {"nl": "Toelichting", "en": "Explanation"},
    "round.givenat": {"nl": "gegeven om", "en": "given at"},
    "round.tocheck": {"nl": "Naar de dubbele controle", "en": "Go to the double check"},
    "round.later": {"nl": "Aftekenen kan vanaf", "en": "Can be signed off from"},
    "status.open": {"nl": "te geven", "en": "due"},
    "status.overdue": {"nl": "te laat", "en": "overdue"},
    "status.given": {"nl": "gegeven", "en": "given"},
    "status.not_given": {"nl": "niet gegeven", "en": "not given"},
    "status.awaiting_check": {"nl": "wacht op controle", "en": "awaiting check"},
    "status.check_rejected": {"nl": "controle afgekeurd", "en": "check rejected"},
    "status.check_expired": {"nl": "controle verlopen", "en": "check expired"},
    "status.entered_in_error": {"nl": "onjuist geregistreerd", "en": "entered in error"},
    "reason.406149000": {"nl": "geweigerd door cliënt", "en": "refused by client"},
    "reason.153241000146104": {"nl": "cliënt niet aanwezig", "en": "client not available"},
    "reason.153221000146105": {"nl": "zorgverlener niet aanwezig", "en": "carer not available"},
    "reason.152741000146103": {"nl": "uitgespuugd", "en": "spat out"},
    "reason.705046008": {"nl": "onvoldoende voorraad", "en": "insufficient stock"},
    "reason.274512008": {"nl": "therapie gestopt", "en": "therapy stopped"},
    "reason.other": {"nl": "anders (zie toelichting)", "en": "other (see explanation)"},
    "check.title": {"nl": "Dubbele controle", "en": "Double check"},
    "check.what": {"nl": "Wat is er gegeven", "en": "What was given"},
    "check.client": {"nl": "Cliënt", "en": "Client"},
    "check.medication": {"nl": "Middel", "en": "Medication"},
    "check.dose": {"nl": "Dosis", "en": "Dose"},
    "check.moment": {"nl": "Moment", "en": "Moment"},
    "check.prn": {"nl": "zo nodig", "en": "as needed"},
    "check.status": {"nl": "Status", "en": "Status"},
    "check.done": {
        "nl": "Gecontroleerd door een tweede persoon: de toediening is compleet.",
        "en": "Checked by a second person: the administration is complete.",
    },
    "check.method.same_device": {"nl": "op deze tablet", "en": "on this tablet"},
    "check.method.remote": {"nl": "op afstand", "en": "remotely"},
    "check.back": {"nl": "Terug naar mijn ronde", "en": "Back to my round"},
    "check.rejected": {"nl": "De controle is afgekeurd", "en": "The check was rejected"},
    "check.expired": {
        "nl": "De tijd voor de controle is verstreken: registreer een correctie.",
        "en": "The time for the check has passed: record a correction.",
    },
    "check.needed": {
        "nl": "Hoog-risicomiddel: een tweede bevoegde persoon moet dit controleren",
        "en": "High-risk medication: a second qualified person must check this",
    },
    "check.until": {"nl": "vóór", "en": "before"},
    "check.same": {"nl": "Tweede persoon op deze tablet", "en": "Second person on this tablet"},
    "check.same.hint": {
        "nl": "Je collega logt hier in met eigen naam en wachtwoord.",
        "en": "Your colleague signs in here with their own name and password.",
    },
    "check.second.user": {
        "nl": "Gebruikersnaam tweede persoon",
        "en": "Second person's username",
    },
    "check.second.password": {
        "nl": "Wachtwoord tweede persoon",
        "en": "Second person's password",
    },
    "check.verified": {
        "nl": "Ik heb cliënt, middel, dosis en tijdstip zelf gecontroleerd",
        "en": "I checked client, medication, dose and time myself",
    },
    "check.remark": {
        "nl": "Opmerking (verplicht bij afkeuren)",
        "en": "Remark (required to reject)",
    },
    "check.confirm": {"nl": "Akkoord", "en": "Confirm"},
    "check.reject": {"nl": "Afkeuren", "en": "Reject"},
    "check.remote": {"nl": "Controle op afstand", "en": "Remote check"},
    "check.remote.hint": {
        "nl": "Een bevoegde collega van je team ziet het verzoek bij Dubbele controles.",
        "en": "A qualified colleague of your team sees the request under Double checks.",
    },
    "check.request": {"nl": "Controle op afstand vragen", "en": "Request remote check"},
    "check.requested": {"nl": "Gevraagd om", "en": "Requested at"},
    "check.waiting": {
        "nl": "Wachten op je collega; deze pagina ververst zichzelf.",
        "en": "Waiting for your colleague; this page refreshes itself.",
    },
    "inbox.confirmed": {"nl": "Controle bevestigd.", "en": "Check confirmed."},
    "inbox.rejected": {
        "nl": "Controle afgekeurd; er is een melding gemaakt.",
        "en": "Check rejected; an alert was raised.",
    },
    "inbox.empty": {
        "nl": "Geen openstaande verzoeken. Nieuwe verschijnen vanzelf.",
        "en": "No open requests. New ones appear by themselves.",
    },
    "inbox.by": {"nl": "gevraagd door", "en": "requested by"},
    "client.acked": {
        "nl": "Wijzigingen gezien en bevestigd.",
        "en": "Changes seen and acknowledged.",
    },
    "client.prn.saved": {"nl": "Zo-nodig-toediening opgeslagen.", "en": "As-needed dose saved."},
    "client.changes": {"nl": "Gewijzigde toedienlijst", "en": "Changed administration list"},
    "client.changes.hint": {
        "nl": "Bekijk wat er veranderd is en bevestig; pas daarna kun je aftekenen.",
        "en": "Review what changed and acknowledge; only then can you sign off.",
    },
    "client.ack": {"nl": "Wijzigingen gezien", "en": "Acknowledge changes"},
    "diff.added": {"nl": "Nieuw", "en": "New"},
    "diff.changed": {"nl": "Gewijzigd", "en": "Changed"},
    "diff.stopped": {"nl": "Gestopt", "en": "Stopped"},
    "diff.other": {"nl": "gewijzigd", "en": "changed"},
    "diff.field.dose": {"nl": "Dosis", "en": "Dose"},
    "diff.field.time": {"nl": "Tijden", "en": "Times"},
    "diff.field.route": {"nl": "Toedieningsweg", "en": "Route"},
    "diff.field.prn": {"nl": "Zo nodig", "en": "As needed"},
    "diff.field.instructions": {"nl": "Instructies", "en": "Instructions"},
    "diff.field.packaging": {"nl": "Verpakking", "en": "Packaging"},
    "rhythm.title": {"nl": "Dagritme", "en": "Daily rhythm"},
    "rhythm.timeline": {
        "nl": "Vandaag: kamers, deuren en medicatie",
        "en": "Today: rooms, doors and doses",
    },
    "rhythm.heatmap": {
        "nl": "Activiteit per uur, afgelopen 14 dagen",
        "en": "Activity per hour, last 14 days",
    },
    "rhythm.heatmap.hint": {
        "nl": "Donkerder is meer beweging; wit is geen beweging.",
        "en": "Darker means more movement; white means none.",
    },
    "client.today": {"nl": "Medicatie vandaag", "en": "Medication today"},
    "client.list": {"nl": "Actuele toedienlijst", "en": "Current administration list"},
    "client.times": {"nl": "Tijden", "en": "Times"},
    "client.route": {"nl": "Weg", "en": "Route"},
    "client.prn": {"nl": "zo nodig", "en": "as needed"},
    "client.prn.title": {"nl": "Zo nodig geven", "en": "Give as needed"},
    "client.prn.max": {"nl": "max. per 24 uur", "en": "max. per 24 hours"},
    "client.prn.reason": {"nl": "Waarom gegeven", "en": "Why given"},
    "client.prn.give": {"nl": "Zo nodig gegeven", "en": "Record as-needed dose"},
    "client.history": {"nl": "Geschiedenis (7 dagen)", "en": "History (7 days)"},
    "client.when": {"nl": "Wanneer", "en": "When"},
    "client.corrected": {"nl": "gecorrigeerd", "en": "corrected"},
    "client.nohistory": {"nl": "Nog geen registraties.", "en": "No records yet."},
    "err.refused": {"nl": "Geweigerd", "en": "Refused"},
    "err.ack": {
        "nl": "Aftekenen geweigerd: bekijk en bevestig eerst de lijstwijzigingen.",
        "en": "Sign-off refused: acknowledge the list changes first.",
    },
    "err.second_person": {
        "nl": "Een dubbele controle moet door een tweede, andere persoon.",
        "en": "A double check must be done by a second, different person.",
    },
    "err.mismatch": {
        "nl": "De controle klopt niet met de toediening: keur af als er iets niet klopt.",
        "en": "The check does not match the administration: reject if something is wrong.",
    },
    "err.remark": {
        "nl": "Afkeuren kan alleen met een opmerking wat er niet klopt.",
        "en": "A rejection needs a remark saying what was wrong.",
    },
    "err.reason": {
        "nl": "Kies een reden voor niet gegeven.",
        "en": "Choose a reason for not given.",
    },
    "err.other_text": {
        "nl": "Reden 'anders' vraagt om een toelichting.",
        "en": "Reason 'other' needs an explanation.",
    },
    "err.ahead": {
        "nl": "Dit moment ligt te ver vooruit om af te tekenen.",
        "en": "This moment is too far ahead to sign off.",
    },
    "err.already": {
        "nl": "Dit moment is al afgetekend; registreer zo nodig een correctie.",
        "en": "This moment is already signed off; record a correction if needed.",
    },
    "err.not_checker": {
        "nl": "Deze persoon mag geen dubbele controles doen.",
        "en": "This person may not do double checks.",
    },
    "err.prn_max": {
        "nl": "Het maximum per 24 uur zou overschreden worden; overleg met de voorschrijver.",
        "en": "The maximum per 24 hours would be exceeded; consult the prescriber.",
    },
    "err.prn_reason": {
        "nl": "Vul in waarom het zo-nodig-middel is gegeven.",
        "en": "Enter why the as-needed dose was given.",
    },
    "err.verify": {
        "nl": "Vink aan dat je cliënt, middel, dosis en tijdstip hebt gecontroleerd.",
        "en": "Tick that you checked client, medication, dose and time.",
    },
    "err.second_login": {
        "nl": "Naam of wachtwoord van de tweede persoon klopt niet.",
        "en": "The second person's name or password is not right.",
    },
    "err.second_scope": {
        "nl": "De tweede persoon hoort niet bij het team van deze cliënt.",
        "en": "The second person is not in this client's team.",
    },
    "room.bedroom": {"nl": "Slaapkamer", "en": "Bedroom"},
    "room.bathroom": {"nl": "Badkamer", "en": "Bathroom"},
    "room.toilet": {"nl": "Toilet", "en": "Toilet"},
    "room.kitchen": {"nl": "Keuken", "en": "Kitchen"},
    "room.living_room": {"nl": "Woonkamer", "en": "Living room"},
    "room.hallway": {"nl": "Gang", "en": "Hallway"},
    "door.front_door": {"nl": "Voordeur", "en": "Front door"},
    "door.back_door": {"nl": "Achterdeur", "en": "Back door"},
    "door.fridge": {"nl": "Koelkast", "en": "Fridge"},
    "place.bed": {"nl": "Bed", "en": "Bed"},
    "place.chair": {"nl": "Stoel", "en": "Chair"},
    "event.motion": {"nl": "beweging", "en": "movement"},
    "event.open": {"nl": "open", "en": "opened"},
    "event.occupied": {"nl": "bezet", "en": "occupied"},
    "event.dose.taken": {"nl": "dosis genomen", "en": "dose taken"},
    "event.dose.missed": {"nl": "dosis gemist", "en": "dose missed"},
    "lane.dispenser": {"nl": "Dispenser", "en": "Dispenser"},
    "lane.doses": {"nl": "Medicatie", "en": "Medication"},
    "day.0": {"nl": "ma", "en": "Mon"},
    "day.1": {"nl": "di", "en": "Tue"},
    "day.2": {"nl": "wo", "en": "Wed"},
    "day.3": {"nl": "do", "en": "Thu"},
    "day.4": {"nl": "vr", "en": "Fri"},
    "day.5": {"nl": "za", "en": "Sat"},
    "day.6": {"nl": "zo", "en": "Sun"},
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
