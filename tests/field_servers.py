"""Tiny servers on 127.0.0.1 for running the real tool commands against (no other address).

- :func:`http_server`: answers ``/`` with 200 and anything else with 404;
- :func:`dns_responder`: UDP DNS on a random port: ``two.toolbox.test`` has two A
  records, ``servfail.toolbox.test`` answers SERVFAIL, ``refused.toolbox.test``
  REFUSED, every other name NXDOMAIN;
- :func:`closed_port`: a port bound but not listening (a connect is refused, and no
  other process can take the port meanwhile);
- :func:`unanswered_port`: a listener whose accept queue is full, so a new connect gets
  no answer at all and times out, as a filtered port does.

Each is a context manager yielding the port; every loop and wait is bounded.

:func:`empty_network` gives the argv prefix that runs a command in a network namespace of
its own with no interface up (``unshare -rn``): there a name lookup or a packet fails on
the spot, so unknown-host and unreachable-network cases never send anything anywhere.
"""

import contextlib
import functools
import http.server
import shutil
import socket
import struct
import subprocess
import threading

LOCALHOST = "127.0.0.1"
ZONE = "toolbox.test."
TWO_A_NAME = "two." + ZONE
TWO_A_RECORDS = ("127.0.0.1", "127.0.0.2")  # data in the answer only: nothing connects
RCODES = {"servfail." + ZONE: 2, "refused." + ZONE: 5}
NXDOMAIN = 3


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        status = 200 if self.path == "/" else 404
        body = b"ok\n" if status == 200 else b"not found\n"
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def http_server():
    """Serve HTTP on 127.0.0.1; yield the port."""
    server = http.server.ThreadingHTTPServer((LOCALHOST, 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _question(packet):
    """Return (name, end offset) of the first question of a DNS query."""
    labels, offset = [], 12
    for _ in range(128):  # a name has at most 127 labels
        length = packet[offset]
        offset += 1
        if length == 0:
            break
        labels.append(packet[offset:offset + length].decode("ascii", "replace").lower())
        offset += length
    return ".".join(labels) + ".", offset + 4  # + qtype and qclass


def dns_answer(packet):
    """Build the reply to one DNS query (no EDNS in the reply)."""
    query_id, flags = struct.unpack("!HH", packet[:4])
    name, end = _question(packet)
    answers = []
    if name == TWO_A_NAME:
        rcode = 0
        for address in TWO_A_RECORDS:
            answers.append(struct.pack("!HHHIH", 0xC00C, 1, 1, 300, 4)
                           + socket.inet_aton(address))
    else:
        rcode = RCODES.get(name, NXDOMAIN)
    reply_flags = 0x8000 | 0x0400 * (rcode == 0) | (flags & 0x0100) | 0x0080 | rcode
    header = struct.pack("!HHHHHH", query_id, reply_flags, 1, len(answers), 0, 0)
    return header + packet[12:end] + b"".join(answers)


@contextlib.contextmanager
def dns_responder(port=0):
    """Answer DNS over UDP on 127.0.0.1 (``port``, 0: a random one); yield the port.
    OSError when the port cannot be bound."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.bind((LOCALHOST, port))
    except OSError:
        sock.close()
        raise
    sock.settimeout(0.05)
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            try:
                packet, peer = sock.recvfrom(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            try:
                sock.sendto(dns_answer(packet), peer)
            except (IndexError, struct.error):
                pass  # not a DNS query: no answer

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@contextlib.contextmanager
def listening_port():
    """A port that accepts connections (the kernel completes them; nobody reads)."""
    sock = socket.socket()
    sock.bind((LOCALHOST, 0))
    sock.listen(16)
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def closed_port():
    """A port bound but not listening: connecting to it is refused."""
    sock = socket.socket()
    sock.bind((LOCALHOST, 0))
    try:
        yield sock.getsockname()[1]
    finally:
        sock.close()


@contextlib.contextmanager
def unanswered_port():
    """A listener with a full accept queue: Linux drops new SYNs, so connects time out."""
    server = socket.socket()
    server.bind((LOCALHOST, 0))
    server.listen(0)
    port = server.getsockname()[1]
    filler = socket.create_connection((LOCALHOST, port), timeout=2)
    try:
        yield port
    finally:
        filler.close()
        server.close()


@functools.lru_cache(maxsize=1)
def empty_network():
    """``["unshare", "-rn"]`` where that works here, else None (no user namespaces)."""
    if not shutil.which("unshare"):
        return None
    try:
        probe = subprocess.run(["unshare", "-rn", "true"], stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return ["unshare", "-rn"] if probe.returncode == 0 else None
