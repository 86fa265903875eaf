"""The in-process broadcaster behind the SSE stream."""

from __future__ import annotations

import asyncio
import threading

from hub.alerts import broadcast
from hub.alerts.broadcast import Broadcaster


def test_message_published_from_another_thread_reaches_subscribers() -> None:
    async def main() -> list[dict[str, object]]:
        b = Broadcaster()
        async with b.subscribe() as q1, b.subscribe() as q2:
            assert b.subscribers() == 2
            t = threading.Thread(target=b.publish, args=({"action": "raised"},))
            t.start()
            got = [await asyncio.wait_for(q.get(), 5) for q in (q1, q2)]
            t.join()
        assert b.subscribers() == 0
        return [g for g in got if g is not None]

    assert asyncio.run(main()) == [{"action": "raised"}, {"action": "raised"}]


def test_a_subscriber_that_falls_behind_is_ended_not_buffered_forever() -> None:
    async def main() -> list[object]:
        b = Broadcaster()
        async with b.subscribe() as q:
            for i in range(broadcast.QUEUE_MAX + 5):
                b.publish({"n": i})
            await asyncio.sleep(0.05)
            out = []
            while not q.empty():
                out.append(q.get_nowait())
            return out

    assert asyncio.run(main())[-1] is None
