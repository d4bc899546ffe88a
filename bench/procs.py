"""Processes: the servers under test (toolBox, baseline) and load-generator workers.

Every child is bounded: servers are stopped by the harness (SIGTERM, then SIGKILL),
workers run their coroutine under a deadline and exit by themselves.
"""

import asyncio
import multiprocessing
import os
import pathlib
import resource
import signal
import subprocess
import sys
import threading
import time
import traceback

ROOT = pathlib.Path(__file__).resolve().parent.parent
CLK_TCK = os.sysconf("SC_CLK_TCK")


def raise_fd_limit():
    """Raise the soft open-files limit to the hard limit; return it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# --- servers ---

class ServerProcess:
    """A server child process (toolBox or the baseline) and its /proc figures."""

    def __init__(self, name, argv, env, logdir):
        self.name = name
        self.log_path = pathlib.Path(logdir) / f"{name}.log"
        self._log = open(self.log_path, "w")
        full_env = dict(os.environ, PYTHONPATH=str(ROOT), **env)
        full_env.pop("MONGODB_URI", None)  # always the embedded database
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=full_env, stdout=subprocess.PIPE,
                                     stderr=self._log, text=True, preexec_fn=raise_fd_limit)
        self.pid = self.proc.pid
        self.url = None
        self.lines = []
        self._ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self):
        for line in self.proc.stdout:
            self.lines.append(line.rstrip())
            if "listening on " in line and self.url is None:
                self.url = line.split("listening on ", 1)[1].strip().rstrip("/")
                self._ready.set()
        self._ready.set()

    def wait_ready(self, timeout=20):
        if not self._ready.wait(timeout) or self.url is None:
            self.stop()
            raise RuntimeError(f"{self.name} did not start; see {self.log_path}: {self.lines[-5:]}")
        host, port = self.url.split("//", 1)[1].rsplit(":", 1)
        self.host, self.port = host, int(port)
        return self

    def rss_kb(self):
        for line in pathlib.Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        raise RuntimeError("no VmRSS")

    def cpu_seconds(self):
        fields = pathlib.Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime

    def sockets(self):
        """Open sockets of the process (connections plus its listening sockets)."""
        count = 0
        fd_dir = f"/proc/{self.pid}/fd"
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(f"{fd_dir}/{fd}").startswith("socket:"):
                    count += 1
            except OSError:
                pass
        return count

    def wait_idle(self, timeout=60, interval=0.25, threshold=0.05):
        """Wait until the server uses less than ``threshold`` of a core for two intervals."""
        deadline, quiet = time.monotonic() + timeout, 0
        last = self.cpu_seconds()
        while time.monotonic() < deadline:
            time.sleep(interval)
            now = self.cpu_seconds()
            quiet = quiet + 1 if (now - last) / interval < threshold else 0
            last = now
            if quiet >= 2:
                return True
        return False

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()


def start_toolbox(admin_token, logdir, poll_timeout=600, extra_env=None, mongodb_uri=None, name="toolbox"):
    """A toolbox server on a free port: the embedded database, or ``mongodb_uri``."""
    env = {"TOOLBOX_ADMIN_TOKEN": admin_token, "TOOLBOX_POLL_TIMEOUT": str(poll_timeout),
           "TOOLBOX_SECRET": "bench-secret-" + "x" * 32}
    env.update(extra_env or {})
    argv = [sys.executable, "-m", "toolbox", "--host", "127.0.0.1", "--port", "0"]
    if mongodb_uri:
        argv += ["--mongodb-uri", mongodb_uri]
    return ServerProcess(name, argv, env, logdir).wait_ready()


def start_baseline(admin_token, logdir, poll_timeout=600):
    argv = [sys.executable, "-m", "bench.baseline", "--port", "0", "--admin-token", admin_token,
            "--poll-timeout", str(poll_timeout)]
    return ServerProcess("baseline", argv, {}, logdir).wait_ready()


# --- load-generator workers ---

class Control:
    """A worker's side of its pipe to the harness."""

    def __init__(self, pipe):
        self.pipe = pipe

    def send(self, message):
        self.pipe.send(message)

    async def recv(self):
        while not self.pipe.poll():
            await asyncio.sleep(0.01)
        return self.pipe.recv()


def _worker_main(pipe, fn, kwargs, deadline):
    raise_fd_limit()
    try:
        result = asyncio.run(asyncio.wait_for(fn(Control(pipe), **kwargs), deadline))
        pipe.send(("result", result))
    except BaseException:  # report everything: the harness turns it into an error
        pipe.send(("error", traceback.format_exc()))


class Worker:
    """A load generator in its own process, running ``fn(ctl, **kwargs)`` for at most ``deadline`` s."""

    def __init__(self, fn, deadline, **kwargs):
        context = multiprocessing.get_context("fork")
        self.pipe, child = context.Pipe()
        self.deadline = deadline
        self.proc = context.Process(target=_worker_main, args=(child, fn, kwargs, deadline), daemon=True)
        self.proc.start()
        self.started = time.monotonic()

    def send(self, message):
        self.pipe.send(message)

    def recv(self, timeout=None):
        """The worker's next message; its result is ("result", value)."""
        limit = self.deadline + 10 - (time.monotonic() - self.started)
        timeout = limit if timeout is None else min(timeout, limit)
        if not self.pipe.poll(max(timeout, 0)):
            self.kill()
            raise RuntimeError(f"worker {self.proc.pid} sent nothing within {timeout:.0f}s")
        message = self.pipe.recv()
        if isinstance(message, tuple) and message and message[0] == "error":
            self.kill()
            raise RuntimeError(f"worker failed:\n{message[1]}")
        return message

    def expect(self, kind, timeout=None):
        message = self.recv(timeout)
        if message[0] != kind:
            raise RuntimeError(f"worker sent {message[0]!r}, expected {kind!r}")
        return message[1]

    def result(self, timeout=None):
        value = self.expect("result", timeout)
        self.proc.join(5)
        return value

    def kill(self):
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
