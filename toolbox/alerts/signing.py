"""The two signatures a channel's message carries (pure functions).

- **Feishu/Lark custom bot** (docs: ``feishu-api.md`` section 9): ``timestamp`` (Unix
  seconds, a string) and ``sign`` = base64(HMAC-SHA256(key = ``timestamp + "\\n" + secret``,
  message = empty)), both added as top-level fields of the JSON body.  (Keying the HMAC with
  the secret over that string is another platform's scheme; Feishu answers 19021.)
- **Generic webhook**: the headers ``X-Toolbox-Timestamp`` (Unix seconds) and
  ``X-Toolbox-Signature: sha256=<hex>``, the hex HMAC-SHA256 keyed with the channel's
  secret over ``timestamp + "." + body`` (the body's exact bytes).  A receiver recomputes
  it, compares in constant time, and refuses a timestamp more than a few minutes from its
  clock, so a captured request cannot be replayed later.
"""

import base64
import hashlib
import hmac

TIMESTAMP_HEADER = "X-Toolbox-Timestamp"
SIGNATURE_HEADER = "X-Toolbox-Signature"
EVENT_HEADER = "X-Toolbox-Event"


def feishu_sign(timestamp: int, secret: str) -> str:
    key = f"{timestamp}\n{secret}".encode()
    return base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()


def webhook_signature(timestamp: int, body: bytes, secret: str) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"
