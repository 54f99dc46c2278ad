"""The bridge's stop cancels its tasks until they have ended (`mqtt_bridge.app.cancel_all`):
a task that swallows its cancellation does not keep the bridge from stopping. Such a task is
a fault a real component produces only by chance (seen once under load: after SIGTERM the OPC
UA source went on reconnecting and the bridge never stopped), so it is made here on purpose,
with the pattern that swallows it: cancel a child, await it under suppress(CancelledError)."""

from __future__ import annotations

import asyncio
import contextlib

from mqtt_bridge.app import cancel_all


async def test_a_task_that_swallows_its_cancellation_is_cancelled_again() -> None:
    reached = asyncio.Event()
    went_on: list[str] = []

    async def cleans_up_a_child() -> None:
        child = asyncio.create_task(asyncio.sleep(3600))
        await asyncio.sleep(0)
        child.cancel()
        reached.set()
        with contextlib.suppress(asyncio.CancelledError):
            await child  # its own cancellation, arriving now, is suppressed too
        went_on.append("went on")
        await asyncio.sleep(3600)

    swallowing = asyncio.create_task(cleans_up_a_child(), name="source")
    plain = asyncio.create_task(asyncio.sleep(3600), name="stats")
    await reached.wait()
    await asyncio.wait_for(cancel_all([swallowing, plain], again_after=0.05), 10)
    assert went_on == ["went on"]  # the first cancellation was swallowed ...
    assert swallowing.cancelled() and plain.cancelled()  # ... the second one ended it
