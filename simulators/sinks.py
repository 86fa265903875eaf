"""Where the stream goes: the JSONL event log, the truth file and the home manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, TextIO

from simulators.stream import Message


class Sink(Protocol):
    """Anything that takes published messages in order."""

    def publish(self, msg: Message) -> None:
        """Take one message."""

    def close(self) -> None:
        """Flush and release resources."""


class JsonlSink:
    """The event log (docs/event-log.md): one line per published message, byte-stable."""

    def __init__(self, path: Path, *, batch: int = 4096) -> None:
        self._f: TextIO = path.open("w", encoding="utf-8", newline="\n")
        self._buf: list[str] = []
        self._batch = batch  # 1 for paced runs: a live log is readable (tail -f) at once
        self.count = 0

    def publish(self, msg: Message) -> None:
        """Append the message's line."""
        self._buf.append(msg.jsonl())
        if len(self._buf) >= self._batch:
            self._flush()

    def _flush(self) -> None:
        if self._buf:
            self._f.write("\n".join(self._buf))
            self._f.write("\n")
            self._f.flush()
            self.count += len(self._buf)
            self._buf.clear()

    def close(self) -> None:
        """Write what is buffered and close the file."""
        self._flush()
        self._f.close()


class ListSink:
    """Keeps messages in memory (tests, small runs)."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def publish(self, msg: Message) -> None:
        """Keep the message."""
        self.messages.append(msg)

    def close(self) -> None:
        """Nothing to release."""


def _dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def write_truth(path: Path, rows: list[dict[str, Any]]) -> None:
    """Write the ground truth: one JSON object per line, sorted by start."""
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(_dumps(row))
            f.write("\n")


def write_manifest(path: Path, manifest: dict[str, Any]) -> None:
    """Write the home manifest as indented, key-sorted JSON."""
    path.write_text(json.dumps(manifest, sort_keys=True, indent=2) + "\n", encoding="utf-8")
