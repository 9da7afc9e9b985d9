"""The soak's short version (``make soak``, bench/soak): the scaled formation
under load, with each kind of fault once, keeps every invariant the long run
checks."""

import shutil

import pytest

from bench.soak.__main__ import table
from bench.soak.run import Soak


@pytest.mark.scaled
# The run alone is 90 s; starting the formation and stopping its PostgreSQL
# server take more than the suite's 120 s per test leaves.
@pytest.mark.timeout(300)
def test_the_scaled_formation_keeps_every_invariant_through_each_kind_of_fault():
    # 90 s: 100 websocket clients, posters, readers and a flooder; a web
    # process killed and one terminated, the worker and the clock killed,
    # Redis and PostgreSQL restarted, in turn.
    soak = Soak(minutes=1.5, seed=7, clients=100, faults='fixed', grace=10)
    try:
        summary = soak.run()
    finally:
        soak.teardown()
    failed = [name for name, held in summary['invariants'].items() if held is False]
    assert not failed, f'{failed} failed; the logs are kept in {soak.workdir}\n{table(summary)}'
    shutil.rmtree(soak.workdir, ignore_errors=True)
