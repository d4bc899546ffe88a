"""A real server with agents for the ``tbx`` tests, and a way to run ``tbx`` against it.

``Fleet`` starts a ``toolbox`` server, two ``toolbox-agent`` processes (``lab-1`` and
``lab-2``, tagged ``site:lab``; ``lab-2`` also ``isp:telecom``), the emulated field agent
(``field-1``, tag ``field:yes``) and an agent that never connects (``ghost``: its tasks
stay queued).  ``fleet.tbx(*args)`` runs ``python -m toolbox.cli`` with ``TOOLBOX_URL`` and
``TOOLBOX_TOKEN`` pointing at it, ``XDG_CONFIG_HOME`` in a temporary folder, stdout a
pipe; it returns the ``CompletedProcess``.  Everything is on 127.0.0.1.
"""

import json
import os
import subprocess
import sys
import time
import urllib.request

from tests.field_agent import FieldAgent
from tests.processes import AgentProcess, ServerProcess, _import_root, wait_until

ADMIN = "cli-test-admin-token-0123456789-abcdefgh"


def call(url, method="GET", body=None, token=ADMIN):
    """The JSON answer to one API call (raising on an HTTP error)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def tbx_env(url, token, config_home, **extra):
    """The environment a ``tbx`` process runs with: the server, the token, a config folder."""
    # COLUMNS and LINES go too: pytest-xdist's workers set them (80 x 24), and rich would
    # take them over the size of the pseudo-terminal a test gives tbx
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "TOOLBOX_URL", "TOOLBOX_TOKEN", "COLUMNS", "LINES")}
    env.update(PYTHONPATH=os.pathsep.join(filter(None, [_import_root(), env.get("PYTHONPATH")])),
               XDG_CONFIG_HOME=str(config_home), PYTHONUNBUFFERED="1")
    if url:
        env["TOOLBOX_URL"] = url
    if token:
        env["TOOLBOX_TOKEN"] = token
    env.update(extra)
    return env


class Fleet:
    def __init__(self, workdir, server_env=None):
        self.workdir = workdir
        self.server = ServerProcess(env={"TOOLBOX_ADMIN_TOKEN": ADMIN, "TOOLBOX_POLL_TIMEOUT": "5",
                                         "TOOLBOX_JOBS_PER_MINUTE": "1000", **(server_env or {})}, cwd=workdir)
        self.url = self.server.url
        self.agents = []
        self.field = None
        try:
            for name, tags in (("lab-1", ["site:lab"]), ("lab-2", ["site:lab", "isp:telecom"])):
                token = call(self.url + "/api/agents", "POST", {"name": name, "tags": tags})["token"]
                self.agents.append(AgentProcess(self.url, name, token, cwd=workdir))
            token = call(self.url + "/api/agents", "POST", {"name": "field-1", "tags": ["field:yes"]})["token"]
            self.field = FieldAgent(self.url, "field-1", token).start()
            call(self.url + "/api/agents", "POST", {"name": "ghost", "tags": ["ghost:yes"]})
            online = wait_until(lambda: {a["name"] for a in call(self.url + "/api/agents")["items"] if a["online"]}
                                >= {"lab-1", "lab-2", "field-1"}, 30)
            assert online, call(self.url + "/api/agents")
        except BaseException:
            self.stop()
            raise

    def tbx(self, *args, token=ADMIN, url=None, input=None, timeout=90, **env):
        """Run ``tbx args`` (stdout and stderr pipes); the CompletedProcess."""
        return subprocess.run([sys.executable, "-m", "toolbox.cli", *args], capture_output=True, text=True,
                              input=input, timeout=timeout, cwd=self.workdir,
                              env=tbx_env(url or self.url, token, self.workdir / "config", **env))

    def stop(self):
        if self.field is not None:
            self.field.stop()
        for agent in self.agents:
            agent.proc.terminate()
        for agent in self.agents:
            agent.proc.wait(30)
        time.sleep(0.3)  # each output reader reaches the end before stop() closes the pipe
        for agent in self.agents:
            agent.stop()
        code = self.server.stop()
        assert code == 0, "\n".join(self.server.lines)
