"""The nurse's medication pages over HTTP: round, sign-off, four-eyes, inbox, client page."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import httpx
from defusedxml import ElementTree
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from etrs.drafts import ClientListDraft, Dose, ItemDraft, ProductCodes, Schedule
from etrs.lists import acknowledge_changes, store_list_version
from etrs.schedule import AMSTERDAM
from etrs.service import SignOffRefused
from hub.api.app import create_app
from hub.audit import verify
from hub.auth.models import Pharmacy, PharmacyClient, User
from hub.auth.service import create_user
from hub.store.db import unit_of_work
from hub.store.models import AuditEntry, Client, Device, Event, Home, Team
from hub.web import round as web_round
from hub.web.charts import Mark, heat_level, heatmap_svg, timeline_svg

BASE = "http://testserver"
PASSWORD = "demo-wachtwoord"


def synthetic_bsn(seed: int) -> str:
    """Nine digits passing the elfproef (synthetic, not a real person's)."""
    n = seed
    while True:
        body = f"{n % 10**8:08d}"
        total = sum(int(d) * w for d, w in zip(body, range(9, 1, -1), strict=True))
        if total % 11 < 10 and total >= 11:
            return body + str(total % 11)
        n += 1


@dataclass
class NurseWorld:
    """Two teams, a client with a list (one ordinary, one high-risk, one PRN item), nurses."""

    tag: str
    client_id: str
    other_client_id: str
    pharmacy_id: str
    bsn: str
    anna: str  # team nurse, qualified checker
    bram: str  # team nurse, qualified checker
    dirk: str  # nurse of the other team
    hhmm: str


def _items(hhmm: str, *, metoprolol_dose: str = "1") -> list[ItemDraft]:
    return [
        ItemDraft(
            source_id="m",
            medication_name="Metoprolol 50mg",
            codes=ProductCodes(gpk="900001"),
            dose=Dose(value=Decimal(metoprolol_dose), unit="stuk"),
            route="oraal",
            schedule=Schedule(times_of_day=[hhmm]),
            in_gds=True,
        ),
        ItemDraft(
            source_id="i",
            medication_name="Insuline aspart",
            codes=ProductCodes(gpk="900002", atc="A10AB05"),
            dose=Dose(value=Decimal("8"), unit="E"),
            route="subcutaan",
            schedule=Schedule(times_of_day=[hhmm]),
        ),
        ItemDraft(
            source_id="p",
            medication_name="Paracetamol 500mg",
            codes=ProductCodes(gpk="900003"),
            dose=Dose(value=Decimal("1"), unit="stuk"),
            prn=True,
            prn_indication="bij pijn",
            prn_max_per_24h=Decimal("4"),
            high_risk_flag=False,
        ),
    ]


def seed_world(
    sessions: sessionmaker[Session], *, now: datetime | None = None, acknowledged: bool = True
) -> NurseWorld:
    """A synthetic team with a client whose list has a moment due now, and some activity."""
    when = now or datetime.now(UTC)
    local = when.astimezone(AMSTERDAM)
    hhmm = f"{local.hour:02d}:{local.minute:02d}"
    tag = uuid.uuid4().hex[:8]
    bsn = synthetic_bsn(int(tag, 16) % 10**7 * 7)
    with unit_of_work(sessions) as s:
        s.add_all(
            [
                Team(id=f"team-{tag}", name="Wijkteam Noord", kind="day", created_at=when),
                Team(id=f"team2-{tag}", name="Wijkteam Zuid", kind="day", created_at=when),
            ]
        )
        s.flush()
        s.add(Home(id=f"home-{tag}", name="Huis fictief", team_id=f"team-{tag}", created_at=when))
        s.flush()
        s.add_all(
            [
                Client(
                    id=f"cl-{tag}",
                    display_name="Mevr. T. Testpersoon",
                    bsn=bsn,
                    home_id=f"home-{tag}",
                    team_id=f"team-{tag}",
                    created_at=when,
                ),
                Client(
                    id=f"cl2-{tag}",
                    display_name="Dhr. Q. Voorbeeld",
                    bsn=synthetic_bsn(int(tag, 16) % 10**7 * 7 + 50_000),
                    team_id=f"team2-{tag}",
                    created_at=when,
                ),
                Pharmacy(id=f"ph-{tag}", name="Apotheek De Vijzel", created_at=when),
                Device(
                    id=f"pir-{tag}",
                    kind="motion",
                    home_id=f"home-{tag}",
                    label="PIR",
                    status="online",
                    password_hash="x",
                    created_at=when,
                ),
            ]
        )
        s.flush()
        s.add(PharmacyClient(pharmacy_id=f"ph-{tag}", client_id=f"cl-{tag}"))
        users = {
            name: create_user(
                s,
                username=f"{name}-{tag}",
                password=PASSWORD,
                display_name=f"{name.title()} (demo)",
                role="nurse",
                qualification_level=2,
                team_ids=(team,),
            ).id
            for name, team in (
                ("anna", f"team-{tag}"),
                ("bram", f"team-{tag}"),
                ("dirk", f"team2-{tag}"),
            )
        }
        stored = store_list_version(
            s,
            pharmacy_id=f"ph-{tag}",
            draft=ClientListDraft(bsn=bsn, items=_items(hhmm)),
            actor=f"pharmacy:ph-{tag}",
            source="fhir",
            now=when - timedelta(hours=1),
        )
        if acknowledged:
            for name in ("anna", "bram"):
                user = s.get(User, users[name])
                assert user is not None
                acknowledge_changes(
                    s,
                    user=user,
                    client_id=f"cl-{tag}",
                    version_id=stored.version.id,
                    source="test",
                    now=when - timedelta(minutes=30),
                )
        # Some activity: the kitchen every morning at 08:xx, the bedroom today an hour ago.
        rooms = [(when - timedelta(days=d), "kitchen") for d in range(1, 10)]
        rooms.append((when - timedelta(hours=1), "bedroom"))
        for n, (ts, room) in enumerate(rooms):
            s.add(
                Event(
                    id=f"ev-{tag}-{n}",
                    device_id=f"pir-{tag}",
                    home_id=f"home-{tag}",
                    type="motion",
                    ts=ts,
                    seq=n,
                    received_at=ts,
                    data={"room": room},
                )
            )
    return NurseWorld(
        tag,
        f"cl-{tag}",
        f"cl2-{tag}",
        f"ph-{tag}",
        bsn,
        f"anna-{tag}",
        f"bram-{tag}",
        f"dirk-{tag}",
        hhmm,
    )


def store_new_version(sessions: sessionmaker[Session], world: NurseWorld) -> None:
    """The pharmacy sent a changed list before the moment: Metoprolol's dose goes 1 -> 2."""
    with unit_of_work(sessions) as s:
        store_list_version(
            s,
            pharmacy_id=world.pharmacy_id,
            draft=ClientListDraft(bsn=world.bsn, items=_items(world.hhmm, metoprolol_dose="2")),
            actor=f"pharmacy:{world.pharmacy_id}",
            source="fhir",
            now=datetime.now(UTC) - timedelta(minutes=20),
        )


def _login(c: TestClient, username: str) -> None:
    r = c.post(
        "/login",
        data={"username": username, "password": PASSWORD, "next": "/"},
        headers={"origin": BASE},
        follow_redirects=False,
    )
    assert r.status_code == 303


def _browser(sessions: sessionmaker[Session], username: str) -> TestClient:
    c = TestClient(create_app(sessions), base_url=BASE)
    _login(c, username)
    return c


def _post(c: TestClient, path: str, data: dict[str, str]) -> httpx.Response:
    r: httpx.Response = c.post(path, data=data, headers={"origin": BASE}, follow_redirects=False)
    return r


def _moment_key(page: str, medication: str) -> str:
    block = page.split(medication)[0]
    return str(re.findall(r'name="moment_key" value="([^"]+)"', page[len(block) :])[0])


def test_sign_off_given_in_one_post_shows_as_given(sessions: sessionmaker[Session]) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    page = c.get("/round").text
    assert "Metoprolol 50mg" in page
    assert "Mevr. T. Testpersoon" in page
    key = _moment_key(page, "Metoprolol 50mg")
    r = _post(
        c, "/round/sign-off", {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    )
    assert r.status_code == 303
    after = c.get("/round").text
    card = after.split(f'id="m-{key}"')[1].split("</li>")[0]
    assert 'data-status="given"' in card
    assert "gegeven om" in card


def test_not_given_needs_a_reason_and_the_error_is_in_place(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    key = _moment_key(c.get("/round").text, "Metoprolol 50mg")
    data = {"client_id": w.client_id, "moment_key": key, "outcome": "not_given"}
    r = _post(c, "/round/sign-off", data | {"reason_code": ""})
    assert r.status_code == 409
    assert "Kies een reden" in r.text
    r = _post(c, "/round/sign-off", data | {"reason_code": "406149000"})
    assert r.status_code == 303
    assert "geweigerd door cli" in c.get("/round").text


def test_unacknowledged_list_refuses_sign_off_until_changes_are_acknowledged(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    store_new_version(sessions, w)
    c = _browser(sessions, w.anna)
    key = _moment_key(c.get("/round").text, "Metoprolol 50mg")
    data = {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    r = _post(c, "/round/sign-off", data)
    assert r.status_code == 409
    assert "bevestig eerst de lijstwijzigingen" in r.text
    page = c.get(f"/clients/{w.client_id}").text
    changed = page.split('class="diff-changed"')[1].split("</li>\n    \n")[0]
    assert "Metoprolol 50mg" in changed
    assert "<del>1 stuk</del>" in changed
    assert "<ins>2 stuk</ins>" in changed
    version_id = re.findall(r'name="version_id" value="([^"]+)"', page)[0]
    assert (
        _post(c, f"/clients/{w.client_id}/acknowledge", {"version_id": version_id}).status_code
        == 303
    )
    assert 'class="diff-changed"' not in c.get(f"/clients/{w.client_id}").text
    assert _post(c, "/round/sign-off", data).status_code == 303


def test_high_risk_same_tablet_check_needs_another_person(sessions: sessionmaker[Session]) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    key = _moment_key(c.get("/round").text, "Insuline aspart")
    r = _post(
        c, "/round/sign-off", {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    )
    check_url = r.headers["location"]
    assert check_url.startswith("/round/check/")
    assert 'id="check-status">wacht op controle' in c.get(check_url).text
    same = check_url + "/same-device"
    base = {"decision": "confirm", "verified": "1"}
    # Anna cannot check her own administration, a wrong password fails, the other team's
    # nurse is not in scope, and confirming without ticking "verified" is refused.
    for data, message in (
        (base | {"username": w.anna, "password": PASSWORD}, "tweede, andere persoon"),
        (base | {"username": w.bram, "password": "fout"}, "klopt niet"),
        (base | {"username": w.dirk, "password": PASSWORD}, "niet bij het team"),
        ({"decision": "confirm", "username": w.bram, "password": PASSWORD}, "Vink aan"),
    ):
        r = _post(c, same, data)
        assert r.status_code == 409, message
        assert message in r.text
    assert 'data-status="awaiting_check"' in c.get("/round").text
    r = _post(c, same, base | {"username": w.bram, "password": PASSWORD})
    assert r.status_code == 303
    assert 'id="check-status">gegeven' in c.get(check_url).text


def test_remote_check_request_reaches_the_colleagues_inbox(sessions: sessionmaker[Session]) -> None:
    w = seed_world(sessions)
    anna = _browser(sessions, w.anna)
    bram = _browser(sessions, w.bram)
    dirk = _browser(sessions, w.dirk)
    key = _moment_key(anna.get("/round").text, "Insuline aspart")
    r = _post(
        anna, "/round/sign-off", {"client_id": w.client_id, "moment_key": key, "outcome": "given"}
    )
    check_url = r.headers["location"]
    admin_id = check_url.rsplit("/", 1)[1]
    assert "Insuline aspart" not in bram.get("/checks").text
    assert _post(anna, check_url + "/request", {}).status_code == 303
    assert "wachten" in anna.get(check_url).text.lower()
    inbox = bram.get("/checks").text
    assert "Insuline aspart" in inbox
    assert f'data-ids="{admin_id}"' in inbox
    # The poll gives the same administrations, and (ids only) leaves no access-log entry.
    with sessions() as s:
        entries = s.scalar(select(func.count()).select_from(AuditEntry))
    assert bram.get("/checks/count").json() == {"ids": [admin_id]}
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == entries
    # The other team sees nothing, and cannot open the check page either.
    assert dirk.get("/checks/count").json() == {"ids": []}
    assert dirk.get(check_url).status_code == 404
    r = _post(bram, f"/checks/{admin_id}", {"decision": "reject"})
    assert r.status_code == 409
    assert "opmerking" in r.text
    r = _post(bram, f"/checks/{admin_id}", {"decision": "confirm", "verified": "1"})
    assert r.status_code == 303
    assert 'id="check-status">gegeven' in anna.get(check_url).text
    assert "Insuline aspart" not in bram.get("/checks").text


def test_other_team_gets_404_and_no_data(sessions: sessionmaker[Session]) -> None:
    w = seed_world(sessions)
    dirk = _browser(sessions, w.dirk)
    r = dirk.get(f"/clients/{w.client_id}")
    assert r.status_code == 404
    assert "Testpersoon" not in r.text
    assert "Metoprolol" not in r.text
    assert "Testpersoon" not in dirk.get("/round").text
    assert (
        _post(dirk, f"/clients/{w.client_id}/acknowledge", {"version_id": "x"}).status_code == 404
    )


def test_client_page_views_are_audit_logged_and_show_the_rhythm(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    page = c.get(f"/clients/{w.client_id}").text
    assert page.count('<svg class="heatmap"') == 1
    assert page.count("<rect") >= 14 * 24
    assert 'data-count="1"' in page  # the kitchen visits
    assert "Slaapkamer" in page  # today's timeline lane
    with sessions() as s:
        actions = set(
            s.scalars(select(AuditEntry.action).where(AuditEntry.client_id == w.client_id))
        )
        assert verify(s).ok
    assert {
        "etrs.list.read",
        "etrs.moments.read",
        "etrs.history.read",
        "web.rhythm.read",
    } <= actions


def test_prn_needs_a_reason_and_is_recorded(sessions: sessionmaker[Session]) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    page = c.get(f"/clients/{w.client_id}").text
    item_id = re.findall(r'name="item_id" value="([^"]+)"', page)[0]
    r = _post(c, f"/clients/{w.client_id}/prn", {"item_id": item_id, "amount": "1", "reason": " "})
    assert r.status_code == 409
    assert "waarom" in r.text.lower()
    r = _post(
        c, f"/clients/{w.client_id}/prn", {"item_id": item_id, "amount": "5", "reason": "pijn"}
    )
    assert r.status_code == 409
    assert "maximum per 24 uur" in r.text
    r = _post(
        c, f"/clients/{w.client_id}/prn", {"item_id": item_id, "amount": "1", "reason": "pijn"}
    )
    assert r.status_code == 303
    assert "Paracetamol 500mg (zo nodig)" in c.get(f"/clients/{w.client_id}").text


def test_heat_level_is_monotone_and_bounded() -> None:
    levels = [heat_level(n, 10) for n in range(0, 11)]
    assert levels[0] == 0
    assert levels[-1] == 5
    assert all(1 <= lv <= 5 for lv in levels[1:])
    assert levels == sorted(levels)
    assert heat_level(3, 0) == 0


def test_pages_speak_english_with_the_lang_cookie_and_404_for_other_roles(
    sessions: sessionmaker[Session],
) -> None:
    w = seed_world(sessions)
    c = _browser(sessions, w.anna)
    c.cookies.set("lang", "en")
    page = c.get("/round").text
    assert "My round" in page
    assert ">Given</button>" in page
    assert "Double check" in page
    assert "Activity per hour, last 14 days" in c.get(f"/clients/{w.client_id}").text
    with unit_of_work(sessions) as s:
        create_user(
            s, username=f"pia-{w.tag}", password=PASSWORD, display_name="Pia", role="pharmacist"
        )
    pia = _browser(sessions, f"pia-{w.tag}")
    for path in ("/round", "/checks", f"/clients/{w.client_id}"):
        assert pia.get(path).status_code == 404
    anonymous = TestClient(create_app(sessions), base_url=BASE)
    r = anonymous.get("/round", follow_redirects=False)
    assert r.headers["location"] == "/login?next=/round"


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=20))
def test_parse_amount_accepts_positive_numbers_or_refuses_clearly(raw: str) -> None:
    try:
        value = web_round.parse_amount(raw)
    except SignOffRefused:
        return
    assert value is None or (value.is_finite() and value > 0)
    if value is None:
        assert not raw.strip()


@settings(max_examples=40, deadline=None)
@given(
    st.decimals(min_value=Decimal("0.001"), max_value=Decimal("10000"), places=3),
    st.sampled_from([".", ","]),
)
def test_parse_amount_reads_dot_and_comma_decimals(value: Decimal, sep: str) -> None:
    assert web_round.parse_amount(f" {value:f}".replace(".", sep)) == value


@settings(max_examples=30, deadline=None)
@given(
    st.dictionaries(
        st.tuples(st.integers(0, 13), st.integers(0, 23)), st.integers(0, 500), max_size=40
    ),
    st.text(max_size=15),
)
def test_charts_are_well_formed_svg_whatever_the_data(
    cells: dict[tuple[int, int], int], label: str
) -> None:
    today = datetime(2026, 3, 29, tzinfo=UTC).date()  # the spring DST change in the window
    days = [today - timedelta(days=n) for n in range(13, -1, -1)]
    counts = {(days[d], h): n for (d, h), n in cells.items()}
    names = ["ma", "di", "wo", "do", "vr", "za", "zo"]
    heat = ElementTree.fromstring(str(heatmap_svg(counts, days, label=label, day_names=names)))
    rects = heat.findall("{http://www.w3.org/2000/svg}rect")
    assert len(rects) == 14 * 24
    assert sum(int(r.get("data-count", "0")) for r in rects) == sum(counts.values())
    at = datetime(2026, 3, 29, 10, tzinfo=UTC)
    marks = [Mark(at + timedelta(minutes=7 * n), label or "x", label, "room") for n in range(5)]
    line = ElementTree.fromstring(str(timeline_svg(marks, label=label, now=at)))
    # Control characters XML cannot carry are dropped; attribute values turn \t\n\r to spaces.
    kept = "".join(ch for ch in label if ch >= " " or ch in "\t\n\r")
    kept = kept.replace("\ufffe", "").replace("\uffff", "")
    assert line.get("aria-label") == kept.replace("\t", " ").replace("\n", " ").replace("\r", " ")


def test_moments_far_ahead_offer_no_sign_off_buttons(sessions: sessionmaker[Session]) -> None:
    # The moment lies 3 hours ahead: more than the 2 hours a nurse may sign off early.
    w = seed_world(sessions, now=datetime.now(UTC) + timedelta(hours=3))
    c = _browser(sessions, w.anna)
    page = c.get("/round").text
    if f"{w.hhmm}</h2>" not in page:  # near midnight the moment falls on tomorrow
        return
    assert "Aftekenen kan vanaf" in page
    assert 'name="moment_key"' not in page
