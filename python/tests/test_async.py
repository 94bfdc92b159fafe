"""asyncio: awaitables completed by the SDK's runtime, so the event loop never waits on the network."""

import asyncio
import time

import pytest


def test_100_invocations_in_flight_on_one_session(client):
    async def main():
        session = await client.connect_async("echo")
        async with session:
            inputs = [f"message {i}".encode() * (i + 1) for i in range(100)]
            outputs = await asyncio.gather(*(session.invoke_async(x) for x in inputs))
            assert outputs == inputs
            assert session.invocations == 100
        assert session.closed

    asyncio.run(main())


def test_the_event_loop_keeps_running_during_an_invocation(client):
    async def main():
        session = await client.connect_async("sleep-ms")
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.01)
                ticks += 1

        task = asyncio.ensure_future(ticker())
        start = time.monotonic()
        assert await session.invoke_async(b"300") == b""
        elapsed = time.monotonic() - start
        task.cancel()
        await session.close_async()
        return ticks, elapsed

    ticks, elapsed = asyncio.run(main())
    assert elapsed >= 0.3
    # A blocked loop would tick once at most; a free one ticks about 30 times in 300 ms.
    assert ticks >= 10


def test_async_refusal_raises_the_same_exception(es, mock):
    pcrs = dict(mock.pcrs)
    pcrs[2] = "22" * 48
    client = es.Client(mock.url, es.Policy(measurements=[pcrs], root_pem=mock.root_pem))

    async def main():
        await client.connect_async("echo")

    with pytest.raises(es.AttestationError) as info:
        asyncio.run(main())
    assert (info.value.check, info.value.index) == ("pcr_not_allowed", 2)


def test_threads_share_one_session(client):
    from concurrent.futures import ThreadPoolExecutor

    with client.connect("uppercase") as session:
        with ThreadPoolExecutor(8) as pool:
            outputs = list(pool.map(lambda i: session.invoke(f"x{i}".encode()), range(64)))
    assert outputs == [f"X{i}".encode() for i in range(64)]
