"""Parse the timing line of ``curl -sS -o /dev/null -w CURL_WRITE_OUT URL``.

Tool templates must use :data:`CURL_WRITE_OUT` as the ``-w`` argument so that this
parser recognises the output.  It contains no whitespace, so it survives the legacy
agent, which splits commands on whitespace and runs them without a shell.  Result::

    {"kind": "curl", "dns_ms", "connect_ms", "tls_ms", "ttfb_ms", "total_ms",
     "http_status", "remote_ip", "size_bytes", "error", "error_code"}

Times are curl's cumulative seconds converted to milliseconds; ``tls_ms`` is None when
curl reports 0 (no TLS handshake); ``http_status`` is 0 when no response arrived.
"""

import re

from ._common import to_float, safe_parser

CURL_WRITE_OUT = (
    "toolbox-curl:dns=%{time_namelookup};connect=%{time_connect};"
    "tls=%{time_appconnect};ttfb=%{time_starttransfer};total=%{time_total};"
    "http=%{http_code};ip=%{remote_ip};size=%{size_download}"
)

_NUM = r"([\d.,]*)"
_LINE = re.compile(
    r"toolbox-curl:dns=" + _NUM + r";connect=" + _NUM + r";tls=" + _NUM
    + r";ttfb=" + _NUM + r";total=" + _NUM + r";http=(\d*);ip=([^;\s]*);size=([\d.]*)"
)
# "curl: (6) Could not resolve host: nosuch.example"; the message runs to the timing
# line, the next curl error or the end (the same in multi-line and collapsed form).
_ERROR = re.compile(r"curl:\s*\((\d+)\)\s*(.*?)\s*(?=toolbox-curl:|curl:\s*\(\d+\)|$)")


def _ms(seconds):
    """Convert curl's seconds to milliseconds, rounded to the microsecond."""
    value = to_float(seconds)
    return None if value is None else round(value * 1000.0, 3)


@safe_parser
def parse_curl(text):
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
    }
    if line:
        dns, connect, tls, ttfb, total, http, ip, size = line.groups()
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
        )
    return result
