"""Stopping a server process without dropping a request (the field agent dies on one).

The deployed Go agent crashes on any request that is refused, reset or closed without
an answer (shared/legacy-agent.md, 2c), and it keeps a fetch parked at all times.  So
a stop — a restart, an upgrade — must answer everything it holds
(``Services.stop_gracefully`` in ``toolbox.server.wiring``, which this module's
``Requests`` counts for):

1. stop accepting (``stop_accepting``): first every connection the kernel has already
   queued on the listening sockets is accepted and served, then, with no wait between, the
   sockets close (with ``--reuse-port`` a new process has bound the same port already and
   takes the new connections);
2. answer every parked fetch at once with the empty reply, and from now on any new
   fetch too; every answer says ``Connection: close``, so each client's next request
   opens a new connection (to the new process);
3. wait until no request is in flight and ``settle`` seconds have passed (clients on
   kept-alive connections get their next request answered, and their connection
   closed after it), at most ``limit`` seconds;
4. stop the services, then close the connections left (idle ones).

A connection the kernel has queued on a listening socket but the process has not accepted
yet is reset when that socket closes.  A busy process accepts only between turns of its
event loop, so without step 1's sweep every connection queued since the last turn would
be reset: a field agent each.  With it, only one that arrives in the microseconds between
the sweep and the close can be; Linux can hand even those to another listener of the port
(``net.ipv4.tcp_migrate_req = 1``, Linux 5.14+): set it on hosts that restart often.
"""

import errno
import socket
from collections.abc import Iterable
from typing import TYPE_CHECKING

from tornado.iostream import IOStream

if TYPE_CHECKING:
    from tornado.httpserver import HTTPServer

SETTLE_SECONDS = 2.0
LIMIT_SECONDS = 30.0
MAX_TAKEN = 4096  # connections taken in from one listening socket's queue at the stop (its backlog is 128)


class Requests:
    """The HTTP requests in flight in this process, and whether it is stopping."""

    def __init__(self) -> None:
        self.in_flight = 0
        self.draining = False
        self.api_pending = 0  # API requests past their first line (handlers.base sheds beyond a limit)

    def opened(self) -> None:
        self.in_flight += 1

    def closed(self) -> None:
        self.in_flight -= 1


def stop_accepting(server: "HTTPServer", listening: Iterable[socket.socket]) -> int:
    """Stop ``server`` listening on ``listening``; return how many queued connections it took in.

    Every connection already queued on the sockets is first accepted and served by
    ``server``, as Tornado's accept handler would (a plain-HTTP server), then
    ``server.stop()`` closes the sockets in the same step (no ``await`` between), so that
    nothing queued in the meantime is reset by the close.  The sockets are non-blocking
    (as ``tornado.netutil.bind_sockets`` makes them); at most ``MAX_TAKEN`` are taken from
    each, so that a flood of new connections cannot hold the stop.
    """
    taken = 0
    for sock in listening:
        for _ in range(MAX_TAKEN):
            try:
                connection, address = sock.accept()
            except BlockingIOError:
                break  # the queue is empty
            except OSError as error:
                if error.errno == errno.ECONNABORTED:
                    continue  # the client gave up while queued
                break  # the socket is not listening (closed already): nothing queued
            stream = IOStream(connection, max_buffer_size=server.max_buffer_size,
                              read_chunk_size=server.read_chunk_size)
            server.handle_stream(stream, address)
            taken += 1
    server.stop()
    return taken
