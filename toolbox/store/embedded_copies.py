"""The embedded database's copies and writes: mongomock's per-value work, done where it must be.

mongomock walks every value of every document it stores or returns (dates to naive UTC,
copies, dates back to UTC-aware), strings and numbers included, takes its store's lock on
every insert and delete, and copies each document it deletes to read its ``_id``.  The
functions installed here do the same work only where a value needs it, and hand every
other case to mongomock's own function (each keeps it as ``toolbox_original``, for
``tests/test_db_embedded.py``).  Installed by ``toolbox.store.embedded.install``.
"""

import datetime
from typing import Any

# Values that mongomock's conversions and copies hand back as they are: ``copy.copy`` of
# each returns the object itself (a datetime a new equal one; it is immutable, so sharing
# it is the same), and none is a container, a date to convert or a Timestamp to fill in.
_PLAIN = frozenset({str, int, float, bool, type(None), bytes})
_COPIED_AS_IS = _PLAIN | {datetime.datetime}


def plain_documents(collection: Any) -> dict[Any, Any] | None:
    """A mongomock collection's documents dict, or None when its store has TTL indexes
    (expired documents to drop first) or another shape.  The store's own accessors take
    a reader-writer lock (for threads this process does not have) on every call."""
    store = collection._store
    documents = getattr(store, "_documents", None)
    if getattr(store, "_ttl_indexes", True) or not isinstance(documents, dict):
        return None
    return documents


def _skipping_plain_values(walk: Any) -> Any:
    """``walk`` (one of mongomock's value walks) for plain dicts and lists of plain values,
    done here: the same new dicts and lists, plain values as they are; anything else goes
    to ``walk``, whose own recursion comes back through the module attribute replaced
    by the function returned."""

    def skipping(value: Any) -> Any:
        kind = type(value)
        if kind is dict:
            return {key: item if type(item) in _PLAIN else skipping(item) for key, item in value.items()}
        if kind is list:
            return [item if type(item) in _PLAIN else skipping(item) for item in value]
        if kind in _PLAIN:
            return value
        return walk(value)

    skipping.__name__ = skipping.__qualname__ = walk.__name__
    return skipping


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

    patch_datetime_awareness_in_document = _skipping_plain_values(patch_dates)
    make_datetime_timezone_aware_in_document = _skipping_plain_values(make_aware)

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

    def _recursive_key_check_null_character(data: Any) -> None:
        for key, value in data.items():
            if "\0" in key:
                raise invalid_document(f"Field names cannot contain the null character (found: {key})")
            if type(value) not in _PLAIN and isinstance(value, Mapping):
                _recursive_key_check_null_character(value)

    def _insert(self: Any, data: Any, session: Any = None, ordered: bool = True) -> Any:
        documents = plain_documents(self) if type(data) is dict and not session else None
        if documents is None or bson_check is None or check_keys or invalid_document is None:
            return insert(self, data, session, ordered)  # a list comes back here per document
        if not all(isinstance(key, str) for key in data):
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
        documents = plain_documents(self)
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
