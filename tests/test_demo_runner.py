"""The demo's parts run one after another, each in its own forked process."""
import os

import pytest

from konstrukt.demo_runner import can_fork, run_apart
from konstrukt.errors import DataError

pytestmark = pytest.mark.skipif(not can_fork(), reason="needs fork (Linux)")


def test_each_part_runs_in_its_own_process_in_order(tmp_path):
    log = tmp_path / "log"

    def part(name):
        return lambda: log.open("a").write(f"{name} {os.getpid()}\n")

    assert run_apart([part("a"), part("b")]) == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    assert [name for name, _ in lines] == ["a", "b"]
    pids = {int(pid) for _, pid in lines}
    assert len(pids) == 2 and os.getpid() not in pids


def test_a_failing_part_stops_the_rest_with_its_exit_code(tmp_path, capfd):
    ran = tmp_path / "ran"

    def bad():
        raise DataError("the data is wrong", ["Fix: another folder"])

    assert run_apart([bad, lambda: ran.write_text("yes")]) == DataError.exit_code
    assert not ran.exists()
    assert "error: the data is wrong" in capfd.readouterr().err
