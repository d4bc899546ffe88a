"""A real toolbox server in a thread of the test process (its own event loop), for browser
tests that also need the server's services: ``run(coro)`` runs a coroutine on the
server's loop (e.g. points written through ``app.toolbox.series.record``, the write path
the series tests use) and returns its result.

Everything else is as with ``tests.processes.ServerProcess``: it listens on 127.0.0.1 on
a free port, serves the same routes, and ``url``/``login_url`` say where.
"""

import asyncio
import dataclasses
import threading

from toolbox.server.config import Config

TIMEOUT = 120.0


class ServerThread:
    def __init__(self, admin_token, **overrides):
        self.config = dataclasses.replace(Config(poll_timeout=2.0, sweep_interval=0.2, admin_token=admin_token,
                                                 secret="test-secret-" + "x" * 32), **overrides)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.failure = None
        self.thread = threading.Thread(target=self._main, name="toolbox-server", daemon=True)
        self.thread.start()
        if not self.ready.wait(60) or self.failure:
            raise AssertionError(f"the server did not start: {self.failure}")

    def _main(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._start())
        except Exception as error:  # said by the constructor
            self.failure = error
            self.ready.set()
            return
        self.ready.set()
        self.loop.run_forever()

    async def _start(self):
        from tornado import httpserver, netutil

        from toolbox.handlers import routes
        from toolbox.server.app import make_app

        self.app = make_app(self.config, routes=routes())
        await self.app.toolbox.start()
        self.sockets = netutil.bind_sockets(0, "127.0.0.1")
        self.server = httpserver.HTTPServer(self.app)
        self.server.add_sockets(self.sockets)
        self.url = f"http://127.0.0.1:{self.sockets[0].getsockname()[1]}"
        self.login_url = f"{self.url}/auth/local?token={self.app.toolbox.local_login.token}"

    def run(self, coro, timeout=TIMEOUT):
        """Run ``coro`` on the server's loop; its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self):
        async def shutdown():
            self.server.stop()
            await self.app.toolbox.stop()

        try:
            self.run(shutdown(), timeout=30)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(30)
