"""Starts and deletes at once: bounded per provider and per host, fair between
organizations (controller/slots.py)."""

from __future__ import annotations

import asyncio

import pytest

from controller.slots import FairSlots


async def test_one_organizations_burst_does_not_starve_anothers_single_start() -> None:
    slots = FairSlots(per_provider=2, per_host=8)
    started: list[str] = []
    release = asyncio.Event()

    async def act(org: str, n: int) -> None:
        async with slots.hold(provider="podman", host="local", organization=org):
            started.append(f"{org}{n}")
            await release.wait()

    burst = [asyncio.create_task(act("big", n)) for n in range(200)]
    await asyncio.sleep(0)
    single = asyncio.create_task(act("small", 0))
    await asyncio.sleep(0)
    assert started == ["big0", "big1"]  # the bound: two at once
    assert slots.busy(provider="podman") == 2 and slots.waiting() == 199
    release.set()
    await asyncio.gather(*burst, single)
    # The single start came after one more of the burst (whose turn came first), not after
    # the 200: the first two slots that freed went one to each organization.
    assert started.index("small0") == 3
    assert len(started) == 201 and slots.busy(provider="podman") == 0


async def test_turns_alternate_between_organizations() -> None:
    slots = FairSlots(per_provider=1, per_host=1)
    order: list[str] = []

    async def act(org: str) -> None:
        async with slots.hold(provider="podman", host="local", organization=org):
            order.append(org)
            await asyncio.sleep(0)

    await asyncio.gather(*(act("a") for _ in range(4)), *(act("b") for _ in range(2)))
    assert order == ["a", "a", "b", "a", "b", "a"]


async def test_the_host_bound_holds_across_providers() -> None:
    slots = FairSlots(per_provider=4, per_host=3)
    peak = 0
    running = 0

    async def act(provider: str, org: str) -> None:
        nonlocal peak, running
        async with slots.hold(provider=provider, host="local", organization=org):
            running += 1
            peak = max(peak, running)
            await asyncio.sleep(0.01)
            running -= 1

    await asyncio.gather(*(act(p, o) for p in ("podman", "kvm") for o in ("a", "b", "c")))
    assert peak == 3


async def test_a_caller_that_gives_up_while_waiting_holds_nothing() -> None:
    slots = FairSlots(per_provider=1, per_host=1)
    entered = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with slots.hold(provider="podman", host="local", organization="a"):
            entered.set()
            await release.wait()

    first = asyncio.create_task(holder())
    await entered.wait()

    async def waiting() -> None:
        async with slots.hold(provider="podman", host="local", organization="b"):
            pytest.fail("never granted")

    with pytest.raises(TimeoutError):
        await asyncio.wait_for(waiting(), 0.05)
    assert slots.waiting() == 0
    release.set()
    await first
    assert slots.busy(provider="podman") == 0 and slots.busy(host="local") == 0


async def test_reconciles_of_a_burst_are_admitted_a_bounded_number_at_once() -> None:
    from controller import context, slots

    admission = context._admission()
    inside = 0
    most = 0
    release = asyncio.Event()

    async def reconcile() -> None:
        nonlocal inside, most
        async with admission.hold(
            provider=slots.ADMISSION, host=slots.ADMISSION, organization="big"
        ):
            inside += 1
            most = max(most, inside)
            await release.wait()
            inside -= 1

    burst = [asyncio.create_task(reconcile()) for _ in range(1000)]
    await asyncio.sleep(0)
    assert most == slots.RECONCILES and admission.waiting() == 1000 - slots.RECONCILES
    release.set()
    await asyncio.gather(*burst)
    assert most == slots.RECONCILES and admission.waiting() == 0
