"""What the embedded database (mongomock) is taught before it is used: shortcuts with its own answers.

mongomock runs every query as a scan of the collection, applies updates to a deep
snapshot, and copies and converts documents in pure Python on the way in and out.  At
fleet size that is most of the embedded server's database time (docs/benchmarks.md).
Each patch here does the same work by a shorter way, where the answer is provably the
same, and steps aside for every other shape (or when mongomock's internals change):

- ``_id`` lookups and quick pre-tests before a scan (``install_id_lookup``);
- a one-pass ``find_one_and_update`` by ``_id`` with ``$set`` (``install_set_by_id``);
- copies and date conversions that skip plain values (``install_copies``);
- inserts and deletes without the store's lock and without copying what is deleted
  (``install_writes``);
- pymongo's ``UpdateOne`` in ``bulk_write`` (``install_bulk_sort``), a compatibility fix.

``tests/test_db_embedded.py`` compares each shortcut with mongomock's own way.
"""

import datetime
from collections.abc import Iterator
from typing import Any

from pymongo import ReturnDocument

Doc = dict[str, Any]


def install() -> None:
    """Install every patch (idempotent: each one marks what it replaced)."""
    install_copies()
    install_writes()
    install_id_lookup()
    install_set_by_id()
    install_bulk_sort()


# Values that mongomock's conversions and copies hand back as they are: ``copy.copy`` of
# each returns the object itself (a datetime a new equal one; it is immutable, so sharing
# it is the same), and none is a container, a date to convert or a Timestamp to fill in.
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})
_COPIED_AS_IS = _PLAIN | {datetime.datetime}


def install_copies() -> None:
    """Make mongomock's three per-value walks skip plain values, and its ``{"_id": 1}``
    projection a copy of the ``_id`` alone.

    Every document mongomock stores is first walked by
    ``patch_datetime_awareness_in_document`` (dates to naive UTC, milliseconds), every
    one it returns is copied by ``_copy_field`` and, with ``tz_aware``, walked again by
    ``make_datetime_timezone_aware_in_document``.  Each walk calls itself and
    ``isinstance`` several times per value, strings and numbers included.  The versions
    here build the same plain dicts and lists, leave plain values as they are, and hand
    anything else (subclasses, tuples, dates, Timestamps) to mongomock's own function.
    """
    from mongomock import collection, helpers

    patch_dates = helpers.patch_datetime_awareness_in_document
    if getattr(patch_dates, "toolbox_copies", False):
        return
    make_aware = helpers.make_datetime_timezone_aware_in_document
    copy_field = collection._copy_field

    def patch_datetime_awareness_in_document(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {key: item if type(item) in _PLAIN else patch_datetime_awareness_in_document(item)
                    for key, item in value.items()}
        if kind is list:
            return [item if type(item) in _PLAIN else patch_datetime_awareness_in_document(item) for item in value]
        if kind in _PLAIN:
            return value
        return patch_dates(value)  # whose own recursion comes back here

    def make_datetime_timezone_aware_in_document(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {key: item if type(item) in _PLAIN else make_datetime_timezone_aware_in_document(item)
                    for key, item in value.items()}
        if kind is list:
            return [item if type(item) in _PLAIN else make_datetime_timezone_aware_in_document(item)
                    for item in value]
        if kind in _PLAIN:
            return value
        return make_aware(value)

    def _copy_field(value: Any, container: Any) -> Any:
        kind = type(value)
        if kind in _COPIED_AS_IS:
            return value
        if kind is dict and container is dict:
            return {key: item if type(item) in _COPIED_AS_IS else _copy_field(item, container)
                    for key, item in value.items()}
        if kind is list:
            return [item if type(item) in _COPIED_AS_IS else _copy_field(item, container) for item in value]
        return copy_field(value, container)

    copy_only_fields = collection.Collection._copy_only_fields

    def _copy_only_fields(self: Any, doc: Any, fields: Any, container: Any) -> Any:
        """``{"_id": 1}``, the projection of every id-gathering query, without mongomock's
        projection machinery: a new container holding the ``_id`` (when there is one)."""
        if type(fields) is dict and len(fields) == 1 and type(fields.get("_id")) in (int, bool) \
                and fields["_id"] == 1:
            projected = container()
            if "_id" in doc:
                projected["_id"] = doc["_id"]
            return projected
        return copy_only_fields(self, doc, fields, container)

    replaced: list[tuple[Any, Any]] = [(patch_datetime_awareness_in_document, patch_dates),
                                       (make_datetime_timezone_aware_in_document, make_aware),
                                       (_copy_field, copy_field), (_copy_only_fields, copy_only_fields)]
    for function, original in replaced:
        function.toolbox_copies = True  # a marker on the function
        function.toolbox_original = original  # for the tests' comparison
    helpers.patch_datetime_awareness_in_document = patch_datetime_awareness_in_document
    helpers.make_datetime_timezone_aware_in_document = make_datetime_timezone_aware_in_document
    collection._copy_field = _copy_field
    collection.Collection._copy_only_fields = _copy_only_fields  # type: ignore[method-assign]  # the patch


def install_writes() -> None:
    """Make mongomock's insert of one document, and its delete, do only what they must.

    mongomock's ``_insert`` takes the store's reader-writer lock twice per document (this
    process has no threads touching it), parses pymongo's version per document, and
    tests every key's value with an abstract ``isinstance``; its ``_delete`` finds what
    to delete through a cursor, which copies every document (and converts its dates)
    only to read its ``_id``.  The versions here keep every check and every error, in
    the same order, on a store without TTL indexes (the store's dict is then all there is).
    """
    from collections.abc import Mapping

    from mongomock import DuplicateKeyError, ObjectId, collection, helpers
    from packaging import version

    insert = collection.Collection._insert
    if getattr(insert, "toolbox_writes", False):
        return
    delete = collection.Collection._delete
    null_check = collection._recursive_key_check_null_character
    bson_check = collection.BSON
    check_keys = helpers.PYMONGO_VERSION < version.parse("3.6")  # what mongomock asks on every insert
    invalid_document: Any = null_check.__globals__.get("InvalidDocument")  # bson's, as mongomock raises it

    def plain_dict_store(self: Any) -> Any:
        """The store's documents dict, or None when it has TTL indexes (or another shape)."""
        store = self._store
        documents = getattr(store, "_documents", None)
        if getattr(store, "_ttl_indexes", True) or not isinstance(documents, dict):
            return None
        return documents

    def _recursive_key_check_null_character(data: Any) -> None:
        for key, value in data.items():
            if "\0" in key:
                raise invalid_document(f"Field names cannot contain the null character (found: {key})")
            if type(value) not in _PLAIN and isinstance(value, Mapping):
                _recursive_key_check_null_character(value)

    def _insert(self: Any, data: Any, session: Any = None, ordered: bool = True) -> Any:
        documents = plain_dict_store(self) if type(data) is dict and not session else None
        if documents is None or bson_check is None or check_keys or invalid_document is None:
            return insert(self, data, session, ordered)  # a list comes back here per document
        if not all(type(key) is str or isinstance(key, str) for key in data):
            raise ValueError("Document keys must be strings")
        collection._validate_data_fields(data)
        bson_check.encode(data, check_keys=False)
        if "_id" not in data:
            data["_id"] = ObjectId()  # in the caller's dict, as pymongo does
        object_id = data["_id"]
        if isinstance(object_id, dict):
            object_id = helpers.hashdict(object_id)
        if object_id in documents:
            raise DuplicateKeyError("E11000 Duplicate Key Error", 11000)
        data = helpers.patch_datetime_awareness_in_document(data)
        documents[object_id] = data
        try:
            self._ensure_uniques(data)
        except DuplicateKeyError:
            del documents[object_id]
            raise
        return data["_id"]

    def _delete(self: Any, filter: Any, collation: Any = None, hint: Any = None, multi: bool = False,
                session: Any = None) -> Any:
        documents = plain_dict_store(self)
        if hint or collation or session or type(filter) is not dict or documents is None:
            return delete(self, filter, collation=collation, hint=hint, multi=multi, session=session)
        filter = helpers.patch_datetime_awareness_in_document(filter)
        deleted_count = 0
        # What find(filter) would have returned, in its order, without the copies.
        for doc in list(self._iter_documents(filter)):
            doc_id = doc["_id"]
            if isinstance(doc_id, dict):
                doc_id = helpers.hashdict(doc_id)
            del documents[doc_id]
            deleted_count += 1
            if not multi:
                break
        return {"connectionId": self.database.client._id, "n": deleted_count, "ok": 1.0, "err": None}

    replaced: list[tuple[Any, Any]] = [(_insert, insert), (_delete, delete),
                                       (_recursive_key_check_null_character, null_check)]
    for function, original in replaced:
        function.toolbox_writes = True  # a marker on the function
        function.toolbox_original = original  # for the tests' comparison
    collection._recursive_key_check_null_character = _recursive_key_check_null_character
    collection.Collection._insert = _insert  # type: ignore[method-assign]  # the patch itself
    collection.Collection._delete = _delete  # type: ignore[method-assign]  # the patch itself


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
        store = self._store
        # The store's dict itself when it has no TTL index to apply first: its accessors take
        # a reader lock (three lock operations) per call, for threads this process has not.
        if not getattr(store, "_ttl_indexes", True) and isinstance(getattr(store, "_documents", None), dict):
            store = store._documents
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
        store = self._store
        documents = getattr(store, "_documents", None)
        if (type(fields) is not dict or not fields or projection is not None or sort is not None or upsert
                or kwargs or type(key) not in exact_types or getattr(store, "_ttl_indexes", True)
                or not isinstance(documents, dict) or not all(settable(name) for name in fields)):
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
