"""Which agents a job runs on, and whether it may run at all.

``select_agents`` picks agent documents by exactly one of names, tags (having all of
them, or any) or all; ``plan_runs`` keeps those that can run the tool request, saying
why the others are skipped, with the command built once per ``command_key`` (platform, and
whether the agent is a field agent: ``toolbox.tools.field_wrap``); and
``check_private_targets`` applies the private-target policy (``TOOLBOX_DENY_PRIVATE_TARGETS``)
to every host the request contacts.  The rate limits are the job service's.
"""

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from toolbox import validation
from toolbox.errors import ValidationError
from toolbox.tools.catalogue import TOOLS, ToolError, ToolRequest, check_target_allowed
from toolbox.tools.field_wrap import is_field_agent
from toolbox.store.db import Doc

if TYPE_CHECKING:
    from toolbox.core.agents import AgentRegistry
    from toolbox.tools.targets import Resolver

MAX_AGENTS = 10000
TAGS_MATCH = ("all", "any")


def tags_select(wanted: set[str], tags: list[str], mode: str | None = None) -> bool:
    """Whether an agent with ``tags`` is selected by ``wanted``: having all of them
    (``mode`` "all" or None) or any (``"any"``)."""
    return bool(wanted & set(tags)) if mode == "any" else wanted <= set(tags)


def agent_names(agents: object) -> list[str]:
    """The agent names of a request's ``agents`` list, checked, each once, in order."""
    if not isinstance(agents, list) or not agents or len(agents) > MAX_AGENTS:
        raise ValidationError(f"agents: a list of 1 to {MAX_AGENTS} agent names")
    return list(dict.fromkeys(validation.agent_name(name, "agents") for name in agents))


async def select_agents(registry: "AgentRegistry", agents: Any = None, tags: Any = None, all_agents: Any = None,
                        tags_match: Any = None) -> list[Doc]:
    """Agent documents chosen by exactly one of names, tags (having all of them, or any
    with ``tags_match="any"``) or all, from the agent ``registry``."""
    if all_agents is False:
        all_agents = None
    if sum(x is not None for x in (agents, tags, all_agents)) != 1:
        raise ValidationError("select agents with exactly one of agents, tags or all")
    if tags_match is not None and tags is None:
        raise ValidationError("tags_match: only with tags")
    if agents is not None:
        return [await registry.require(name) for name in agent_names(agents)]
    if tags is not None:
        if tags_match not in (None, *TAGS_MATCH):
            raise ValidationError(f"tags_match: must be one of {', '.join(TAGS_MATCH)}")
        wanted = set(validation.tags(tags))
        if not wanted:
            raise ValidationError("tags: give at least one tag")
        docs = [doc for doc in registry.list() if tags_select(wanted, doc.get("tags", []), tags_match)]
        if not docs:
            raise ValidationError(f"no agent has {tags_match or 'all'} of the tags {', '.join(sorted(wanted))}")
        return docs
    if all_agents is not True:
        raise ValidationError("all: must be true")
    docs = registry.list()
    if not docs:
        raise ValidationError("there are no agents")
    return docs


def command_key(doc: Doc) -> str:
    """Which built command an agent gets: its platform, plus ``+field`` unless it registered as
    toolbox-agent (a field agent's Linux commands run under ``toolbox.tools.field_wrap``)."""
    platform = doc.get("platform", "linux")
    return platform + "+field" if is_field_agent(doc.get("user_agent")) else platform


def plan_runs(request: ToolRequest,
              docs: list[Doc]) -> tuple[list[Doc], list[dict[str, str]], dict[str, tuple[str, int]]]:
    """(runnable agent documents, skipped ``{agent, reason}``, command_key -> (command, time limit))
    for ``request`` (a ``ToolRequest``) on ``docs``, by name; ValidationError when none can run it."""
    runnable: list[Doc] = []
    skipped: list[dict[str, str]] = []
    commands: dict[str, tuple[str, int]] = {}
    tool = request.tool
    for doc in sorted(docs, key=lambda d: d["_id"]):
        platform = doc.get("platform", "linux")
        if doc.get("disabled"):
            skipped.append({"agent": doc["_id"], "reason": "the agent is disabled"})
        elif platform not in TOOLS[tool].platforms:
            skipped.append({"agent": doc["_id"], "reason": f"{tool} does not run on {platform} agents"})
        else:
            key = command_key(doc)
            if key not in commands:
                commands[key] = request.command(platform, field=key != platform)
            runnable.append(doc)
    if not runnable:
        reasons = "; ".join(f"{s['agent']}: {s['reason']}" for s in skipped[:5])
        raise ValidationError(f"none of the selected agents can run {tool} ({reasons})")
    return runnable, skipped, commands


async def check_private_targets(hosts: Iterable[str], resolver: "Resolver | None" = None) -> None:
    """Refuse (ValidationError) a host that is, or resolves to, a non-public address."""
    for host in hosts:
        try:
            await check_target_allowed(host, True, resolver)
        except ToolError as error:
            raise ValidationError(error.message) from None
