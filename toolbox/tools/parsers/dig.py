"""Parse DNS lookups: ``dig`` (full output or ``+nocmd +noall +answer +stats``) and ``nslookup``.

Both run on the collapsed one-line form.  Records are found by their shape
(``name. TTL CLASS TYPE data``) and a record's data runs up to the next record or the
next ``;`` comment, so line breaks are never needed.  Result::

    {"kind": "dig", "status", "answers": [{"name", "ttl", "class", "type", "data"}],
     "query_time_ms", "server", "error"}

nslookup gives the same shape (``ttl`` None, ``query_time_ms`` None).
"""

import re
from typing import Any

from ._common import Parsed, is_hostish, is_ip, safe_parser

# --- dig ---
_STATUS = re.compile(r"\bstatus:\s*([A-Z]+)")
_QUERY_TIME = re.compile(r"Query\s+time:\s*(\d+(?:\.\d+)?)\s*(msec|usec|ms)\b")
_SERVER = re.compile(r"SERVER:\s*([^\s#()]+)")
_RECORD = re.compile(
    r"(?:^|(?<=\s))([^\s;]\S*\.)\s+(\d+)\s+(IN|CH|HS|CLASS\d+)\s+([A-Z][A-Z0-9-]*)(?=\s|$)"
)
_COMMENT = re.compile(r"(?:^|\s);")  # a token that starts with ';' ends the data
_ANSWER_SECTION = re.compile(r"ANSWER\s+SECTION:")
_ANY_SECTION = re.compile(r"[A-Z]+\s+SECTION:")
_DIG_ERRORS = (
    re.compile(r"no\s+servers\s+could\s+be\s+reached", re.I),
    re.compile(r"connection\s+timed\s+out", re.I),
    re.compile(r"communications\s+error[^;]*", re.I),
    re.compile(r"couldn't\s+get\s+address\s+for\s+'[^']*'[^;]*", re.I),
)
_DIG_MARKERS = re.compile(r"<<>>\s*DiG|;;\s|->>HEADER<<-")

# --- nslookup ---
_NS_SERVER = re.compile(
    r"(?:Server|服务器)\s*[:：]\s*(\S+)\s+(?:Address|地址)\s*[:：]\s*([^\s#]+)(?:#\d+)?"
)
_NS_NAME = re.compile(r"(?:\bName|名称)\s*[:：]\s*(\S+)")
_NS_ADDRESSES = re.compile(r"(?:Addresses|Address|地址)\s*[:：]\s*")
_NS_ALIASES = re.compile(r"Aliases\s*[:：]\s*")
_NS_CANONICAL = re.compile(r"(?<!\S)(\S+)\s+canonical\s+name\s*=\s*(\S+)")
_NS_STATUS = (
    (re.compile(r"Non-existent\s+domain|NXDOMAIN", re.I), "NXDOMAIN"),
    (re.compile(r"Server\s+failed|SERVFAIL", re.I), "SERVFAIL"),
    (re.compile(r"Query\s+refused|REFUSED", re.I), "REFUSED"),
)
_NS_ERROR = re.compile(
    r"DNS\s+request\s+timed\s+out|No\s+response\s+from\s+server|connection\s+timed\s+out"
    r"|请求超时|no\s+servers\s+could\s+be\s+reached",
    re.I,
)


def _result(status: str | None = None, answers: list[dict[str, Any]] | None = None,
            query_time_ms: float | None = None, server: str | None = None, error: str | None = None) -> Parsed:
    """Return a dig result with every key present."""
    return {
        "kind": "dig",
        "status": status,
        "answers": answers or [],
        "query_time_ms": query_time_ms,
        "server": server,
        "error": error,
    }


def _records(region: str) -> list[dict[str, Any]]:
    """Return every resource record found in ``region``."""
    matches = list(_RECORD.finditer(region))
    records: list[dict[str, Any]] = []
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(region)
        comment = _COMMENT.search(region, m.end(), end)
        if comment:
            end = comment.start()
        records.append({
            "name": m.group(1),
            "ttl": int(m.group(2)),
            "class": m.group(3),
            "type": m.group(4),
            "data": " ".join(region[m.end():end].split()),
        })
    return records


def _dig_answers(text: str) -> list[dict[str, Any]]:
    """Records of the ANSWER section, or of the whole text in ``+noall +answer`` form."""
    section = _ANSWER_SECTION.search(text)
    if section:
        end = _COMMENT.search(text, section.end())
        return _records(text[section.end():end.start() if end else len(text)])
    if _ANY_SECTION.search(text):  # full output with no ANSWER section (e.g. NXDOMAIN)
        return []
    return _records(text)


def _parse_dig(text: str) -> Parsed | None:
    """Parse dig's collapsed output, or None."""
    answers = _dig_answers(text)
    status = _STATUS.search(text)
    qtime = _QUERY_TIME.search(text)
    server = _SERVER.search(text)
    error = next((m for m in (r.search(text) for r in _DIG_ERRORS) if m), None)
    if not (answers or status or qtime or server or error):
        return None
    query_time_ms = None
    if qtime:
        query_time_ms = float(qtime.group(1))
        if qtime.group(2) == "usec":
            query_time_ms /= 1000.0
    status_text = status.group(1) if status else None
    if status_text is None and answers:
        status_text = "NOERROR"  # +noall hides the header, but answers imply success
    error_text = None
    if error and not answers and not status:
        error_text = " ".join(error.group(0).split()).rstrip(";: ")
    return _result(
        status=status_text,
        answers=answers,
        query_time_ms=query_time_ms,
        server=server.group(1) if server else None,
        error=error_text,
    )


def _ns_answers(region: str) -> list[dict[str, Any]]:
    """Return A/AAAA/CNAME records from nslookup's answer part."""
    answers: list[dict[str, Any]] = []
    for cname in _NS_CANONICAL.finditer(region):
        answers.append(_ns_record(cname.group(1), "CNAME", cname.group(2)))
    names = list(_NS_NAME.finditer(region))
    for i, m in enumerate(names):
        end = names[i + 1].start() if i + 1 < len(names) else len(region)
        part = region[m.end():end]
        name = m.group(1)
        addrs = _NS_ADDRESSES.search(part)
        if addrs:
            for tok in part[addrs.end():].split():
                if not is_ip(tok):
                    break
                answers.append(_ns_record(name, "AAAA" if ":" in tok else "A", tok))
        aliases = _NS_ALIASES.search(part)
        if aliases:
            for tok in part[aliases.end():].split():
                if tok.endswith(":") or not is_hostish(tok):
                    break
                answers.append(_ns_record(tok, "CNAME", name))
    return answers


def _ns_record(name: str, rtype: str, data: str) -> dict[str, Any]:
    """Build one answer record in dig's shape (nslookup prints no TTL)."""
    return {"name": name, "ttl": None, "class": "IN", "type": rtype, "data": data}


def _parse_nslookup(text: str) -> Parsed | None:
    """Parse nslookup's collapsed output (Windows, Chinese Windows, Linux), or None."""
    server = _NS_SERVER.search(text)
    if not server:
        return None
    region = text[server.end():]
    answers = _ns_answers(region)
    status = None
    for regex, name in _NS_STATUS:
        if regex.search(region):
            status = name
            break
    error = None
    err = _NS_ERROR.search(text)
    if status is None:
        if answers:
            status = "NOERROR"
        elif err:
            error = " ".join(err.group(0).split())
        elif re.search(r"No\s+answer|can't\s+find|找不到", region, re.I):
            status = "NOERROR"  # the name exists but has no record of this type
    if status is None and error is None and not answers:
        return None
    address = server.group(2)
    return _result(
        status=status,
        answers=answers,
        server=address if is_ip(address) else server.group(1),
        error=error,
    )


@safe_parser
def parse_dig(text: str) -> Parsed | None:
    """Parse dig or nslookup output (multi-line or collapsed); None when neither."""
    if _DIG_MARKERS.search(text) or _RECORD.search(text):
        return _parse_dig(text)
    return _parse_nslookup(text)


parse_nslookup = safe_parser(_parse_nslookup)
