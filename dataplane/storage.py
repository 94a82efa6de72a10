"""Collections on disk: one qdrant-edge EdgeShard per collection, per cluster.

Layout under DATAPLANE_DATA_DIR (default var/dataplane/):

    clusters/<cluster id>/collections/<sha256 of the name>/collection.json
    clusters/<cluster id>/collections/<sha256 of the name>/shard/   (the EdgeShard)

A collection's directory is named by a digest of its name, so no name can
reach outside it; collection.json keeps the name and the configuration it was
created with (GET /collections/{c} reports it). Shards open on first use and
stay open; a shard is locked by the process that opened it, so one process
owns a cluster's storage at a time (see dataplane/engine.py).

Every operation takes the request body as parsed JSON (already authorised)
and returns the `result` of Qdrant's envelope, or raises `StorageError` with
the status and message of Qdrant's error body.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import qdrant_edge as qe

from dataplane import edgejson
from dataplane.edgejson import BadInput, Unsupported

logger = logging.getLogger(__name__)

# Qdrant's validate_collection_name.
_INVALID_NAME_CHARS = ['<', '>', ':', '"', '/', '\\', '|', '?', '*', '\0', '\u001f']

HNSW_DEFAULT = {"m": 16, "ef_construct": 100, "full_scan_threshold": 10000, "max_indexing_threads": 0,
                "on_disk": False}
OPTIMIZERS_DEFAULT = {"deleted_threshold": 0.2, "vacuum_min_vector_number": 1000, "default_segment_number": 0,
                      "max_segment_size": None, "memmap_threshold": None, "indexing_threshold": 10000,
                      "flush_interval_sec": 5, "max_optimization_threads": None}
WAL_DEFAULT = {"wal_capacity_mb": 32, "wal_segments_ahead": 0}


class StorageError(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


def not_found(name: str) -> StorageError:
    return StorageError(404, f"Not found: Collection `{name}` doesn't exist!")


def validate_collection_name(name: str) -> None:
    for char in _INVALID_NAME_CHARS:
        if char in name:
            raise StorageError(422, f'Validation error in path parameters: [name: collection name cannot contain "{char}" char]')
    if not 1 <= len(name) <= 255:
        raise StorageError(422, "Validation error in path parameters: [name: length must be between 1 and 255]")


class Collection:
    def __init__(self, name: str, path: Path, meta: dict):
        self.name, self.path, self.meta = name, path, meta
        self._shard: qe.EdgeShard | None = None
        self.operations = 0
        self.dirty = False

    @property
    def shard(self) -> qe.EdgeShard:
        if self._shard is None:
            self._shard = qe.EdgeShard.load(str(self.path / "shard"))
        return self._shard

    def next_operation(self) -> int:
        self.operations += 1
        self.dirty = True
        return self.operations

    def flush(self) -> None:
        if self._shard is not None and self.dirty:
            self.dirty = False
            self._shard.flush()

    def close(self) -> None:
        if self._shard is not None:
            self._shard.close()
            self._shard = None


class ClusterStorage:
    """The collections of one cluster."""

    def __init__(self, root: Path):
        self.root = root
        self.collections_dir = root / "collections"
        self.collections_dir.mkdir(parents=True, exist_ok=True)
        self.collections: dict[str, Collection] = {}
        for meta_file in self.collections_dir.glob("*/collection.json"):
            try:
                meta = json.loads(meta_file.read_text())
                self.collections[meta["name"]] = Collection(meta["name"], meta_file.parent, meta)
            except (OSError, ValueError, KeyError) as exc:
                logger.error("skipping unreadable collection at %s: %s", meta_file.parent, exc)

    def close(self) -> None:
        for collection in self.collections.values():
            collection.flush()
            collection.close()

    def load_all(self) -> None:
        """Opens every shard: one that does not load fails here (a restart's check)."""
        for collection in self.collections.values():
            collection.shard  # noqa: B018 - loading it is the point

    def flush(self) -> None:
        for collection in list(self.collections.values()):
            try:
                collection.flush()
            except Exception as exc:  # noqa: BLE001 - flushing one shard must not stop the others
                logger.error("flushing collection %s failed: %s", collection.name, exc)

    def _get(self, name: str) -> Collection:
        collection = self.collections.get(name)
        if collection is None:
            raise not_found(name)
        return collection

    def execute(self, handler, name: str | None, params: dict, body) -> object:
        """`handler`: one of the `op_` methods below, as the table of access
        (dataplane/routes.py) names it for the route; Qdrant's errors for what fails."""
        try:
            return handler(self, name, params, body)
        except StorageError:
            raise
        except Unsupported as exc:
            raise StorageError(400, f"Bad request: {exc}") from None
        except (BadInput, TypeError) as exc:
            raise StorageError(400, f"Format error in JSON body: {exc}") from None
        except (ValueError, OverflowError) as exc:
            raise StorageError(400, f"Format error in JSON body: {exc}") from None
        except Exception as exc:  # noqa: BLE001 - the engine's own errors are about the input
            message = str(exc)
            if message.startswith("No point with id"):
                raise StorageError(404, f"Not found: {message} found") from None
            if "No range index for `order_by`" in message:
                raise StorageError(400, f"Bad request: {message}") from None
            raise StorageError(400, f"Wrong input: {message}") from None
        except BaseException as exc:
            # A panic inside the engine (pyo3's PanicException is a BaseException).
            if type(exc).__name__ != "PanicException":
                raise
            logger.error("the storage engine panicked on %s %s: %s", handler.__name__, name, exc)
            raise StorageError(500, "Service internal error: the storage engine failed") from None

    # Collections.

    def op_list(self, name, params, body):
        return {"collections": [{"name": n} for n in sorted(self.collections)]}

    def op_exists(self, name, params, body):
        return {"exists": name in self.collections}

    def op_info(self, name, params, body):
        collection = self._get(name)
        info = collection.shard.info()
        config = collection.meta["config"]
        return {
            "status": "green",
            "optimizer_status": "ok",
            "indexed_vectors_count": info.indexed_vectors_count,
            "points_count": info.points_count,
            "segments_count": info.segments_count,
            "config": {
                "params": {k: v for k, v in {
                    "vectors": config.get("vectors", {}),
                    "shard_number": 1,
                    "replication_factor": 1,
                    "write_consistency_factor": 1,
                    "on_disk_payload": config.get("on_disk_payload", True),
                    "sparse_vectors": config.get("sparse_vectors"),
                }.items() if v is not None},
                "hnsw_config": HNSW_DEFAULT | (config.get("hnsw_config") or {}),
                "optimizer_config": OPTIMIZERS_DEFAULT | (config.get("optimizers_config") or {}),
                "wal_config": WAL_DEFAULT,
                "quantization_config": None,
                "strict_mode_config": {"enabled": False},
                **({"metadata": config["metadata"]} if config.get("metadata") else {}),
            },
            "payload_schema": {
                field: {"data_type": edgejson.SCHEMA_TYPES.get(index.data_type, "keyword"), "points": index.points}
                for field, index in info.payload_schema.items()
            },
            **({"created_at": collection.meta["created_at"]} if collection.meta.get("created_at") else {}),
        }

    def op_create(self, name, params, body):
        validate_collection_name(name)
        if name in self.collections:
            raise StorageError(409, f"Wrong input: Collection `{name}` already exists!")
        body = body if body is not None else {}
        if not isinstance(body, dict):
            raise BadInput("invalid type: expected a collection configuration object")
        edge_config, stored = _collection_config(body)
        path = self.collections_dir / hashlib.sha256(name.encode("utf-8")).hexdigest()
        if path.exists():  # left by a create that crashed before writing collection.json
            shutil.rmtree(path)
        try:
            shard = qe.EdgeShard.create(str(path / "shard"), edge_config)
            meta = {"name": name, "created_at": datetime.now(UTC).isoformat(), "config": stored}
            _write_meta(path, meta)
        except Exception:
            shutil.rmtree(path, ignore_errors=True)
            raise
        collection = Collection(name, path, meta)
        collection._shard = shard
        self.collections[name] = collection
        return True

    def op_update_collection(self, name, params, body):
        """PATCH /collections/{c}: what qdrant-edge can change on an existing shard
        (HNSW and optimizer settings, on_disk_payload) is applied by reopening the
        shard with it; metadata merges as in Qdrant; anything else is refused by
        name (a 400), never ignored. All of it is checked before anything changes."""
        collection = self._get(name)
        body = _body(body, allow_empty=True)
        for section in _PATCH_REFUSED:
            if body.get(section) is not None:
                raise Unsupported(f"`{section}` cannot be changed on this cluster: its engine (qdrant-edge) "
                                  "fixes it when the collection is created")
        patch_params = edgejson._obj(body.get("params") or {}, "params")
        for key, value in patch_params.items():
            if key != "on_disk_payload" and value is not None:
                raise Unsupported(f"`params.{key}` cannot be changed on this cluster: its collections have one "
                                  "shard and one replica")
        config = dict(collection.meta["config"])
        for section, fields in (("hnsw_config", _HNSW_FIELDS), ("optimizers_config", _OPTIMIZER_FIELDS)):
            diff = _settings_diff(body.get(section), section, fields)
            if diff:
                config[section] = (config.get(section) or {}) | diff
        if patch_params.get("on_disk_payload") is not None:
            config["on_disk_payload"] = edgejson._bool(patch_params["on_disk_payload"], "on_disk_payload")
        if body.get("metadata") is not None:
            config["metadata"] = (config.get("metadata") or {}) | edgejson._obj(body["metadata"], "metadata")
        if config == collection.meta["config"]:
            return True
        hnsw = HNSW_DEFAULT | {k: v for k, v in (config.get("hnsw_config") or {}).items() if k in _HNSW_FIELDS}
        optimizers = {k: v for k, v in (config.get("optimizers_config") or {}).items() if k in _OPTIMIZER_FIELDS}
        edge_config, _ = _collection_config(config, hnsw_config=qe.HnswIndexConfig(**hnsw),
                                            optimizers=qe.EdgeOptimizersConfig(**optimizers))
        collection.close()
        collection._shard = qe.EdgeShard.load(str(collection.path / "shard"), edge_config)
        collection.meta = collection.meta | {"config": config}
        _write_meta(collection.path, collection.meta)
        return True

    def op_delete_collection(self, name, params, body):
        collection = self.collections.pop(name, None)
        if collection is None:
            return False
        collection.close()
        # Rename first: a crash halfway through leaves no half collection.
        doomed = collection.path.with_name(collection.path.name + f".deleted-{time.time_ns()}")
        os.replace(collection.path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)
        return True

    # Points: writes.

    def _update(self, name, params, operation) -> dict:
        collection = self._get(name)
        collection.shard.update(operation)
        operation_id = collection.next_operation()
        wait = params.get("wait", "true") not in ("false", "0")
        return {"operation_id": operation_id, "status": "completed" if wait else "acknowledged"}

    def op_upsert(self, name, params, body):
        self._get(name)
        return self._update(name, params, qe.UpdateOperation.upsert_points(edgejson.points(_body(body))))

    def op_delete_points(self, name, params, body):
        body = _body(body)
        self._get(name)
        if body.get("points") is not None:
            operation = qe.UpdateOperation.delete_points(edgejson.point_ids(body["points"]))
        elif body.get("filter") is not None:
            operation = qe.UpdateOperation.delete_points_by_filter(edgejson.filter_(body["filter"]))
        else:
            raise BadInput("data did not match any variant of untagged enum PointsSelector")
        return self._update(name, params, operation)

    def _payload_operation(self, name, params, body, by_ids, by_filter):
        body = _body(body)
        self._get(name)
        payload = body.get("payload")
        if not isinstance(payload, dict):
            raise BadInput("missing field `payload`")
        key = body.get("key")
        if key is not None and not isinstance(key, str):
            raise BadInput("invalid type for key")
        if body.get("points") is not None:
            operation = by_ids(edgejson.point_ids(body["points"]), payload, key)
        elif body.get("filter") is not None:
            operation = by_filter(edgejson.filter_(body["filter"]), payload, key)
        else:
            raise BadInput("either points or filter is required")
        return self._update(name, params, operation)

    def op_set_payload(self, name, params, body):
        return self._payload_operation(name, params, body, qe.UpdateOperation.set_payload,
                                       qe.UpdateOperation.set_payload_by_filter)

    def op_overwrite_payload(self, name, params, body):
        return self._payload_operation(name, params, body, qe.UpdateOperation.overwrite_payload,
                                       qe.UpdateOperation.overwrite_payload_by_filter)

    def op_delete_payload(self, name, params, body):
        body = _body(body)
        self._get(name)
        keys = body.get("keys")
        if not isinstance(keys, list) or not all(isinstance(key, str) for key in keys):
            raise BadInput("missing field `keys`: expected a list of payload keys")
        if body.get("points") is not None:
            operation = qe.UpdateOperation.delete_payload(edgejson.point_ids(body["points"]), keys)
        elif body.get("filter") is not None:
            operation = qe.UpdateOperation.delete_payload_by_filter(edgejson.filter_(body["filter"]), keys)
        else:
            raise BadInput("either points or filter is required")
        return self._update(name, params, operation)

    # Payload indexes.

    def op_create_index(self, name, params, body):
        body = _body(body)
        self._get(name)
        field = edgejson._str(body.get("field_name"), "field_name")
        if body.get("field_schema") is None:
            raise BadInput("missing field `field_schema`")
        return self._update(name, params, qe.UpdateOperation.create_field_index(
            field, edgejson.field_schema(body["field_schema"])))

    def op_delete_index(self, name, params, body):
        self._get(name)
        return self._update(name, params, qe.UpdateOperation.delete_field_index(params["field"]))

    # Points: reads.

    def op_retrieve(self, name, params, body):
        body = _body(body)
        collection = self._get(name)
        ids = edgejson.point_ids(body.get("ids"))
        records = collection.shard.retrieve(
            ids, edgejson.with_payload(body.get("with_payload"), True), edgejson.with_vector(body.get("with_vector"), False)
        )
        return [edgejson.record_out(record) for record in records]

    def op_get_point(self, name, params, body):
        collection = self._get(name)
        pid = edgejson.point_id_from_path(params["id"])
        records = collection.shard.retrieve([pid], True, True)
        if not records:
            raise StorageError(404, f"Not found: No point with id {edgejson.id_out(pid)} found")
        return edgejson.record_out(records[0])

    def op_count(self, name, params, body):
        body = _body(body, allow_empty=True)
        collection = self._get(name)
        exact = body.get("exact", True)
        count = collection.shard.count(qe.CountRequest(exact=edgejson._bool(exact, "exact"),
                                                       filter=edgejson.filter_(body.get("filter"))))
        return {"count": count}

    def op_scroll(self, name, params, body):
        body = _body(body, allow_empty=True)
        collection = self._get(name)
        offset = body.get("offset")
        request = qe.ScrollRequest(
            offset=edgejson.point_id(offset) if offset is not None else None,
            limit=edgejson.limit(body.get("limit"), 10),
            filter=edgejson.filter_(body.get("filter")),
            with_payload=edgejson.with_payload(body.get("with_payload"), True),
            with_vector=edgejson.with_vector(body.get("with_vector"), False),
            order_by=edgejson.order_by(body.get("order_by")),
        )
        records, next_offset = collection.shard.scroll(request)
        return {"points": [edgejson.record_out(r) for r in records],
                "next_page_offset": edgejson.id_out(next_offset) if next_offset is not None else None}

    def op_search(self, name, params, body):
        collection = self._get(name)
        return [edgejson.scored_out(p) for p in collection.shard.search(_search_request(_body(body)))]

    def op_search_batch(self, name, params, body):
        collection = self._get(name)
        # Every search is read before any runs: one bad entry fails the batch, as in Qdrant.
        requests = [_search_request(_body(search)) for search in _batch(body)]
        return [[edgejson.scored_out(p) for p in collection.shard.search(request)] for request in requests]

    def op_query(self, name, params, body):
        collection = self._get(name)
        return {"points": [edgejson.scored_out(p) for p in collection.shard.query(
            self._query_request(collection, _body(body, allow_empty=True)))]}

    def op_query_batch(self, name, params, body):
        collection = self._get(name)
        batch = qe.QueryBatchRequest([self._query_request(collection, _body(query, allow_empty=True))
                                      for query in _batch(body)])
        return [{"points": [edgejson.scored_out(p) for p in points]} for points in collection.shard.query_batch(batch)]

    def _query_request(self, collection: Collection, body: dict) -> qe.QueryRequest:
        excluded: list = []
        return qe.QueryRequest(
            limit=edgejson.limit(body.get("limit"), 10),
            offset=edgejson.offset(body.get("offset")),
            query=self._scoring_query(collection, body, excluded),
            prefetches=[self._prefetch(collection, p, body.get("lookup_from"), excluded)
                        for p in _prefetch_list(body.get("prefetch"))] or None,
            with_vector=edgejson.with_vector(body.get("with_vector"), False),
            with_payload=edgejson.with_payload(body.get("with_payload"), False),
            filter=_exclude(edgejson.filter_(body.get("filter")), excluded),
            score_threshold=edgejson.score_threshold(body.get("score_threshold")),
            params=edgejson.search_params(body.get("params")),
        )

    def op_recommend(self, name, params, body):
        """POST /points/recommend: examples are point ids (their vectors, the points
        left out of the answer) or vectors; strategies as in Qdrant's recommendations.rs."""
        body = _body(body)
        collection = self._get(name)
        using = body.get("using")
        if using is not None:
            edgejson._str(using, "using")
        excluded: list = []

        def examples(key: str) -> list:
            items = body.get(key) or []
            if not isinstance(items, list):
                raise BadInput(f"invalid type: expected {key} as a list of point ids or vectors")
            return [self._example_vector(collection, example, using, body.get("lookup_from"), excluded)
                    if edgejson.is_point_reference(example) else edgejson._vector(example, key)
                    for example in items]

        positives, negatives = examples("positive"), examples("negative")
        strategy = body.get("strategy") or "average_vector"
        if strategy == "average_vector":
            if not positives:
                raise StorageError(400, "Bad request: At least one positive vector ID required with this strategy")
            query = qe.Query.Nearest(_average_vector(positives, negatives), using=using)
        elif strategy in ("best_score", "sum_scores"):
            if not positives and not negatives:
                raise StorageError(400, "Bad request: At least one positive or negative vector ID required with this strategy")
            recommend = (qe.Query.RecommendBestScore if strategy == "best_score" else qe.Query.RecommendSumScores)
            query = recommend(qe.RecommendQuery(positives, negatives), using=using)
        else:
            raise BadInput(f"unknown variant `{strategy}`, expected one of `average_vector`, `best_score`, "
                           "`sum_scores`")
        request = qe.QueryRequest(
            limit=edgejson.limit(body.get("limit"), 10),
            offset=edgejson.offset(body.get("offset")),
            query=query,
            with_vector=edgejson.with_vector(body.get("with_vector"), False),
            with_payload=edgejson.with_payload(body.get("with_payload"), False),
            filter=_exclude(edgejson.filter_(body.get("filter")), excluded),
            score_threshold=edgejson.score_threshold(body.get("score_threshold")),
            params=edgejson.search_params(body.get("params")),
        )
        return [edgejson.scored_out(p) for p in collection.shard.query(request)]

    def _prefetch(self, collection, value, lookup_from, excluded):
        value = edgejson._obj(value, "prefetch")
        value.setdefault("lookup_from", lookup_from)
        return qe.Prefetch(
            limit=edgejson.limit(value.get("limit"), 10),
            query=self._scoring_query(collection, value, excluded),
            prefetches=[self._prefetch(collection, p, lookup_from, excluded)
                        for p in _prefetch_list(value.get("prefetch"))] or None,
            params=edgejson.search_params(value.get("params")),
            filter=_exclude(edgejson.filter_(value.get("filter")), excluded),
            score_threshold=edgejson.score_threshold(value.get("score_threshold")),
        )

    def _scoring_query(self, collection: Collection, body: dict, excluded: list):
        query = body.get("query")
        using = body.get("using")
        if using is not None:
            edgejson._str(using, "using")
        if query is None:
            return None
        if isinstance(query, dict):
            if "nearest" in query:
                query = query["nearest"]
            elif "fusion" in query:
                fusion = query["fusion"]
                if fusion == "rrf":
                    return qe.Fusion.Rrf(k=2)
                if fusion == "dbsf":
                    return qe.Fusion.Dbsf()
                raise BadInput("fusion is rrf or dbsf")
            elif "rrf" in query:
                rrf = edgejson._obj(query["rrf"], "rrf")
                k = rrf.get("k", 2)
                weights = rrf.get("weights")
                return qe.Fusion.Rrf(k=edgejson._int(k, "k", 1, 2**32 - 1),
                                     weights=[edgejson._number(w, "weight") for w in weights] if weights else None)
            elif "order_by" in query:
                return edgejson.order_by(query["order_by"])
            elif "sample" in query:
                if query["sample"] != "random":
                    raise BadInput("sample is random")
                return qe.Sample.Random
            elif {"indices", "values"} != set(query):
                raise Unsupported(f"query {min(query, default='')!r} is not supported by this data plane")
        if edgejson.is_point_reference(query):
            return self._nearest_to_point(collection, query, using, body.get("lookup_from"), excluded)
        return edgejson.nearest_query(query, using)

    def _nearest_to_point(self, collection, reference, using, lookup_from, excluded):
        """A point id as query: search with that point's vector, as Qdrant does, leaving the point out."""
        return qe.Query.Nearest(self._example_vector(collection, reference, using, lookup_from, excluded),
                                using=using)

    def _example_vector(self, collection, reference, using, lookup_from, excluded):
        """The vector of the point `reference` names (in `lookup_from` if given);
        a point of this collection goes to `excluded`, out of the answer."""
        pid = edgejson.point_id(reference)
        source, vector_name = collection, using or ""
        if lookup_from is not None:
            lookup_from = edgejson._obj(lookup_from, "lookup_from")
            source = self._get(edgejson._str(lookup_from.get("collection"), "collection"))
            vector_name = lookup_from.get("vector") or vector_name
        records = source.shard.retrieve([pid], False, True)
        if not records:
            raise StorageError(404, f"Not found: No point with id {edgejson.id_out(pid)} found")
        vector = records[0].vector
        if isinstance(vector, dict):
            vector = vector.get(vector_name)
        if vector is None:
            raise StorageError(400, f"Wrong input: Not existing vector name error: {vector_name}")
        if source is collection:
            excluded.append(pid)
        return vector


def _search_request(body: dict) -> qe.SearchRequest:
    vector = body.get("vector")
    using = None
    if isinstance(vector, dict) and "name" in vector:
        using, vector = edgejson._str(vector["name"], "vector name"), vector.get("vector")
    if vector is None:
        raise BadInput("missing field `vector`")
    return qe.SearchRequest(
        query=edgejson.nearest_query(vector, using),
        limit=edgejson.limit(body.get("limit"), 10),
        offset=edgejson.offset(body.get("offset")),
        filter=edgejson.filter_(body.get("filter")),
        params=edgejson.search_params(body.get("params")),
        with_vector=edgejson.with_vector(body.get("with_vector"), False),
        with_payload=edgejson.with_payload(body.get("with_payload"), False),
        score_threshold=edgejson.score_threshold(body.get("score_threshold")),
    )


def _batch(body) -> list:
    """The `searches` of a batch request."""
    searches = _body(body).get("searches")
    if not isinstance(searches, list):
        raise BadInput("missing field `searches`")
    return searches


def _average_vector(positives: list, negatives: list) -> list[float]:
    """Qdrant's average_vector strategy: avg(positive) + avg(positive) - avg(negative)."""
    for vector in positives + negatives:
        if not (isinstance(vector, list) and vector and all(isinstance(x, float) for x in vector)):
            raise Unsupported("the average_vector strategy takes dense vectors only: use best_score")
    if len({len(v) for v in positives + negatives}) != 1:
        raise StorageError(400, "Wrong input: Vector dimension error: the examples differ in size")
    positive = [sum(xs) / len(positives) for xs in zip(*positives, strict=True)]
    if not negatives:
        return positive
    negative = [sum(xs) / len(negatives) for xs in zip(*negatives, strict=True)]
    return [p + p - n for p, n in zip(positive, negative, strict=True)]


def _exclude(filter_, excluded: list):
    if not excluded:
        return filter_
    condition = qe.HasIdCondition(set(excluded))
    if filter_ is None:
        return qe.Filter(must_not=[condition])
    return qe.Filter(must=[filter_], must_not=[condition])


def _prefetch_list(value) -> list:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _body(body, allow_empty: bool = False) -> dict:
    if body is None and allow_empty:
        return {}
    if not isinstance(body, dict):
        raise BadInput("invalid type: expected a JSON object")
    return body


def _vector_params(value: dict, name: str) -> tuple[qe.EdgeVectorParams, dict]:
    value = edgejson._obj(value, f"vector params {name!r}")
    size = edgejson._int(value.get("size"), "size", 1, 65536)
    distance = value.get("distance")
    if distance not in edgejson.DISTANCES:
        raise BadInput(f"unknown variant `{distance}`, expected one of `Cosine`, `Euclid`, `Dot`, `Manhattan`")
    stored = {"size": size, "distance": distance}
    kwargs = {}
    if value.get("on_disk") is not None:
        kwargs["on_disk"] = stored["on_disk"] = edgejson._bool(value["on_disk"], "on_disk")
    if value.get("datatype") is not None:
        if value["datatype"] not in edgejson.DATATYPES:
            raise BadInput("datatype is float32, float16 or uint8")
        kwargs["datatype"] = edgejson.DATATYPES[value["datatype"]]
        stored["datatype"] = value["datatype"]
    if value.get("multivector_config") is not None:
        comparator = edgejson._obj(value["multivector_config"], "multivector_config").get("comparator")
        if comparator != "max_sim":
            raise BadInput("multivector comparator is max_sim")
        kwargs["multivector_config"] = qe.MultiVectorConfig(qe.MultiVectorComparator.MaxSim)
        stored["multivector_config"] = {"comparator": "max_sim"}
    return qe.EdgeVectorParams(size=size, distance=edgejson.DISTANCES[distance], **kwargs), stored


def _write_meta(path: Path, meta: dict) -> None:
    tmp = path / "collection.json.tmp"
    tmp.write_text(json.dumps(meta))
    os.replace(tmp, path / "collection.json")


# PATCH /collections/{c}: the settings qdrant-edge applies to an existing shard
# (HnswIndexConfig, EdgeOptimizersConfig), with their JSON types; the sections
# it cannot change. Qdrant's memmap_threshold, flush_interval_sec and
# max_optimization_threads have no equivalent in qdrant-edge.
_HNSW_FIELDS = {"m": int, "ef_construct": int, "full_scan_threshold": int, "max_indexing_threads": int,
                "on_disk": bool, "payload_m": int}
_OPTIMIZER_FIELDS = {"deleted_threshold": float, "vacuum_min_vector_number": int, "default_segment_number": int,
                     "max_segment_size": int, "indexing_threshold": int}
_PATCH_REFUSED = ("vectors", "sparse_vectors", "quantization_config", "strict_mode_config")


def _settings_diff(value, section: str, fields: dict) -> dict:
    if value is None:
        return {}
    diff = {}
    for key, setting in edgejson._obj(value, section).items():
        if setting is None:
            continue
        kind = fields.get(key)
        if kind is None:
            raise Unsupported(f"`{section}.{key}` cannot be changed on this cluster: its engine (qdrant-edge) "
                              "has no such setting")
        if kind is int:
            diff[key] = edgejson._int(setting, f"{section}.{key}")
        elif kind is bool:
            diff[key] = edgejson._bool(setting, f"{section}.{key}")
        else:
            diff[key] = edgejson._number(setting, f"{section}.{key}")
    return diff


def _collection_config(body: dict, **tuning) -> tuple[qe.EdgeConfig, dict]:
    vectors = body.get("vectors")
    stored: dict = {}
    edge_vectors = None
    if vectors is not None:
        vectors = edgejson._obj(vectors, "vectors")
        if "size" in vectors or "distance" in vectors:
            edge_vectors, stored["vectors"] = _vector_params(vectors, "")
        else:
            edge_vectors, stored["vectors"] = {}, {}
            for vname, params in vectors.items():
                edge_vectors[vname], stored["vectors"][vname] = _vector_params(params, vname)
    sparse = body.get("sparse_vectors")
    edge_sparse = None
    if sparse is not None:
        edge_sparse, stored["sparse_vectors"] = {}, {}
        for vname, params in edgejson._obj(sparse, "sparse_vectors").items():
            params = edgejson._obj(params or {}, f"sparse vector params {vname!r}")
            modifier = params.get("modifier")
            if modifier not in (None, "none", "idf"):
                raise BadInput("modifier is none or idf")
            edge_sparse[vname] = qe.EdgeSparseVectorParams(modifier=qe.Modifier.Idf if modifier == "idf" else None)
            stored["sparse_vectors"][vname] = {"modifier": modifier} if modifier else {}
    if not edge_vectors and not edge_sparse:
        raise StorageError(400, "Bad request: a collection needs at least one dense or sparse vector")
    on_disk_payload = body.get("on_disk_payload")
    if on_disk_payload is not None:
        stored["on_disk_payload"] = edgejson._bool(on_disk_payload, "on_disk_payload")
    for section in ("hnsw_config", "optimizers_config"):
        if body.get(section) is not None:
            stored[section] = {k: v for k, v in edgejson._obj(body[section], section).items() if v is not None}
    if body.get("metadata") is not None:
        stored["metadata"] = edgejson._obj(body["metadata"], "metadata")
    config = qe.EdgeConfig(vectors=edge_vectors, sparse_vectors=edge_sparse, on_disk_payload=on_disk_payload,
                           **tuning)
    return config, stored
