"""The field agent's wrapper (toolbox/tools/field_wrap.py): one token, stderr folded in, the
exit code on the last line, exit 0; and how its line is read back.

The wrapper is run here from an argv list, as the field agent runs it after splitting the
command on whitespace; each case checks the split first.
"""

import shutil
import subprocess

import pytest

from toolbox.tools.catalogue import build_command
from toolbox.tools.field_wrap import FIELD_WRAPPER_PERL, field_argv, is_field_agent, split_exit
from toolbox.tools.outcomes import FAILED, OK, read_result

needs_perl = pytest.mark.skipif(not shutil.which("perl"), reason="perl is not installed")


def wrapped(argv):
    """Run ``argv`` under the wrapper as the field agent would: (stdout, its exit code)."""
    command = " ".join(field_argv(argv))
    assert command.split() == field_argv(argv)  # whitespace splitting leaves it whole
    proc = subprocess.run(command.split(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=20)
    assert proc.stderr == b""  # everything came out on standard output
    return proc.stdout.decode(), proc.returncode


def test_the_wrapper_is_one_token_of_plain_ascii():
    assert FIELD_WRAPPER_PERL == "".join(FIELD_WRAPPER_PERL.split())
    assert FIELD_WRAPPER_PERL.isascii() and FIELD_WRAPPER_PERL.isprintable()
    assert field_argv(["ping", "-c", "1", "x"]) == ["perl", "-e", FIELD_WRAPPER_PERL, "--", "ping", "-c", "1", "x"]


@needs_perl
def test_standard_error_is_folded_in_in_order_and_the_exit_code_comes_last():
    program = "$|=1;print(qq(out\\n));syswrite(STDERR,qq(err\\n));exit(3)"
    output, code = wrapped(["perl", "-e", program])
    assert code == 0
    assert output == "out\nerr\n\ntoolbox-exit:3\n"
    assert split_exit(output) == ("out\nerr", 3, None)
    assert split_exit(" ".join(output.split())) == ("out err", 3, None)  # the field agent's one line


@needs_perl
def test_a_signal_and_a_program_that_cannot_start_are_said_too():
    output, code = wrapped(["perl", "-e", "kill(q(KILL),$$)"])
    assert code == 0 and split_exit(output) == ("", 128 + 9, None)
    output, code = wrapped(["toolbox-no-such-program", "x"])
    assert code == 0
    assert split_exit(output) == ("", 127, "No such file or directory")
    assert read_result("ping", " ".join(output.split()))[1:] == (
        FAILED, "cannot run the command: No such file or directory")


@needs_perl
def test_arguments_reach_the_program_as_given_and_no_shell_reads_them():
    output, code = wrapped(["perl", "-e", "print(join(q(|),@ARGV))", "--", "$HOME", "a;b", "*", "`id`"])
    assert code == 0 and split_exit(output) == ("$HOME|a;b|*|`id`", 0, None)


def test_reading_the_exit_line():
    assert split_exit("plain output") == ("plain output", None, None)
    assert split_exit("x toolbox-exit:0") == ("x", 0, None)
    # only the last line counts: a tool printing the words earlier is just output
    assert split_exit("toolbox-exit:5 then more") == ("toolbox-exit:5 then more", None, None)
    # the field agent sends none, so the wrapper's code is the one read
    assert read_result("ping", "ping: connect: Network is unreachable toolbox-exit:2")[1:] == (
        FAILED, "connect: Network is unreachable")
    # a raw command's output is read by its exit code too
    assert read_result("echo hello", "hello toolbox-exit:0")[1:] == (OK, "hello")
    assert read_result("false", "toolbox-exit:1")[1:] == (FAILED, "exit code 1")
    # an exit code the agent sent (its time limit) is not overridden by the wrapper's 0
    timed_out = read_result("ping", "toolbox-exit:0 [toolbox-agent: command timed out after 9s]", 124)
    assert timed_out[1:] == (FAILED, "timed out after 9 s")


def test_agents_are_told_apart_by_the_user_agent_they_register_with():
    assert not is_field_agent("toolbox-agent")
    assert not is_field_agent("toolbox-agent/2.1")
    for user_agent in ("Go-http-client/1.1", None, "", "curl/8.0", "toolbox-agentx"):
        assert is_field_agent(user_agent), user_agent


def test_only_linux_commands_are_wrapped():
    params = {"target": "127.0.0.1", "count": 2}
    assert build_command("ping", params, "linux", field=True) == (
        f"perl -e {FIELD_WRAPPER_PERL} -- " + build_command("ping", params, "linux"))
    assert build_command("ping", params, "windows", field=True) == build_command("ping", params, "windows")
