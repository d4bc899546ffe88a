"""Stopping a server process without dropping a request (the field agent dies on one).

The deployed Go agent crashes on any request that is refused, reset or closed without
an answer (shared/legacy-agent.md, 2c), and it keeps a fetch parked at all times.  So
a stop — a restart, an upgrade — must answer everything it holds
(``Services.stop_gracefully`` in ``toolbox.server.wiring``, which this module's
``Requests`` counts for):

1. stop accepting: the listening sockets close (with ``--reuse-port`` a new process has
   bound the same port already and takes the new connections);
2. answer every parked fetch at once with the empty reply, and from now on any new
   fetch too; every answer says ``Connection: close``, so each client's next request
   opens a new connection (to the new process);
3. wait until no request is in flight and ``settle`` seconds have passed (clients on
   kept-alive connections get their next request answered, and their connection
   closed after it), at most ``limit`` seconds;
4. stop the services, then close the connections left (idle ones).

One thing no process can do on its own: a connection the kernel had queued on the old
listening socket but the process had not accepted yet is reset when that socket closes.
Linux can hand such connections to another listener of the port
(``net.ipv4.tcp_migrate_req = 1``, Linux 5.14+): set it on hosts that restart often.
"""

SETTLE_SECONDS = 2.0
LIMIT_SECONDS = 30.0


class Requests:
    """The HTTP requests in flight in this process, and whether it is stopping."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False

    def opened(self) -> None:
        self.in_flight += 1

    def closed(self) -> None:
        self.in_flight -= 1
