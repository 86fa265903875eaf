"""What runs inside every ingest transaction, after a batch is stored (hub.ingest BatchHook).

Each hook sees only events stored for the first time, so a redelivered message never
acts twice; and it runs in the batch's transaction, so its effects commit (and the
batch is acknowledged) together or not at all.
"""

from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from devices.payloads import DoseTaken
from etrs.dispenser import DispenserMismatch, handle_dose_taken
from hub.family.service import notifications_hook
from hub.ingest.store import BatchHook, BatchResult
from hub.robots.service import record_robot_status

log = logging.getLogger(__name__)


def dispenser_hook(session: Session, result: BatchResult) -> None:
    """A pouch taken from a dispenser becomes 'given by dispenser' in the eTRS.

    A missed dose is the rule engine's `missed_dose` alert (one alert, not one per
    package); the eTRS follow-up is signed off by the nurse who follows it up.
    """
    for stored in result.stored:
        env = stored.envelope
        if env.type != "dose.taken":
            continue
        try:
            with session.begin_nested():  # a mismatch must not undo the rest of the batch
                handle_dose_taken(
                    session,
                    device_id=env.device_id,
                    event_id=env.id,
                    data=DoseTaken.model_validate(env.data),
                )
        except DispenserMismatch as exc:
            # Dose ids from a plan carehub did not send (e.g. set on the device itself).
            log.info("dispenser %s: %s; event kept, no eTRS record", env.device_id, exc)


def default_hooks() -> list[BatchHook]:
    """The hooks a running hub installs, in order."""
    return [dispenser_hook, record_robot_status, notifications_hook]
