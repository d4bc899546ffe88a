"""What the embedded database (mongomock) is taught before it is used: shortcuts with its own answers.

mongomock runs every query as a scan of the collection, applies updates to a deep
snapshot, and copies and converts documents in pure Python on the way in and out.  At
fleet size that is most of the embedded server's database time (docs/benchmarks.md).
Each patch here does the same work by a shorter way, where the answer is provably the
same, and steps aside for every other shape (or when mongomock's internals change):

- ``_id`` lookups and quick pre-tests before a scan (``install_id_lookup``);
- a one-pass ``find_one_and_update`` by ``_id`` with ``$set`` (``install_set_by_id``);
- copies and date conversions that skip plain values (``install_copies``), and inserts
  and deletes without the store's lock or copies (``install_writes``), both in
  ``toolbox.store.embedded_copies``;
- pymongo's ``UpdateOne`` in ``bulk_write`` (``install_bulk_sort``), a compatibility fix.

``tests/test_db_embedded.py`` compares each shortcut with mongomock's own way.
"""

import datetime
from collections.abc import Iterator
from typing import Any

from pymongo import ReturnDocument

from toolbox.store.embedded_copies import install_copies, install_writes, plain_documents

Doc = dict[str, Any]


def install() -> None:
    """Install every patch (idempotent: each one marks what it replaced)."""
    install_copies()
    install_writes()
    install_id_lookup()
    install_set_by_id()
    install_bulk_sort()


# Exact types only: bool is an int subclass, and Mongo never equates True with 1.
_ID_LOOKUP_TYPES = (int, str, bytes)


# An integer bound of a quick check, and whether an integer value is within it (bool, an
# int subclass, is neither: MongoDB never compares True with 1).
_INT_BOUNDS = {"$lt": "lt", "$lte": "lte", "$gt": "gt", "$gte": "gte"}


def _holds(bound: str, value: int, limit: int) -> bool:
    if bound == "lt":
        return value < limit
    if bound == "lte":
        return value <= limit
    if bound == "gt":
        return value > limit
    return value >= limit


def install_id_lookup() -> None:
    """Make mongomock answer ``{"_id": value}`` and ``{"_id": {"$in": [...]}}`` filters
    from its ``_id``-keyed store.

    mongomock keeps documents in a dict keyed by ``_id`` but still runs the filter on
    every document, and ``find_one_and_update`` does that three times.  When the filter
    pins ``_id`` to a value (or a list of values), only the documents stored under those
    keys can match, so the whole filter is applied to them alone: same answers, without
    the scan.  Other filters are still a scan, but a document is first tested against the
    filter's plain string and date conditions (``state: "queued"``, ``created_at: {"$lt":
    date}``) and only then against the whole filter.  If mongomock's internals change
    shape, the patch steps aside.
    """
    from mongomock import ObjectId, collection, filtering

    scan = getattr(collection.Collection, "_iter_documents", None)
    if scan is None or getattr(scan, "toolbox_id_lookup", False):
        return
    exact_types = _ID_LOOKUP_TYPES + (ObjectId,)

    def candidate_ids(filter: Any) -> tuple[Any, ...] | dict[Any, None] | None:
        """The ``_id`` values the filter can match, or None when it does not pin them."""
        key = filter.get("_id") if isinstance(filter, dict) else None
        if type(key) in exact_types:
            return (key,)
        if type(key) is dict and set(key) == {"$in"} and isinstance(key["$in"], (list, tuple)):
            values = key["$in"]
            if all(type(value) in exact_types for value in values):
                return dict.fromkeys(values)  # unique, in order
        return None

    def quick_checks(filter: Any) -> list[tuple[str, Any, Any]]:
        """Tests that rule documents out cheaply, from the filter's top-level conditions
        ``field: "s"``, ``field: {"$in": ["s", ...]}`` (a document whose field holds another
        string, or nothing, cannot match), ``field: {"$lt": date}`` (nor one whose field
        holds a later date) and ``field: {"$lte": 7}`` (``$lt``, ``$gt``, ``$gte`` too: nor
        one whose field holds an integer on the wrong side).  Anything else (arrays, other
        types) is left to the full filter."""
        checks: list[tuple[str, Any, Any]] = []
        for key, value in filter.items() if isinstance(filter, dict) else ():
            if key.startswith("$") or "." in key:
                continue
            if type(value) is str:
                checks.append((key, (value,), None))
            elif type(value) is dict and len(value) == 1:
                [(op, arg)] = value.items()
                if (op == "$in" and isinstance(arg, (list, tuple)) and arg
                        and all(type(item) is str for item in arg)):
                    checks.append((key, frozenset(arg), None))
                elif op == "$lt" and type(arg) is datetime.datetime and arg.tzinfo is None:
                    checks.append((key, None, arg))  # stored dates and the filter's are naive UTC
                elif op in _INT_BOUNDS and type(arg) is int:
                    checks.append((key, _INT_BOUNDS[op], arg))
        return checks

    def may_match(checks: list[tuple[str, Any, Any]], document: Doc) -> bool:
        for key, allowed, bound in checks:
            value = document.get(key)
            if type(allowed) is str:  # an integer bound: "lt", "lte", "gt" or "gte"
                if type(value) is int and not _holds(allowed, value, bound):
                    return False
            elif allowed is not None:
                if (value is None or type(value) is str) and value not in allowed:
                    return False
            elif type(value) is datetime.datetime and value.tzinfo is None and not value < bound:
                return False
        return True

    def iter_documents(self: Any, filter: Any) -> Iterator[Doc]:
        ids = candidate_ids(filter)
        if ids is None:
            checks = quick_checks(filter)
            if not checks or self._store.is_empty:
                return scan(self, filter)
            # A scan still, but the cheap tests first: the sweeper's state queries
            # run every second over every live task (10,000 in a fleet-wide job).
            return iter([document for document in list(self._store.documents)
                         if may_match(checks, document) and filtering.filter_applies(filter, document)])
        plain = plain_documents(self)  # else the store, its lock taken per call
        store = plain if plain is not None else self._store
        documents = [store[key] for key in ids if key in store]
        rest = {key: value for key, value in filter.items() if key != "_id"}  # _id holds by lookup
        if not rest:
            return iter(documents)
        return iter([document for document in documents if filtering.filter_applies(rest, document)])

    iter_documents.toolbox_id_lookup = True  # type: ignore[attr-defined]  # a marker on the function
    collection.Collection._iter_documents = iter_documents  # type: ignore[method-assign]  # the patch itself


def install_set_by_id() -> None:
    """Make mongomock run ``find_one_and_update({"_id": value, ...}, {"$set": {...}})`` in
    one pass, the shape of every claim and every stored result.

    mongomock runs it as a find (a copy of the document), an update (a deep snapshot of
    the document to roll back to, the update, a comparison with the snapshot) and a second
    find (another copy): 110-170 us a call, two calls per task.  Here, when the filter pins
    one ``_id`` and the update only sets top-level fields (no projection, sort, upsert or
    other option), the stored document is found by key, tested against the rest of the
    filter, and the fields are set on it, with mongomock's own conversions: dates made
    naive UTC at millisecond precision, values checked to encode as BSON, unique indexes
    checked with the old values put back on a duplicate, and the answer copied (with
    UTC dates when the client is ``tz_aware``).  One difference, towards MongoDB: a value
    that does not encode refuses the whole update, where mongomock would have set the
    fields before it.  Anything else goes to mongomock unchanged.
    """
    from mongomock import ObjectId, collection, filtering, helpers

    original = collection.Collection.find_one_and_update
    if getattr(original, "toolbox_set_by_id", False):
        return
    exact_types = _ID_LOOKUP_TYPES + (ObjectId,)
    bson_check = collection.BSON
    missing = object()

    def settable(name: Any) -> bool:
        return (type(name) is str and bool(name) and name[0] != "$" and "." not in name
                and "\0" not in name and name != "_id")

    def find_one_and_update(self: Any, filter: Any, update: Any, projection: Any = None, sort: Any = None,
                            upsert: bool = False, return_document: Any = ReturnDocument.BEFORE,
                            **kwargs: Any) -> Doc | None:
        fields = update.get("$set") if type(update) is dict and len(update) == 1 else None
        key = filter.get("_id") if type(filter) is dict else None
        documents = plain_documents(self)
        if (type(fields) is not dict or not fields or projection is not None or sort is not None or upsert
                or kwargs or type(key) not in exact_types or documents is None
                or not all(settable(name) for name in fields)):
            return original(self, filter, update, projection, sort, upsert, return_document, **kwargs)
        rest = helpers.patch_datetime_awareness_in_document(
            {name: value for name, value in filter.items() if name != "_id"})
        document = documents.get(key)
        if document is None:
            filtering.filter_applies(rest, {})  # a bad operator is refused all the same
            return None
        if rest and not filtering.filter_applies(rest, document):
            return None
        before = self._copy_only_fields(document, None, dict) if return_document is not ReturnDocument.AFTER else None
        values = helpers.patch_datetime_awareness_in_document(fields)  # a new dict, new containers
        if bson_check is not None:
            bson_check.encode(values)
        previous = {name: document.get(name, missing) for name in values}
        document.update(values)
        if previous != {name: document[name] for name in values}:
            try:
                self._ensure_uniques(document)
            except Exception:  # DuplicateKeyError: the document as it was
                for name, value in previous.items():
                    if value is missing:
                        del document[name]
                    else:
                        document[name] = value
                raise
        answer = before if before is not None else self._copy_only_fields(document, None, dict)
        if self.codec_options.tz_aware:
            answer = helpers.make_datetime_timezone_aware_in_document(answer)
        return answer

    find_one_and_update.toolbox_set_by_id = True  # type: ignore[attr-defined]  # a marker on the function
    find_one_and_update.toolbox_original = original  # type: ignore[attr-defined]  # for the tests' comparison
    collection.Collection.find_one_and_update = find_one_and_update  # type: ignore[method-assign]  # the patch


def install_bulk_sort() -> None:
    """Let mongomock take pymongo's ``UpdateOne`` in ``bulk_write``.

    Since pymongo 4.9 an ``UpdateOne`` hands the bulk builder a ``sort`` argument (MongoDB
    8's sorted update), which mongomock's builder does not know; toolBox never sorts an
    update, so a ``None`` sort is dropped and any other is refused as mongomock would.
    """
    from mongomock import collection

    add_update = getattr(collection.BulkOperationBuilder, "add_update", None)
    if add_update is None or getattr(add_update, "toolbox_sort", False):
        return

    def add_update_without_sort(self: Any, *args: Any, sort: Any = None, **kwargs: Any) -> Any:
        if sort is not None:
            raise NotImplementedError("mongomock: a sorted update in bulk_write")
        return add_update(self, *args, **kwargs)

    add_update_without_sort.toolbox_sort = True  # type: ignore[attr-defined]  # a marker on the function
    collection.BulkOperationBuilder.add_update = add_update_without_sort  # type: ignore[method-assign]  # the patch
