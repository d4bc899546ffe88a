"""The wrapper that keeps the deployed field agent alive whatever its tool answers.

The field agent (legacy-agent.md section 3) splits a command on whitespace, runs it
without a shell, keeps standard output only and **exits itself when the command exits
non-zero**.  So on Linux every tool's command sent to a field agent runs under
:data:`FIELD_WRAPPER_PERL`, given as argv (``perl -e PROGRAM -- ping -n -c 4 HOST``):

- standard error is folded into standard output (``ping: x: Name or service not known``,
  ``curl: (7) ...`` and dig's ``;; communications error`` reach the server);
- the command runs from its argv, with no shell (``system { $ARGV[0] } @ARGV``);
- a last line ``toolbox-exit:N`` says its exit code (128 + the signal when a signal ended
  it; 127 and ``;error=REASON`` when it could not be started), and Perl exits 0.

The program is one argv token (no whitespace anywhere) and uses no module, only what
``perl-base`` has (Debian and Ubuntu base systems).  :func:`split_exit` takes the last
line back off an output, in its multi-line or collapsed form, for
``toolbox.tools.outcomes`` to read the exit code as the reference agent would send it.

Agents are told apart by how they talk, not by a field of their own: ``toolbox-agent``
registers with ``User-Agent: toolbox-agent`` (and reports exit codes itself), the Go
field agent with Go's default User-Agent.  :func:`is_field_agent` is True for every
agent that did not register as ``toolbox-agent`` (an agent never registered included:
the wrapped command works for both, the plain one only for ``toolbox-agent``).
"""

import re

__all__ = ["EXIT_MARK", "FIELD_WRAPPER_PERL", "REFERENCE_USER_AGENT", "field_argv", "is_field_agent",
           "split_exit"]

#: The User-Agent toolbox-agent sends (toolbox/agent/http.py): it gets the plain commands.
REFERENCE_USER_AGENT = "toolbox-agent"

EXIT_MARK = "toolbox-exit:"

# One argv token: no whitespace.  $? is -1 when the program could not be started ($! says
# why), else the wait status: a signal in its low 7 bits, the exit code in the high byte.
FIELD_WRAPPER_PERL = (
    "open(STDERR,q(>&STDOUT));"
    "system{$ARGV[0]}@ARGV;$c=$?;"
    "printf(qq(\\n" + EXIT_MARK + "%d%s\\n),"
    "$c==-1?127:$c&127?128+($c&127):$c>>8,"
    "$c==-1?qq(;error=$!):q());"
    "exit(0)"
)

# The wrapper's line, last in the output: "toolbox-exit:9" or "toolbox-exit:127;error=...".
_MARK = re.compile(r"(?:^|\s)" + re.escape(EXIT_MARK) + r"(\d{1,3})(?:;error=([^\n]*))?\s*\Z")


def field_argv(argv: list[str]) -> list[str]:
    """``argv`` run under the wrapper: it answers on standard output and exits 0."""
    return ["perl", "-e", FIELD_WRAPPER_PERL, "--", *argv]


def split_exit(output: str) -> tuple[str, int | None, str | None]:
    """(output without the wrapper's last line, its exit code, why it could not start).

    The exit code is None when the output has no such line (a plain command's output).
    """
    found = _MARK.search(output)
    if found is None:
        return output, None, None
    error = found.group(2).strip() if found.group(2) else None
    return output[: found.start()].rstrip(), int(found.group(1)), error or None


def is_field_agent(user_agent: str | None) -> bool:
    """True unless the agent registered as toolbox-agent (see the module docstring)."""
    return (user_agent or "").split("/", 1)[0].strip() != REFERENCE_USER_AGENT
