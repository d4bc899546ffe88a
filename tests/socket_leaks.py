"""Leaked sockets, reported by the test file that leaked them and with where they were made.

The suite turns every warning into an error (tox.ini), so a socket that is never closed
fails the run with ``ResourceWarning: unclosed <socket.socket ...>``.  Python only notices
when the socket is garbage-collected, and a socket held in a reference cycle (a Tornado
stream and its callbacks, an exception and its traceback) waits for a full collection,
which may come many test files later.  Such a failure then names a test that had nothing
to do with it, and says nothing of where the socket came from.

This plugin (``pytest_plugins`` in ``tests/conftest.py``) makes both precise:

- every ``socket.socket`` made in the test process remembers the code that made it (the
  innermost frames, a few hundred bytes; forgotten shortly after the socket is freed), and
  the report of an unclosed one starts with that code;
- a full collection runs at the end of each test file, so a leak fails the last test of
  the file it happened in, not a later one.

It changes no verdict: an unclosed socket fails the run as before.
"""

import collections
import gc
import socket
import sys
import traceback
import weakref

import pytest

FRAMES = 14  # innermost frames kept: enough to reach the test's own code through a library
FREED_KEPT = 2000  # origins kept after their sockets are freed (a cycle is freed before it is finalized)

_origins: dict[int, str] = {}
_freed: "collections.OrderedDict[int, str]" = collections.OrderedDict()
_original_init = socket.socket.__init__


def _where() -> str:
    frames = traceback.extract_stack(limit=FRAMES + 2)[:-2]  # not this function nor the __init__
    return "".join(f"  {frame.filename}:{frame.lineno} in {frame.name}\n" for frame in frames)


def _forget(key: int) -> None:
    # A collected cycle clears weak references before it runs finalizers (where the
    # warning is raised), so the origin moves to a short list of the recently freed.
    origin = _origins.pop(key, None)
    if origin is not None:
        _freed[key] = origin
        while len(_freed) > FREED_KEPT:
            _freed.popitem(last=False)


def _remembering_init(self, *args, **kwargs):
    _original_init(self, *args, **kwargs)
    key = id(self)
    _origins[key] = _where()
    _freed.pop(key, None)
    weakref.finalize(self, _forget, key)


def origin_of(sock: object) -> "str | None":
    """Where ``sock`` was made, while it or its memory of it lasts."""
    key = id(sock)
    return _origins.get(key) or _freed.get(key)


@pytest.hookimpl(trylast=True)  # after pytest's own, whose unraisable hook this wraps
def pytest_configure(config: pytest.Config) -> None:
    """Remember where sockets are made; name it in the report of an unclosed one."""
    socket.socket.__init__ = _remembering_init  # type: ignore[method-assign]
    reporting = sys.unraisablehook  # pytest's, installed at its own configure

    def hook(unraisable):
        origin = origin_of(unraisable.object) if isinstance(unraisable.object, socket.socket) else None
        if origin:
            message = (unraisable.err_msg or "Exception ignored in") + f" (a socket made at\n{origin})"
            unraisable = type(unraisable)((unraisable.exc_type, unraisable.exc_value,
                                           unraisable.exc_traceback, message, unraisable.object))
        reporting(unraisable)

    sys.unraisablehook = hook
    config.add_cleanup(lambda: setattr(sys, "unraisablehook", reporting))
    config.add_cleanup(lambda: setattr(socket.socket, "__init__", _original_init))


@pytest.fixture(autouse=True, scope="module")
def collect_at_the_end_of_each_file():
    """A full collection after each test file: its leaks fail its own last test."""
    yield
    gc.collect()
