"""The clock's scheduler: a periodic task it cannot send (the broker is
away) is one warning line, and the next tick sends again."""

import pytest

from .live import wait_for
from .test_logs import parse_event
from .test_worker import scaled  # noqa: F401  (a fixture)


@pytest.mark.scaled
def test_a_tick_the_clock_cannot_send_is_one_warning_line_and_the_next_tick_sends(scaled):  # noqa: F811
    formation, redis_server = scaled
    clock = formation.start('clock', wait=False)
    wait_for(lambda: b'event=periodic_task_sent' in clock.output(), 'a tick')
    redis_server.stop()
    wait_for(lambda: b'event=periodic_task_not_sent' in clock.output(), 'a tick while Redis is away', 30)
    redis_server.start()
    sent_before = clock.output().count(b'event=periodic_task_sent')
    wait_for(
        lambda: clock.output().count(b'event=periodic_task_sent') > sent_before, 'a tick once it is back', 30
    )
    formation.stop()

    output = clock.output().decode()
    assert 'Message Error' not in output and 'File \\"' not in output, 'a call stack in the log'
    failed = [parse_event(line) for line in output.splitlines() if 'event=periodic_task_not_sent' in line]
    assert failed[0]['level'] == 'WARNING'
    assert failed[0]['task'] in ('sweep-presence', 'retry-pending-previews')
    assert 'connecting' in failed[0]['detail']  # the reason, from the broker's client
