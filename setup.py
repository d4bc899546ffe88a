"""Install toolBox: the server (``toolbox``), the reference agent (``toolbox-agent``), the command line
(``tbx``) and the console."""

from setuptools import setup

setup(
    # The distribution (what pip installs and lists): "toolbox" on PyPI is an unrelated
    # project; the import package stays toolbox, the commands toolbox and toolbox-agent.
    name="toolbox-diagnostics",
    version="0.1.0",
    description="Remote diagnostics from many agents, side by side",
    python_requires=">=3.10",
    packages=["toolbox", "toolbox.core", "toolbox.core.dispatch", "toolbox.core.events", "toolbox.core.jobs",
              "toolbox.core.limits", "toolbox.core.tasks", "toolbox.people", "toolbox.tools", "toolbox.tools.parsers",
              "toolbox.store", "toolbox.store.repos", "toolbox.watch", "toolbox.agent", "toolbox.cli", "toolbox.server",
              "toolbox.handlers", "toolbox_static"],
    # the repository's handlers/ installs as toolbox.handlers (no generic top-level package)
    package_dir={"toolbox.handlers": "handlers", "toolbox_static": "static"},
    package_data={"toolbox_static": ["*.html", "*.css", "*.js", "*.svg", "*.png", "*.ico",
                                     "**/*.html", "**/*.css", "**/*.js", "**/*.svg"]},
    include_package_data=False,
    install_requires=[
        "tornado>=6.4",
        "motor>=3.4,<4",
        "pymongo>=4.6,<5",
        "pyjwt>=2.8",
        "prometheus_client>=0.17",
        "orjson>=3.9",  # the hot path's JSON encoding (toolbox.jsontext; json where it would differ)
        # The embedded database (no MONGODB_URI): in-memory, for trying toolBox out.  Bounded
        # above to the tested combination: a new release cannot change the embedded default
        # on a fresh install (toolBox uses their public API only; raise the bounds after the
        # suite passed on the new versions).
        "mongomock-motor>=0.0.36,<0.0.37",
        "mongomock>=4.3,<4.4",
        "typing_extensions",  # mongomock-motor imports it without declaring it
        # The command line (tbx) alone; the server never imports them.
        "click>=8.1",
        "rich>=13",
    ],
    # `pip install toolbox-diagnostics[uvloop]`: the optional event loop (TOOLBOX_EVENT_LOOP=uvloop)
    extras_require={"uvloop": ["uvloop>=0.19"]},
    entry_points={
        "console_scripts": [
            "toolbox = toolbox.__main__:main",
            "toolbox-agent = toolbox.agent.cli:main",
            "tbx = toolbox.cli.main:main",
        ],
    },
)
