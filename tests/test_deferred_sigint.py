"""Ctrl-C during an epoch's commit is held until the commit ends, and an ignored Ctrl-C stays ignored."""

from __future__ import annotations

import os
import signal

import pytest

from aimodel.training.callbacks import deferred_sigint


@pytest.fixture
def sigint_handler():
    previous = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, previous)


def test_ctrl_c_in_the_block_is_raised_when_it_ends(sigint_handler):
    signal.signal(signal.SIGINT, signal.default_int_handler)
    done = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_sigint():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("the rest of the commit")
    assert done == ["the rest of the commit"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_an_ignored_ctrl_c_stays_ignored(sigint_handler):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # as a background job or nohup starts a process
    with deferred_sigint():
        os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
