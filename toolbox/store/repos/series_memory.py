"""Points and rollups in this process's memory: the series repositories' contract for the
embedded database.

The embedded database (mongomock) answers every ``find`` by scanning the whole collection
and copying each document several times in pure Python: 30 days of hourly rollups of 50
agents (36,000 documents) took 6.6 s to read back.  Here each series (a schedule and an
agent; for rollups also the tier) is a list kept in time order with its times beside it,
so a range is two bisections and a slice.  Points arrive in time order almost always (an
append); a late one is inserted in place.  Rollups are kept by bucket start, a write of
the same bucket replacing the document, as the shared repository's upsert does.

Documents are copied in and out one level deep (``outcomes`` and ``n`` are shared: nothing
changes them in place), and returned without ``_id``, as ``PointRepo`` and ``RollupRepo``
return them.  The embedded database is one process's: each method runs without awaiting
anything, so it is atomic as a MongoDB write is.
"""

import bisect
import datetime
from collections.abc import Iterable
from operator import itemgetter

from toolbox.store.db import Doc
from toolbox.store.repos.series import PointRepo, RollupRepo

_AT = itemgetter("at")


class _Line:
    """One series: documents in time order, and their times for bisection."""

    __slots__ = ("docs", "ats")

    def __init__(self) -> None:
        self.docs: list[Doc] = []
        self.ats: list[datetime.datetime] = []

    def add(self, doc: Doc) -> None:
        at = doc["at"]
        if not self.ats or at >= self.ats[-1]:
            self.docs.append(doc)
            self.ats.append(at)
            return
        position = bisect.bisect_right(self.ats, at)
        self.docs.insert(position, doc)
        self.ats.insert(position, at)

    def put(self, doc: Doc) -> None:
        """Store ``doc``, replacing the one with the same ``at``."""
        at = doc["at"]
        position = bisect.bisect_left(self.ats, at)
        if position < len(self.ats) and self.ats[position] == at:
            self.docs[position] = doc
        else:
            self.docs.insert(position, doc)
            self.ats.insert(position, at)

    def between(self, start: datetime.datetime, end: datetime.datetime) -> list[Doc]:
        return self.docs[bisect.bisect_left(self.ats, start):bisect.bisect_left(self.ats, end)]

    def drop_before(self, cutoff: datetime.datetime, most: int) -> int:
        count = min(most, bisect.bisect_left(self.ats, cutoff))
        del self.docs[:count], self.ats[:count]
        return count


def _in_order(lines: Iterable[_Line], start: datetime.datetime, end: datetime.datetime, limit: int) -> list[Doc]:
    """The documents of ``lines`` in ``[start, end)``, in time order, copied."""
    found: list[Doc] = []
    for line in lines:
        found += line.between(start, end)
    found.sort(key=_AT)  # runs already in order: the sort merges them
    return [dict(doc) for doc in found[:limit]]


def _without_agent(doc: Doc) -> Doc:
    copy = dict(doc)
    del copy["agent"]
    return copy


def _prune(lines: dict[tuple, _Line], cutoff: datetime.datetime, batch: int) -> int:
    removed = 0
    for key in list(lines):
        if removed >= batch:
            break
        removed += lines[key].drop_before(cutoff, batch - removed)
        if not lines[key].docs:
            del lines[key]
    return removed


class _Lines:
    """What both in-memory repositories do alike over their series, keyed by tuples that
    start with the schedule id: count, prune and forget a schedule."""

    _lines: dict[tuple, _Line]

    async def count(self) -> int:
        return sum(len(line.docs) for line in self._lines.values())

    async def prune_before(self, cutoff: datetime.datetime, batch: int = 1000) -> int:
        return _prune(self._lines, cutoff, batch)

    async def delete_schedule(self, schedule_id: int) -> None:
        for key in [key for key in self._lines if key[0] == schedule_id]:
            del self._lines[key]


class MemoryPoints(_Lines):
    """``PointRepo``'s contract: points by schedule, agent and time."""

    def __init__(self) -> None:
        self._lines: dict[tuple[int, str], _Line] = {}  # (schedule id, agent) -> its points

    async def ensure_indexes(self) -> None:
        """Nothing to create: the index is the dict of series above."""

    async def add_point(self, point: Doc) -> None:
        doc = {key: value for key, value in point.items() if key != "_id"}
        self._lines.setdefault((doc["schedule_id"], doc["agent"]), _Line()).add(doc)

    def _of(self, schedule_id: int, agent: str | None = None) -> list[_Line]:
        if agent is not None:
            line = self._lines.get((schedule_id, agent))
            return [] if line is None else [line]
        return [line for (sid, _agent), line in self._lines.items() if sid == schedule_id]

    async def read_range(self, schedule_id: int, start: datetime.datetime, end: datetime.datetime,
                         agent: str | None = None, limit: int = 100000) -> list[Doc]:
        return _in_order(self._of(schedule_id, agent), start, end, limit)

    async def first_at(self, schedule_id: int) -> datetime.datetime | None:
        firsts = [line.ats[0] for line in self._of(schedule_id) if line.ats]
        return min(firsts) if firsts else None

    async def agents(self, schedule_id: int) -> list[str]:
        return sorted(agent for (sid, agent), line in self._lines.items() if sid == schedule_id and line.docs)


class MemoryRollups(_Lines):
    """``RollupRepo``'s contract: rollups by schedule, tier, agent and bucket start."""

    def __init__(self) -> None:
        self._lines: dict[tuple[int, str, str], _Line] = {}  # (schedule id, tier, agent) -> its rollups

    async def ensure_indexes(self) -> None:
        """Nothing to create: the index is the dict of series above."""

    async def put_rollups(self, rollups: list[Doc]) -> None:
        for rollup in rollups:
            doc = {key: value for key, value in rollup.items() if key != "_id"}
            self._lines.setdefault((doc["schedule_id"], doc["tier"], doc["agent"]), _Line()).put(doc)

    async def read_range(self, schedule_id: int, tier: str, start: datetime.datetime, end: datetime.datetime,
                         agent: str | None = None, limit: int = 100000) -> list[Doc]:
        if agent is not None:
            line = self._lines.get((schedule_id, tier, agent))
            lines = [] if line is None else [line]
        else:
            lines = [line for (sid, kind, _agent), line in self._lines.items() if sid == schedule_id and kind == tier]
        return _in_order(lines, start, end, limit)

    async def read_series(self, schedule_id: int, tier: str, start: datetime.datetime, end: datetime.datetime,
                          agent: str | None = None) -> dict[str, list[Doc]]:
        """``RollupRepo.read_series``: each agent's slice, copied, with no sort across agents."""
        found: dict[str, list[Doc]] = {}
        for (sid, kind, name), line in self._lines.items():
            if sid == schedule_id and kind == tier and (agent is None or name == agent):
                docs = line.between(start, end)
                if docs:
                    found[name] = [_without_agent(doc) for doc in docs]
        return found



# Either implementation, as the series recorder and reader are handed one (``toolbox.server.variants``).
Points = PointRepo | MemoryPoints
Rollups = RollupRepo | MemoryRollups
