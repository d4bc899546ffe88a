"""Which agents a job runs on, and whether it may run at all.

``job_request`` reads what a client asks for into a ``JobRequest``: the tool request
(``toolbox.tools.catalogue.tool_request``) and an ``AgentSelection``, each checked, the
tool first (the handler calls it; the job service takes only the typed request).
``select_agents`` picks agent documents by exactly one of names, tags (having all of
them, or any) or all; ``plan_runs`` keeps those that can run the tool request, saying
why the others are skipped, with the command built once per ``command_key`` (platform, and
whether the agent is a field agent: ``toolbox.tools.field_wrap``); and
``check_private_targets`` applies the private-target policy (``TOOLBOX_DENY_PRIVATE_TARGETS``)
to every host the request contacts.  The rate limits are the job service's.
"""

import dataclasses
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from toolbox import validation
from toolbox.errors import ValidationError
from toolbox.tools.catalogue import TOOLS, ToolError, ToolRequest, check_target_allowed, tool_request
from toolbox.tools.field_wrap import is_field_agent
from toolbox.store.db import Doc

if TYPE_CHECKING:
    from toolbox.core.dispatch.agents import AgentRegistry
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


@dataclasses.dataclass(frozen=True)
class AgentSelection:
    """The agents a job asks for: exactly one of names, tags (all of them, or any), or every agent."""

    names: list[str] | None = None  # checked, each once, in order
    tags: list[str] | None = None  # checked, at least one
    tags_match: str | None = None  # with tags: "all" (None) or "any"
    everyone: bool = False


@dataclasses.dataclass(frozen=True)
class JobRequest:
    """A job as asked for: the tool request and the agents it is for."""

    tool: ToolRequest
    agents: AgentSelection


def agent_selection(agents: Any = None, tags: Any = None, all_agents: Any = None,
                    tags_match: Any = None) -> AgentSelection:
    """The selection a request's ``agents``, ``tags`` (with ``tags_match``) or ``all`` make, or ValidationError."""
    if all_agents is False:
        all_agents = None
    if sum(x is not None for x in (agents, tags, all_agents)) != 1:
        raise ValidationError("select agents with exactly one of agents, tags or all")
    if tags_match is not None and tags is None:
        raise ValidationError("tags_match: only with tags")
    if agents is not None:
        return AgentSelection(names=agent_names(agents))
    if tags is not None:
        if tags_match not in (None, *TAGS_MATCH):
            raise ValidationError(f"tags_match: must be one of {', '.join(TAGS_MATCH)}")
        wanted = validation.tags(tags)
        if not wanted:
            raise ValidationError("tags: give at least one tag")
        return AgentSelection(tags=wanted, tags_match=tags_match)
    if all_agents is not True:
        raise ValidationError("all: must be true")
    return AgentSelection(everyone=True)


def job_request(tool: Any, params: Any, agents: Any = None, tags: Any = None, all_agents: Any = None,
                tags_match: Any = None) -> JobRequest:
    """The job a client asks for, checked: the tool and its params first, then the agents."""
    try:
        request = tool_request(tool, params)
    except ToolError as error:
        raise ValidationError(error.message) from None
    return JobRequest(request, agent_selection(agents, tags, all_agents, tags_match))


async def select_agents(registry: "AgentRegistry", selection: AgentSelection) -> list[Doc]:
    """Agent documents chosen by ``selection`` from the agent ``registry`` (NotFound: a named one is not there)."""
    if selection.names is not None:
        return [await registry.require(name) for name in selection.names]
    if selection.tags is not None:
        wanted, mode = set(selection.tags), selection.tags_match
        docs = [doc for doc in registry.list() if tags_select(wanted, doc.get("tags", []), mode)]
        if not docs:
            raise ValidationError(f"no agent has {mode or 'all'} of the tags {', '.join(sorted(wanted))}")
        return docs
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
