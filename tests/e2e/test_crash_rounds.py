"""Crash rounds in the e2e suite: a few rounds of tests/crash/crashtest.py
(SIGKILL at random moments under concurrent SMTP clients, then every
acknowledged message exactly once in its Maildirs). `make crashtest` runs
many more; a failure prints its seed, replayed with SEED=<seed>.
"""
import os
import sys

from conftest import POSTERN, ROOT, SLOW

sys.path.insert(0, os.path.join(ROOT, "tests", "crash"))
import crashtest  # noqa: E402

ROUNDS = 10


def test_kill9_rounds_lose_and_duplicate_nothing(workdir):
    seed = int(os.environ.get("SEED") or crashtest.new_seed())
    result = crashtest.run(POSTERN, rounds=ROUNDS, seed=seed, clients=4, workdir=workdir,
                           slow=SLOW)
    assert result.ok, "\n".join([result.summary] + result.problems)
    assert result.figures["acked"] > 0 and result.figures["duplicates"] == 0
