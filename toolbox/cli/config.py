"""Where ``tbx`` finds its server and token: the environment, then the per-user config file.

The file is ``$XDG_CONFIG_HOME/toolbox/config.json`` (``~/.config/toolbox/config.json``
when ``XDG_CONFIG_HOME`` is unset), written by ``tbx login`` with mode 0600 in a 0700
folder: it holds a personal API token.  ``TOOLBOX_URL`` and ``TOOLBOX_TOKEN`` override
what the file says; with neither, the server is ``http://127.0.0.1:8000``.
"""

import json
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class Settings:
    """The server to talk to and the token to show it (None: not logged in)."""

    url: str
    token: str | None
    url_from: str  # where the URL came from: "TOOLBOX_URL", the file's path, or "default"
    token_from: str | None  # "TOOLBOX_TOKEN", the file's path, or None


def config_path() -> Path:
    """The config file's path (honours ``XDG_CONFIG_HOME``)."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "toolbox" / "config.json"


def read_file() -> dict[str, str]:
    """What the config file holds (empty when it is missing or not a JSON object)."""
    try:
        data = json.loads(config_path().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {key: value for key, value in data.items() if isinstance(value, str)}


def write_file(url: str, token: str) -> Path:
    """Store ``url`` and ``token``; the file is created (or kept) with mode 0600."""
    path = config_path()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    data = json.dumps({"url": url, "token": token}, indent=2) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # a file that existed keeps its old mode through os.open
        os.write(fd, data.encode("utf-8"))
    finally:
        os.close(fd)
    return path


def remove_token() -> bool:
    """Forget the stored token (``tbx logout``); False when there was none."""
    data = read_file()
    if "token" not in data:
        return False
    path = config_path()
    path.unlink()
    if "url" in data:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, (json.dumps({"url": data["url"]}, indent=2) + "\n").encode("utf-8"))
        finally:
            os.close(fd)
    return True


def settings() -> Settings:
    """The URL and token in effect: the environment first, then the file."""
    stored = read_file()
    where = str(config_path())
    if os.environ.get("TOOLBOX_URL"):
        url, url_from = os.environ["TOOLBOX_URL"], "TOOLBOX_URL"
    elif stored.get("url"):
        url, url_from = stored["url"], where
    else:
        url, url_from = DEFAULT_URL, "default"
    token: str | None
    if os.environ.get("TOOLBOX_TOKEN"):
        token, token_from = os.environ["TOOLBOX_TOKEN"], "TOOLBOX_TOKEN"
    elif stored.get("token"):
        token, token_from = stored["token"], where
    else:
        token, token_from = None, None
    return Settings(url.rstrip("/"), token, url_from, token_from)
