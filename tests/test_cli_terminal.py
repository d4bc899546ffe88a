"""``tbx``'s live view in a real pseudo-terminal (pexpect): redrawn in place, Ctrl-C, --ci by itself."""

import io
import json
import re
import sys

import pexpect
import pytest

from tests.cli_fleet import ADMIN, Fleet, call, tbx_env
from tests.processes import wait_until

pytestmark = pytest.mark.slow

ROWS, COLS = 30, 100
CURSOR_UP = "\x1b[1A"


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    fleet = Fleet(tmp_path_factory.mktemp("cli-tty"))
    yield fleet
    fleet.stop()


def spawn(fleet, *args, **env):
    """``tbx args`` in a pseudo-terminal; ``child.seen`` keeps everything it wrote."""
    child = pexpect.spawn(sys.executable, ["-m", "toolbox.cli", *args], env=tbx_env(fleet.url, ADMIN,
                          fleet.workdir / "config", TERM="xterm-256color", **env), dimensions=(ROWS, COLS),
                          encoding="utf-8", timeout=60, cwd=str(fleet.workdir))
    child.seen = io.StringIO()
    child.logfile_read = child.seen
    return child


def frames(raw):
    """The live view's successive drawings: the text between two erasures of the previous one."""
    drawings = re.split(r"(?:\r?\x1b\[2K(?:\x1b\[1A\x1b\[2K)+)", raw)
    plain = [re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", d).replace("\r", "") for d in drawings]
    return [d for d in plain if d.strip()]


def test_the_live_table_redraws_in_place_with_a_fixed_height(fleet):
    child = spawn(fleet, "ping", "127.0.0.1", "--count", "3", "--from", "tag:site:lab")
    child.expect(pexpect.EOF)
    child.close()
    raw = child.before
    assert child.exitstatus == 0, raw
    assert CURSOR_UP in raw  # redrawn where it was, not printed again below
    drawn = frames(raw)
    assert len(drawn) >= 2, raw  # at least one redraw while the tasks ran
    running, final = drawn[0], drawn[-1]
    assert "running" in running and "lab-1" in running and "lab-2" in running
    assert "3/3 replies" in final and "done: 2 ok" in final
    # Every drawing has the same lines (title, header, a row per agent, footer) and the
    # agents stay on the same lines: nothing jumps.
    assert "Ctrl-C stops waiting, not the job" in running
    heights = {len(d.strip("\n").split("\n")) for d in drawn}
    assert heights == {5}, drawn
    for d in drawn:
        rows = d.strip("\n").split("\n")
        assert rows[1].split() == ["agent", "status", "time", "summary"], d
        assert rows[2].startswith("lab-1") and rows[3].startswith("lab-2"), d
        assert all(len(row.rstrip()) <= COLS for row in rows), d
        # The columns stay put: the status column starts at the same place in every drawing.
        assert rows[2].index(rows[2].split()[1]) == rows[1].index("status"), d


def test_ctrl_c_stops_waiting_and_leaves_the_job_running(fleet):
    child = spawn(fleet, "ping", "127.0.0.1", "--from", "ghost")  # ghost never fetches: the task stays queued
    child.expect("queued")
    child.sendintr()
    child.expect(r"keeps running: follow it with `tbx jobs show (\d+)`")
    job_id = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert call(f"{fleet.url}/api/jobs/{job_id}")["state"] == "running"
    call(f"{fleet.url}/api/jobs/{job_id}/cancel", "POST", {})


def test_ctrl_c_with_cancel_on_exit_cancels_the_job(fleet):
    child = spawn(fleet, "ping", "127.0.0.1", "--from", "ghost", "--cancel-on-exit")
    child.expect("queued")
    child.sendintr()
    child.expect(r"job (\d+) canceled")
    job_id = int(child.match.group(1))
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 130
    assert wait_until(lambda: call(f"{fleet.url}/api/jobs/{job_id}")["state"] == "canceled", 10)


def test_ci_is_chosen_by_itself_in_a_pipe_and_with_ci_set(fleet):
    # In a terminal but piped on: `tbx … | cat` writes plain lines, no cursor movement.
    child = pexpect.spawn("/bin/sh", ["-c", f"{sys.executable} -m toolbox.cli ping 127.0.0.1 --count 2 "
                                            "--from lab-1 | cat"],
                          env=tbx_env(fleet.url, ADMIN, fleet.workdir / "config", TERM="xterm-256color"),
                          dimensions=(ROWS, COLS), encoding="utf-8", timeout=60)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b" not in child.before and "lab-1  ok" in child.before
    child = spawn(fleet, "ping", "127.0.0.1", "--count", "2", "--from", "lab-1", CI="true")
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0
    assert "\x1b" not in child.before, child.before
    lines = child.before.replace("\r", "").splitlines()
    assert lines[0].startswith("Job #") and lines[1].startswith("lab-1  ok")


def test_login_asks_for_the_token_without_echo(fleet):
    child = spawn(fleet, "login", "--server", fleet.url, TOOLBOX_TOKEN="")
    child.expect("API token")
    child.sendline(ADMIN)
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0, child.before
    assert ADMIN not in child.before  # not echoed
    assert "Logged in to" in child.before
    assert json.loads((fleet.workdir / "config" / "toolbox" / "config.json").read_text())["token"] == ADMIN


def test_watch_redraws_one_table_with_running_statistics_until_ctrl_c(fleet):
    child = spawn(fleet, "ping", "127.0.0.1", "--count", "1", "--from", "tag:site:lab", "--watch", "--interval", "0")
    child.expect(r"run 3: waiting")
    child.sendintr()
    child.expect(pexpect.EOF)
    child.close()
    raw = child.seen.getvalue()
    assert child.exitstatus == 130, raw
    # Between two runs it stops there; during one, the job is left running.
    assert re.search(r"tbx: stopped (after [0-9]+ runs|waiting; job [0-9]+ keeps running)", raw), raw
    drawn = frames(raw)
    assert len(drawn) >= 3
    for d in drawn:
        rows = [row for row in d.strip("\n").split("\n") if not row.startswith("tbx: ")]  # stderr, after it
        assert len(rows) == 5, d  # one table, redrawn: never a second one below it
        assert rows[1].split() == ["agent", "status", "time", "ok", "min", "avg", "max", "summary"], d
    later = [d for d in drawn if "run 3:" in d][0].strip("\n").split("\n")
    assert " 2/2 " in later[2] and " 2/2 " in later[3], later  # both ok in the two runs done
