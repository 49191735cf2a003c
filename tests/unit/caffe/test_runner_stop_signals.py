"""caffe.runner.stop_signals: SIGINT and SIGTERM go to one handler for a block, then back."""

import os
import signal

import pytest

from caffesiam.caffe.runner import stop_signals


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_both_signals_reach_the_handler_even_when_sigint_was_ignored(signum):
    def before_term(signum, frame):
        raise AssertionError("the handler from before the block was called")

    seen = []
    old_int = signal.signal(signal.SIGINT, signal.SIG_IGN)
    old_term = signal.signal(signal.SIGTERM, before_term)
    try:
        with stop_signals(lambda: seen.append("stop")):
            os.kill(os.getpid(), signum)
        assert seen == ["stop"]
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == before_term
    finally:
        signal.signal(signal.SIGINT, old_int)
        signal.signal(signal.SIGTERM, old_term)


def test_a_handler_that_raises_ends_the_block_and_the_old_handlers_return():
    def interrupt():
        raise KeyboardInterrupt

    old = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt), stop_signals(interrupt):
        os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == old
