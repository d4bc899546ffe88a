"""Start-up refuses unusable settings clearly: one line on stderr, exit code 2, no traceback."""

import subprocess
import sys

import pytest

from tests.processes import _import_root
from toolbox.server.config import Config, ConfigError

GOOD = "g" * 32


@pytest.mark.parametrize("uri", ["http://db.example:27017/", "mongodb://", "mongodb://127.0.0.1:99999/",
                                 "mongodb://127.0.0.1/?nosuchoption=1", "mongodb+srv://", "127.0.0.1"])
def test_a_malformed_mongodb_uri_is_refused(uri):
    with pytest.raises(ConfigError, match="MONGODB_URI"):
        Config.load([], {"MONGODB_URI": uri})


@pytest.mark.parametrize("name", ["TOOLBOX_ADMIN_TOKEN", "TOOLBOX_SECRET"])
@pytest.mark.parametrize("value", ["x", "short-token", "a" * 31])
def test_admin_token_and_secret_shorter_than_32_characters_are_refused(name, value):
    with pytest.raises(ConfigError, match=f"{name} must be at least 32 characters"):
        Config.load([], {name: value})


def test_good_values_pass_and_numbers_take_ascii_digits_only():
    config = Config.load([], {"MONGODB_URI": "mongodb://127.0.0.1:27111/tb", "TOOLBOX_ADMIN_TOKEN": GOOD,
                              "TOOLBOX_SECRET": GOOD, "PORT": "8080"})
    assert config.mongodb_uri.endswith("/tb") and config.admin_token == GOOD and config.port == 8080
    for text in ("８０８０", "٨٠٨٠", "80²"):
        with pytest.raises(ConfigError, match="PORT"):
            Config.load([], {"PORT": text})


@pytest.mark.parametrize("env", [{"MONGODB_URI": "http://db.example/"}, {"MONGODB_URI": "mongodb://h:99999"},
                                 {"TOOLBOX_ADMIN_TOKEN": "1"}, {"TOOLBOX_SECRET": "s"},
                                 {"TOOLBOX_HEADER_TIMEOUT": "0"}])
def test_the_toolbox_command_says_one_line_and_exits_2(env):
    import os

    full_env = dict(os.environ, PYTHONPATH=_import_root(), **env)
    full_env.pop("TOOLBOX_TEST_MONGODB_URI", None)
    done = subprocess.run([sys.executable, "-m", "toolbox", "--port", "0"], env=full_env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("toolbox: "), done.stderr
    assert "Traceback" not in done.stderr + done.stdout
