"""Homes: the devices in a home, the resident's profile and the care plan as written down."""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from devices.kinds import DEVICE_ID_PREFIX, Kind
from devices.payloads import DosePlan, PlannedDose, RobotMessage, RobotSchedule, Room
from simulators.profiles import PROFILE_CYCLE, PROFILES, Profile

ROOMS: tuple[Room, ...] = (
    Room.BEDROOM,
    Room.BATHROOM,
    Room.TOILET,
    Room.KITCHEN,
    Room.LIVING_ROOM,
    Room.HALLWAY,
)

_FIRST = ("Jan", "Gerda", "Henk", "Truus", "Kees", "Riet", "Piet", "Annie", "Wim", "Corrie")
_LAST = ("de Vries", "Jansen", "Bakker", "Visser", "Smit", "Meijer", "Mulder", "de Boer")


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """One device in a home."""

    device_id: str
    kind: Kind
    role: str  # room, door or place it watches; "dispenser" / "robot" for those
    key: str  # short role key used inside the simulator, e.g. "mot:bathroom"

    def manifest(self) -> dict[str, Any]:
        """The device as listed in the home manifest."""
        out: dict[str, Any] = {"device_id": self.device_id, "kind": self.kind.value}
        if self.kind is Kind.MOTION:
            out["room"] = self.role
        elif self.kind is Kind.DOOR:
            out["door"] = self.role
        elif self.kind is Kind.OCCUPANCY:
            out["place"] = self.role
        return out


@dataclass(frozen=True, slots=True)
class HomeSpec:
    """A virtual home: resident profile, traits, devices and the written care plan."""

    index: int
    home_id: str
    client_id: str
    display_name: str
    profile: Profile
    early_walker: bool
    devices: tuple[DeviceSpec, ...]
    dose_plan: DosePlan
    robot_schedule: RobotSchedule
    night_window: tuple[str, str]
    wake_up: str
    wake_deadline: str
    wake_min: int  # hidden truth: usual rise, minutes after local midnight
    bed_min: int  # hidden truth: usual bedtime
    by_key: dict[str, DeviceSpec] = field(hash=False, compare=False)

    def manifest(self) -> dict[str, Any]:
        """The home as written to the manifest (care plan values, never the hidden truth)."""
        return {
            "home_id": self.home_id,
            "client_id": self.client_id,
            "display_name": self.display_name,
            "profile": self.profile.name.value,
            "devices": [d.manifest() for d in self.devices],
            "dispenser": {
                "device_id": self.by_key["dispenser"].device_id,
                "dose_times": [d.time for d in self.dose_plan.doses],
                "window_min": self.dose_plan.window_min,
                "reminder_every_min": self.dose_plan.reminder_every_min,
                "dose_plan": self.dose_plan.model_dump(mode="json"),
            },
            "robot": {
                "device_id": self.by_key["robot"].device_id,
                "schedule": self.robot_schedule.model_dump(mode="json"),
            },
            "care_plan": {
                "timezone": "Europe/Amsterdam",
                "night_window": {"start": self.night_window[0], "end": self.night_window[1]},
                "wake_up": self.wake_up,
                "wake_deadline": self.wake_deadline,
            },
        }


def _hhmm(minutes: int) -> str:
    minutes %= 24 * 60
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _round_quarter(minutes: int) -> int:
    return int(round(minutes / 15.0)) * 15


def _device(home_id: str, kind: Kind, role: str | None) -> DeviceSpec:
    suffix = f"-{role.replace('_', '-')}" if role else ""
    device_id = f"{home_id}-{DEVICE_ID_PREFIX[kind]}{suffix}"
    key = f"{kind.value}:{role}" if role else kind.value
    return DeviceSpec(device_id=device_id, kind=kind, role=role or kind.value, key=key)


def _robot_schedule(profile: Profile, wake: int, bed: int) -> RobotSchedule:
    msgs = [
        RobotMessage(message_id="goedemorgen", text="Goedemorgen! Een nieuwe dag.", at=_hhmm(wake)),
        RobotMessage(
            message_id="ontbijt",
            text="Heeft u al ontbeten?",
            at=_hhmm(wake + 90),
            question=True,
            repeat_if_unanswered_min=15,
        ),
        RobotMessage(
            message_id="drinken",
            text="Heeft u vanmiddag genoeg gedronken?",
            at="15:00",
            question=True,
        ),
        RobotMessage(
            message_id="avondeten",
            text="Heeft u al gegeten?",
            at="18:30",
            question=True,
            repeat_if_unanswered_min=15,
        ),
        RobotMessage(
            message_id="boodschappen",
            text="Vandaag komt de boodschappendienst.",
            at="10:00",
            weekdays=[2, 5],
        ),
        RobotMessage(message_id="welterusten", text="Slaap lekker!", at=_hhmm(bed - 15)),
    ]
    return RobotSchedule(version=1, messages=msgs)


def build_home(index: int, seed: int, profiles: Sequence[Profile] | None = None) -> HomeSpec:
    """Build home number `index` (1-based) deterministically from the seed.

    Homes take profiles in turn from `profiles` (default: the four standard profiles).
    """
    rng = random.Random(f"home:{seed}:{index}")
    cycle = profiles or [PROFILES[name] for name in PROFILE_CYCLE]
    profile = cycle[(index - 1) % len(cycle)]
    home_id = f"h{index:04d}"
    client_id = f"c{index:04d}"
    devices = [_device(home_id, Kind.MOTION, r.value) for r in ROOMS]
    devices += [_device(home_id, Kind.DOOR, "front_door"), _device(home_id, Kind.DOOR, "fridge")]
    devices += [_device(home_id, Kind.OCCUPANCY, "bed"), _device(home_id, Kind.OCCUPANCY, "chair")]
    devices += [_device(home_id, Kind.DISPENSER, None), _device(home_id, Kind.ROBOT, None)]
    by_key = {d.key: d for d in devices}
    # The care plan states rounded times as a nurse would write them down.
    wake = _round_quarter(profile.wake_min + rng.randint(-20, 20))
    bed = _round_quarter(profile.bed_min + rng.randint(-20, 20))
    dose_plan = DosePlan(
        version=1,
        window_min=profile.dose_window_min,
        reminder_every_min=15,
        doses=[
            PlannedDose(dose_id=f"d{t.replace(':', '')}", time=t, label="baxterzakje")
            for t in profile.doses
        ],
    )
    return HomeSpec(
        index=index,
        home_id=home_id,
        client_id=client_id,
        display_name=f"{rng.choice(_FIRST)} {rng.choice(_LAST)} (fictief)",
        profile=profile,
        early_walker=rng.random() < profile.early_walker_share,
        devices=tuple(devices),
        dose_plan=dose_plan,
        robot_schedule=_robot_schedule(profile, wake, bed),
        night_window=profile.night_window,
        wake_up=_hhmm(wake),
        wake_deadline=_hhmm(wake + profile.wake_deadline_after_min),
        wake_min=wake,
        bed_min=bed,
        by_key=by_key,
    )
