"""Parse the write-out line of ``curl -sS -o /dev/null -w CURL_WRITE_OUT URL``.

:data:`CURL_WRITE_OUT` is the one copy of the ``-w`` format: the tool templates in
``toolbox.tools.catalogue`` import it from here, so the command and this parser cannot drift
apart.  It contains no whitespace (it is one argv token for agents that split commands
on whitespace), and it ends with ``exit=%{exitcode};error=%{errormsg}`` so that a
failure is readable from standard output alone (the field agent drops standard error,
where ``-sS`` prints ``curl: (7) ...``).  Those two variables need curl 7.75 or later;
older curls print nothing for them (``exit=;error=``), which parses as "not said".
Result::

    {"kind": "curl", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms",
     "http_status", "remote_ip", "size_bytes", "error", "error_code", "exit_code"}

Times are curl's cumulative seconds converted to milliseconds; ``tls_ms`` is None when
curl reports 0 (no TLS handshake); ``http_status`` is 0 when no response arrived.
``exit_code`` is curl's own ``%{exitcode}`` (0 = the transfer worked), None when the
output does not carry it (an older curl, or the format used before it was added).
``error`` is curl's message, from ``curl: (N) ...`` on standard error when the output
has it, else from ``%{errormsg}``; ``error_code`` is that ``N``, else the non-zero
``exit_code``.
"""

import re

from ._common import Parsed, to_float, safe_parser

CURL_WRITE_OUT = (
    "toolbox-curl:dns=%{time_namelookup};connect=%{time_connect};"
    "tls=%{time_appconnect};ttfb=%{time_starttransfer};total=%{time_total};"
    "http=%{http_code};ip=%{remote_ip};size=%{size_download};"
    "exit=%{exitcode};error=%{errormsg}\\n"
)

_NUM = r"([\d.,]*)"
# The message of %{errormsg} (it may hold spaces and ';') or of "curl: (N) ..." runs to
# the next write-out line, the next curl error or the end: the same in the multi-line
# and the collapsed form.
_UNTIL_NEXT = r"\s*(?=toolbox-curl:|curl:\s*\(\d+\)|$)"
_LINE = re.compile(
    r"toolbox-curl:dns=" + _NUM + r";connect=" + _NUM + r";tls=" + _NUM
    + r";ttfb=" + _NUM + r";total=" + _NUM + r";http=(\d*);ip=([^;\s]*);size=([\d.]*)"
    + r"(?:;exit=(\d*);error=(.*?)" + _UNTIL_NEXT + r")?"
)
# "curl: (6) Could not resolve host: nosuch.example" (standard error, when it was kept).
_ERROR = re.compile(r"curl:\s*\((\d+)\)\s*(.*?)" + _UNTIL_NEXT)


def _ms(seconds: str | None) -> float | None:
    """Convert curl's seconds to milliseconds, rounded to the microsecond."""
    value = to_float(seconds)
    return None if value is None else round(value * 1000.0, 3)


@safe_parser
def parse_curl(text: str) -> Parsed | None:
    """Parse curl's write-out line and error message; None when neither is present."""
    line = _LINE.search(text)
    error = _ERROR.search(text)
    if not line and not error:
        return None
    result = {
        "kind": "curl",
        "dns_ms": None,
        "connect_ms": None,
        "tls_ms": None,
        "ttfb_ms": None,
        "total_ms": None,
        "http_status": None,
        "remote_ip": None,
        "size_bytes": None,
        "error": (error.group(2)[:300] or None) if error else None,
        "error_code": int(error.group(1)) if error else None,
        "exit_code": None,
    }
    if line:
        dns, connect, tls, ttfb, total, http, ip, size, exit_code, message = line.groups()
        size_value = to_float(size)
        result.update(
            dns_ms=_ms(dns),
            connect_ms=_ms(connect),
            tls_ms=_ms(tls) or None,
            ttfb_ms=_ms(ttfb),
            total_ms=_ms(total),
            http_status=int(http) if http else 0,
            remote_ip=ip or None,
            size_bytes=int(size_value) if size_value is not None else None,
            exit_code=int(exit_code) if exit_code else None,
        )
        if result["error"] is None and message:
            result["error"] = message[:300]
        if result["error_code"] is None and result["exit_code"]:
            result["error_code"] = result["exit_code"]
    return result
