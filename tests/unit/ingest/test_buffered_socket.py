"""The ingest's buffered broker socket hands paho exactly the bytes the broker sent."""

from __future__ import annotations

from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hub.ingest.client import BufferedSocket


class _ChunkedSocket:
    """A non-blocking socket whose reads return the given chunks, then would block."""

    def __init__(self, chunks: list[bytes], *, eof: bool = False) -> None:
        self.chunks = deque(chunks)
        self.eof = eof
        self.recv_calls = 0
        self.sent: list[bytes] = []

    def recv(self, bufsize: int) -> bytes:
        self.recv_calls += 1
        if self.chunks:
            chunk = self.chunks.popleft()
            if len(chunk) > bufsize:  # a real socket never returns more than asked
                self.chunks.appendleft(chunk[bufsize:])
                chunk = chunk[:bufsize]
            return chunk
        if self.eof:
            return b""
        raise BlockingIOError

    def send(self, data: bytes) -> int:
        self.sent.append(data)
        return len(data)

    def fileno(self) -> int:
        return 42


@given(
    chunks=st.lists(st.binary(min_size=1, max_size=600), max_size=20),
    sizes=st.lists(st.integers(min_value=1, max_value=700), min_size=1, max_size=50),
)
def test_reads_of_any_size_return_the_stream_in_order(
    chunks: list[bytes], sizes: list[int]
) -> None:
    sock = BufferedSocket(_ChunkedSocket(list(chunks)))
    expected = b"".join(chunks)
    got = bytearray()
    i = 0
    while True:
        size = sizes[i % len(sizes)]
        i += 1
        try:
            data = sock.recv(size)
        except BlockingIOError:
            break
        assert 0 < len(data) <= size
        got += data
        assert sock.pending() >= 0
    assert bytes(got) == expected
    assert sock.pending() == 0


def test_one_system_read_serves_many_small_reads() -> None:
    packet = b"\x30\x05ab123"  # what paho reads as type byte, length byte, body
    raw = _ChunkedSocket([packet * 100])
    sock = BufferedSocket(raw)
    for _ in range(100):
        assert sock.recv(1) == b"\x30"
        assert sock.recv(1) == b"\x05"
        assert sock.recv(5) == b"ab123"
    assert raw.recv_calls == 1
    assert sock.pending() == 0


def test_pending_tells_paho_not_to_wait_in_select_while_bytes_are_buffered() -> None:
    sock = BufferedSocket(_ChunkedSocket([b"abcdef"]))
    assert sock.pending() == 0
    assert sock.recv(2) == b"ab"
    assert sock.pending() == 4
    assert sock.recv(10) == b"cdef"
    assert sock.pending() == 0
    with pytest.raises(BlockingIOError):
        sock.recv(1)


def test_a_closed_connection_reads_as_empty_once_the_buffer_is_drained() -> None:
    sock = BufferedSocket(_ChunkedSocket([b"xy"], eof=True))
    assert sock.recv(1) == b"x"
    assert sock.recv(1) == b"y"
    assert sock.recv(1) == b""


def test_everything_else_goes_to_the_socket() -> None:
    raw = _ChunkedSocket([])
    sock = BufferedSocket(raw)
    assert sock.send(b"\x40\x02\x00\x01") == 4
    assert raw.sent == [b"\x40\x02\x00\x01"]
    assert sock.fileno() == 42
