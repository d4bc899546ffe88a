"""List filters that match names exactly (the API's default) or by a part of them
(``?match=part``: case-insensitive, any position), as MongoDB query values.

``name_match("token", part=True)`` finds ``token.create``; the text is escaped, so a
filter is never a pattern of its own.  Real MongoDB and the embedded database both read
``$regex`` with ``$options``.
"""

import re
from typing import Any

from toolbox.errors import ValidationError

MATCH_MODES = ("exact", "part")


def match_mode(text: str | None) -> bool:
    """True for ``part``, False for ``exact`` (or nothing); ValidationError otherwise."""
    if text in (None, "", "exact"):
        return False
    if text == "part":
        return True
    raise ValidationError(f"match: must be one of {', '.join(MATCH_MODES)}")


def name_match(value: str, part: bool = False) -> Any:
    """The query value for a name filter: ``value`` itself, or any name containing it."""
    if not part:
        return value
    return {"$regex": re.escape(value), "$options": "i"}
