"""Start real ``toolbox`` and ``toolbox-agent`` processes for end-to-end tests.

``ServerProcess`` runs ``python -m toolbox --port 0`` and reads the URL (and any other
line it announces) from its output; ``AgentProcess`` runs ``python -m toolbox.agent``.
Both are stopped with SIGTERM (then killed) when the test ends.
"""

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import uuid

URL_RE = re.compile(r"listening on (http://\S+)")

CHROMIUM = "/usr/bin/chromium"  # Debian's Chromium: what the browser tests drive


def _import_root():
    """The folder holding the ``toolbox`` package these tests imported (installed or checkout)."""
    import toolbox

    return os.path.dirname(os.path.dirname(os.path.abspath(toolbox.__file__)))


def wait_until(predicate, timeout, step=0.1):
    """Call ``predicate`` until it returns something true (returned) or ``timeout`` passes (None).

    The one waiting helper of the tests that drive real processes from threads.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


class _Process:
    def __init__(self, argv, env=None, cwd=None):
        full_env = dict(os.environ, PYTHONUNBUFFERED="1", **(env or {}))
        full_env["PYTHONPATH"] = os.pathsep.join(filter(None, [_import_root(), full_env.get("PYTHONPATH")]))
        self.lines = []
        self._queue = queue.Queue()
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=full_env, cwd=cwd, text=True)
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip("\n"))
            self._queue.put(line)

    def wait_for_line(self, pattern, timeout=60.0):
        """The first match of ``pattern`` in the output (waiting up to ``timeout`` seconds)."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            current = len(self.lines)  # scan exactly these; later lines are scanned next round
            for line in self.lines[seen:current]:
                match = regex.search(line)
                if match:
                    return match
            seen = current
            try:
                self._queue.get(timeout=0.1)
            except queue.Empty:
                if self.proc.poll() is not None and seen == len(self.lines):
                    break
        raise AssertionError(f"no line matching {pattern!r}; output so far:\n" + "\n".join(self.lines))

    def stop(self, timeout=30.0):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        if self.proc.stdout:
            self.proc.stdout.close()
        return self.proc.returncode


class ServerProcess(_Process):
    """A real toolbox server on 127.0.0.1 and a free port; ``stop`` fails the test when the
    server's output holds a traceback.

    When the suite runs on a MongoDB (``TOOLBOX_TEST_MONGODB_URI``), so does the server,
    on a database of its own, unless ``env`` names one.
    """

    def stop(self, timeout=30.0):
        code = super().stop(timeout)
        tracebacks = [n for n, line in enumerate(self.lines) if "Traceback (most recent call last)" in line]
        if tracebacks:
            first = tracebacks[0]
            raise AssertionError("the server logged a traceback:\n" + "\n".join(self.lines[first:first + 30]))
        return code

    def __init__(self, env=None, args=(), cwd=None):
        env = dict(env or {})
        shared = os.environ.get("TOOLBOX_TEST_MONGODB_URI")
        if shared and "MONGODB_URI" not in env:
            env["MONGODB_URI"] = f"{shared.rstrip('/')}/toolbox_process_{uuid.uuid4().hex[:10]}"
        super().__init__([sys.executable, "-m", "toolbox", "--port", "0", *args], env=env, cwd=cwd)
        self.url = self.wait_for_line(URL_RE.pattern).group(1).rstrip("/")


class AgentProcess(_Process):
    """A real toolbox-agent process."""

    def __init__(self, server_url, name, token, args=(), cwd=None):
        super().__init__([sys.executable, "-m", "toolbox.agent", "--server", server_url,
                          "--name", name, f"--token={token}", *args], cwd=cwd)
