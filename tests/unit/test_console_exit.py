"""The console script's exit (etl.cli.console): it leaves with os._exit after flushing
stdout itself, so a flush that fails is ours to report. A reader that went away
(`| head`) is no error; a full disk is: the output was lost, the exit code says so.

Each case runs console() in a new interpreter with a buffered stdout (no
PYTHONUNBUFFERED), whose `main` only writes a line: the line sits in the buffer
until console() flushes it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
WRITES_A_LINE = ("import sys\nimport etl.cli.commands as commands\n"
                 "commands.main = lambda: sys.stdout.write('a line\\n')\ncommands.console()\n")


def console(stdout: int) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    return subprocess.run([sys.executable, "-c", WRITES_A_LINE], stdout=stdout, stderr=subprocess.PIPE,
                          text=True, check=False, cwd=ROOT, env=env, timeout=60)


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full (Linux)")
def test_output_lost_to_a_full_disk_is_an_error() -> None:
    with open("/dev/full", "wb") as full:
        done = console(full.fileno())
    assert (done.returncode, done.stderr) == (1, "error: the output could not be written: No space left on device\n")


def test_a_reader_that_went_away_is_no_error() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)  # `| head` that has read all it wanted
    try:
        done = console(write_end)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (0, "")


def test_output_read_whole_exits_0() -> None:
    done = console(subprocess.PIPE)
    assert (done.returncode, done.stdout, done.stderr) == (0, "a line\n", "")
