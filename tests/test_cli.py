"""``tbx``'s parts without a server: config file, agent selection, path view, statistics, exit codes,
and the server's imports kept free of the command line's libraries."""

import json
import os
import stat
import subprocess
import sys

import click
import pytest

from tests.processes import _import_root
from toolbox.cli import config, views
from toolbox.cli.main import main
from toolbox.cli.paths import path_lines
from toolbox.cli.stats import RunningStats
from toolbox.cli.tools import selection


def test_the_server_never_imports_click_or_rich():
    code = ("import sys, toolbox.server.app, toolbox.server.main, handlers; handlers.default_handlers(); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'click', 'rich', 'toolbox'}))")
    env = dict(os.environ, PYTHONPATH=_import_root())
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['toolbox']"  # toolbox imported, click and rich not


def test_the_config_file_is_0600_under_xdg_config_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("TOOLBOX_URL", raising=False)
    monkeypatch.delenv("TOOLBOX_TOKEN", raising=False)
    assert config.settings() == config.Settings(config.DEFAULT_URL, None, "default", None)
    path = config.write_file("http://127.0.0.1:8123/", "tbx_secret")
    assert path == tmp_path / "toolbox" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert config.settings() == config.Settings("http://127.0.0.1:8123", "tbx_secret", str(path), str(path))
    monkeypatch.setenv("TOOLBOX_URL", "http://127.0.0.1:9000")
    monkeypatch.setenv("TOOLBOX_TOKEN", "tbx_env")
    assert config.settings() == config.Settings("http://127.0.0.1:9000", "tbx_env", "TOOLBOX_URL", "TOOLBOX_TOKEN")
    assert config.remove_token() is True and config.remove_token() is False
    assert json.loads(path.read_text()) == {"url": "http://127.0.0.1:8123/"}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    path.write_text("[not an object]")
    assert config.read_file() == {}


def test_from_picks_names_tags_or_all_and_refuses_a_mix():
    assert selection((), None) == {"all": True}
    assert selection(("all",), None) == {"all": True}
    assert selection(("a,b", "c"), None) == {"agents": ["a", "b", "c"]}
    assert selection(("tag:isp:telecom", "tag:site:lab"), "any") == {"tags": ["isp:telecom", "site:lab"],
                                                                     "tags_match": "any"}
    for values, match in ((("a", "tag:x:y"), None), (("all", "a"), None), (("a",), "any"), (("tag:",), None)):
        with pytest.raises(click.UsageError):
            selection(values, match)


def route(agent, *hops, tool="traceroute"):
    if tool == "mtr":
        parsed = {"hops": [{"hop": n, "address": a, "host": None, "loss_pct": loss, "avg_ms": 1.0 * n,
                            "best_ms": 0.5, "worst_ms": 2.0} for n, (a, loss) in enumerate(hops, 1)]}
    else:
        parsed = {"hops": [{"hop": n, "address": a, "host": None, "rtt_ms": [] if a is None else [1.0 * n] * 3}
                           for n, a in enumerate(hops, 1)]}
    return {"agent": agent, "state": "done", "parsed": parsed}


def test_the_path_view_says_shared_hops_divergence_and_loss():
    lines = path_lines([route("a", "10.0.0.1", "10.0.1.1", "192.0.2.9"),
                        route("b", "10.0.0.1", "10.0.2.1", "192.0.2.9"),
                        route("c", "10.9.9.9", None, None)])
    text = "\n".join(lines)
    assert "Shared hops: 10.0.0.1 (a, b); 192.0.2.9 (a, b)." in text
    assert "Paths diverge after 10.0.0.1: a / b." in text
    assert "Paths join at 192.0.2.9: a + b." in text
    assert "c: loss starts at hop 2 (a hop that did not answer, 100%) and lasts to the end." in text
    assert "     1  10.0.0.1" in text and "1.00 ms    0% loss" in text
    mtr = path_lines([route("a", ("10.0.0.1", 0), ("192.0.2.9", 20), tool="mtr")])
    assert any("192.0.2.9" in line and "2.00 ms" in line and "20% loss" in line for line in mtr)
    assert path_lines([{"agent": "a", "state": "lost", "parsed": None}]) == []


def job(*outcomes, state="done"):
    return {"job_id": 1, "tool": "ping", "state": state,
            "tasks": [{"task_id": n, "agent": f"a{n}", "state": "done" if o in ("ok", "partial", "failed") else o,
                       "outcome": o if o in ("ok", "partial", "failed") else None,
                       "summary": "s", "parsed": {"rtt_avg_ms": 2.0 * (n + 1)}} for n, o in enumerate(outcomes)]}


def test_exit_codes_0_only_when_every_task_is_ok():
    assert views.exit_code([job("ok", "ok")]) == 0
    for bad in ("partial", "failed", "lost", "delivery_timeout", "canceled"):
        assert views.exit_code([job("ok", bad)]) == 1, bad
    assert views.exit_code([job("ok"), job("ok", "failed")]) == 1
    assert views.exit_code([job()]) == 1  # no task ran
    assert views.exit_code([job("ok", state="canceled")]) == 1


def test_running_statistics_count_answers_only():
    stats = RunningStats("ping")
    stats.add(job("ok", "failed"))
    stats.add(job("ok", "ok"))
    rows = dict(stats.rows())
    assert rows["a0"]["ok"] == "2/2" and rows["a0"]["avg"] == "2.00"
    assert rows["a1"]["ok"] == "1/2" and rows["a1"]["min"] == "4.00" and rows["a1"]["last"] == "ok"
    assert stats.lines()[0] == "After 2 runs (rtt avg, ms):"


def test_usage_errors_exit_2_without_a_server(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.setenv("TOOLBOX_URL", "http://127.0.0.1:9")  # nothing listens: the tool list is not needed
    monkeypatch.delenv("TOOLBOX_TOKEN", raising=False)
    for argv in (["--bogus"], ["jobs", "show", "yesterday"], ["jobs", "list", "--limit", "0"],
                 ["completion", "tcsh"]):
        with pytest.raises(SystemExit) as stopped:
            main(argv)
        assert stopped.value.code == 2, argv
    with pytest.raises(SystemExit) as stopped:
        main(["whoami"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.endswith("tbx: not logged in: run `tbx login` (or set TOOLBOX_TOKEN)\n")
    with pytest.raises(SystemExit) as stopped:
        main(["--help"])
    assert stopped.value.code == 0 and "Exit codes: 0 every task ok" in capsys.readouterr().out
