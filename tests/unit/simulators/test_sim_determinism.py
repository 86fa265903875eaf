"""Same seed, same bytes: events, truth and manifest."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from simulators.cli import parse_faults, run_simulation


def _run(tmp: Path, seed: int, faults: str = "all") -> tuple[bytes, bytes, bytes]:
    tmp.mkdir(parents=True, exist_ok=True)
    ev, tr, hm = tmp / "events.jsonl", tmp / "truth.jsonl", tmp / "homes.json"
    run_simulation(
        homes=4,
        days=3,
        seed=seed,
        start=date(2026, 3, 27),  # across the start of summer time
        faults=parse_faults(faults),
        events_out=ev,
        truth_out=tr,
        homes_out=hm,
    )
    return ev.read_bytes(), tr.read_bytes(), hm.read_bytes()


def test_same_seed_gives_byte_identical_files(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", 42)
    b = _run(tmp_path / "b", 42)
    assert a == b
    assert all(len(x) > 1000 for x in a)


def test_a_different_seed_gives_a_different_life(tmp_path: Path) -> None:
    a = _run(tmp_path / "a", 42)
    c = _run(tmp_path / "c", 43)
    assert a[0] != c[0]
    assert a[1] != c[1]


def test_faults_do_not_change_the_residents_life(tmp_path: Path) -> None:
    """Faults have their own random stream: the incidents and look-alikes stay the same."""
    clean = _run(tmp_path / "clean", 7, "none")[1].decode().splitlines()
    chaos = _run(tmp_path / "chaos", 7, "all")[1].decode().splitlines()
    assert [x for x in chaos if "short_disconnect" not in x] == clean


def test_several_processes_write_the_same_bytes_as_one(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    one.mkdir()
    two.mkdir()
    for out, workers in ((one, 1), (two, 2)):
        run_simulation(
            homes=5,
            days=2,
            seed=8,
            start=date(2026, 10, 24),  # across the end of summer time
            faults=parse_faults("all"),
            events_out=out / "events.jsonl",
            truth_out=out / "truth.jsonl",
            workers=workers,
        )
    assert (one / "events.jsonl").read_bytes() == (two / "events.jsonl").read_bytes()
    assert (one / "truth.jsonl").read_bytes() == (two / "truth.jsonl").read_bytes()
