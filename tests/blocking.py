"""A reusable fixture that makes any blocking call inside a running event loop fail the test.

``tests/conftest.py`` registers this module as a plugin, so any test can ask for it by name::

    @pytest.mark.usefixtures("no_blocking")
    async def test_something() -> None: ...

(or take ``no_blocking: BlockBuster`` as a parameter to reach the BlockBuster object).

``blockbuster`` patches ``time.sleep``, blocking socket and file calls and friends, and raises
``blockbuster.BlockingError`` when one of them runs on the event loop's thread while the loop
is running. Calls made outside a running loop (plain sync code, executors) are not affected.
Nothing needs allow-listing so far: Bumble's virtual link, bleak's API and aiomqtt are pure
asyncio.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from blockbuster import BlockBuster, blockbuster_ctx


@pytest.fixture
def no_blocking() -> Iterator[BlockBuster]:
    """Activate blockbuster for the duration of one test."""
    with blockbuster_ctx() as bb:
        yield bb
