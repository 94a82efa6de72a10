"""Qdrant's REST JSON to qdrant-edge objects and back.

Covers what the official clients send for the routes the data plane serves:
point ids, vectors (dense, multi, sparse, named), payload and vector
selectors, filters with their conditions, and the query forms of
POST /points/query. Input it cannot read raises `BadInput`, which becomes a
400 in Qdrant's error shape: never a 500.
"""

from __future__ import annotations

import uuid

import qdrant_edge as qe

U64_MAX = 2**64 - 1


class BadInput(ValueError):
    """Malformed request content: 400 "Format error in JSON body: ..."."""


class Unsupported(ValueError):
    """Valid Qdrant input that this data plane does not implement: 400 "Bad request: ..."."""


DISTANCES = {"Cosine": qe.Distance.Cosine, "Euclid": qe.Distance.Euclid, "Dot": qe.Distance.Dot,
             "Manhattan": qe.Distance.Manhattan}
DATATYPES = {"float32": qe.VectorStorageDatatype.Float32, "float16": qe.VectorStorageDatatype.Float16,
             "uint8": qe.VectorStorageDatatype.Uint8}
SCHEMA_TYPES = {
    qe.PayloadSchemaType.Keyword: "keyword", qe.PayloadSchemaType.Integer: "integer",
    qe.PayloadSchemaType.Float: "float", qe.PayloadSchemaType.Geo: "geo", qe.PayloadSchemaType.Text: "text",
    qe.PayloadSchemaType.Bool: "bool", qe.PayloadSchemaType.Datetime: "datetime",
    qe.PayloadSchemaType.Uuid: "uuid",
}


def _obj(value, what: str) -> dict:
    if not isinstance(value, dict):
        raise BadInput(f"invalid type: expected {what} as a JSON object")
    return value


def _int(value, what: str, minimum: int = 0, maximum: int = U64_MAX) -> int:
    if type(value) is not int or not minimum <= value <= maximum:
        raise BadInput(f"invalid value for {what}: expected an integer between {minimum} and {maximum}")
    return value


def _number(value, what: str) -> float:
    if type(value) not in (int, float):
        raise BadInput(f"invalid type for {what}: expected a number")
    return float(value)


def _bool(value, what: str) -> bool:
    if type(value) is not bool:
        raise BadInput(f"invalid type for {what}: expected a boolean")
    return value


def _str(value, what: str) -> str:
    if not isinstance(value, str):
        raise BadInput(f"invalid type for {what}: expected a string")
    return value


# Point ids: an unsigned integer or a UUID.


def point_id(value):
    if type(value) is int and 0 <= value <= U64_MAX:
        return value
    if isinstance(value, str):
        try:
            return uuid.UUID(value)
        except ValueError:
            pass
    raise BadInput(f"value {value!r} is not a valid point ID, valid values are either an unsigned integer or a UUID")


def point_ids(value) -> list:
    if not isinstance(value, list):
        raise BadInput("invalid type: expected a list of point ids")
    return [point_id(item) for item in value]


def id_out(value):
    return str(value) if isinstance(value, uuid.UUID) else value


def point_id_from_path(text: str):
    if text.isdigit() and int(text) <= U64_MAX:
        return int(text)
    return point_id(text)


# Vectors.


def _dense(value, what: str) -> list[float]:
    if not value:
        raise BadInput(f"{what} must not be empty")
    return [_number(x, what) for x in value]


def _vector(value, what: str):
    """One named vector: dense, multi (a list of dense) or sparse."""
    if isinstance(value, list):
        if value and all(isinstance(row, list) for row in value):
            return [_dense(row, what) for row in value]
        return _dense(value, what)
    if isinstance(value, dict):
        if set(value) == {"indices", "values"}:
            indices, values = value["indices"], value["values"]
            if not isinstance(indices, list) or not isinstance(values, list) or len(indices) != len(values):
                raise BadInput(f"{what}: indices and values must be lists of the same length")
            return qe.SparseVector([_int(i, "sparse index", 0, 2**32 - 1) for i in indices],
                                   [_number(v, what) for v in values])
        if {"text", "image", "object"} & set(value):
            raise Unsupported("Inference is not available on this cluster")
    raise BadInput(f"invalid type for {what}: expected a vector")


def vector_struct(value):
    """A point's vectors: an unnamed vector, or a map of name to vector."""
    if isinstance(value, dict) and not ({"indices", "values"} == set(value) or {"text", "image", "object"} & set(value)):
        return {_str(name, "vector name"): _vector(vec, f"vector {name!r}") for name, vec in value.items()}
    if isinstance(value, dict) and set(value) == {"indices", "values"}:
        raise BadInput("a sparse vector must be named")
    return _vector(value, "vector")


def vector_out(value):
    if value is None:
        return None
    if isinstance(value, dict):
        return {name: vector_out(vec) for name, vec in value.items()}
    if isinstance(value, qe.SparseVector):
        return {"indices": list(value.indices), "values": list(value.values)}
    return value


def points(body: dict) -> list:
    """PUT /points: {"points": [...]} or {"batch": {"ids", "vectors", "payloads"}}."""
    if "points" in body:
        items = body["points"]
        if not isinstance(items, list):
            raise BadInput("invalid type: expected points as a list")
        out = []
        for item in items:
            item = _obj(item, "a point")
            if "vector" not in item:
                raise BadInput("missing field `vector`")
            payload = item.get("payload")
            if payload is not None:
                _obj(payload, "payload")
            out.append(qe.Point(point_id(item.get("id")), vector_struct(item["vector"]), payload))
        return out
    if "batch" in body:
        batch = _obj(body["batch"], "batch")
        ids = point_ids(batch.get("ids"))
        vectors = batch.get("vectors")
        if isinstance(vectors, dict):
            named = {name: _list_of(vecs, len(ids), f"vectors {name!r}") for name, vecs in vectors.items()}
            per_point = [{name: vecs[i] for name, vecs in named.items()} for i in range(len(ids))]
        else:
            per_point = _list_of(vectors, len(ids), "vectors")
        payloads = batch.get("payloads")
        payloads = [None] * len(ids) if payloads is None else _list_of(payloads, len(ids), "payloads")
        return [
            qe.Point(pid, vector_struct(vec), _obj(pay, "payload") if pay is not None else None)
            for pid, vec, pay in zip(ids, per_point, payloads, strict=True)
        ]
    raise BadInput("data did not match any variant of untagged enum PointInsertOperations")


def _list_of(value, length: int, what: str) -> list:
    if not isinstance(value, list) or len(value) != length:
        raise BadInput(f"{what} must be a list with one entry per id")
    return value


# Selectors.


def with_payload(value, default: bool):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_str(key, "payload key") for key in value]
    if isinstance(value, dict):
        if "include" in value:
            return qe.PayloadSelector.Include([_str(k, "payload key") for k in _as_list(value["include"])])
        if "exclude" in value:
            return qe.PayloadSelector.Exclude([_str(k, "payload key") for k in _as_list(value["exclude"])])
    raise BadInput("invalid type for with_payload")


def with_vector(value, default: bool):
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, list):
        return [_str(name, "vector name") for name in value]
    raise BadInput("invalid type for with_vector")


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# Filters.


def filter_(value):
    if value is None:
        return None
    value = _obj(value, "filter")
    min_should = None
    if value.get("min_should") is not None:
        ms = _obj(value["min_should"], "min_should")
        min_should = qe.MinShould([condition(c) for c in _as_list(ms.get("conditions", []))],
                                  _int(ms.get("min_count"), "min_count"))
    return qe.Filter(
        must=_conditions(value.get("must")),
        should=_conditions(value.get("should")),
        must_not=_conditions(value.get("must_not")),
        min_should=min_should,
    )


def _conditions(value):
    if value is None:
        return None
    return [condition(item) for item in _as_list(value)]


def condition(value):
    value = _obj(value, "condition")
    if "key" in value:
        return _field_condition(value)
    if "is_empty" in value:
        return qe.IsEmptyCondition(_str(_obj(value["is_empty"], "is_empty").get("key"), "key"))
    if "is_null" in value:
        return qe.IsNullCondition(_str(_obj(value["is_null"], "is_null").get("key"), "key"))
    if "has_id" in value:
        return qe.HasIdCondition(set(point_ids(value["has_id"])))
    if "has_vector" in value:
        return qe.HasVectorCondition(_str(value["has_vector"], "has_vector"))
    if "nested" in value:
        nested = _obj(value["nested"], "nested")
        return qe.NestedCondition(_str(nested.get("key"), "key"), filter_(nested.get("filter")))
    if "filter" in value:
        return filter_(value["filter"])
    if {"must", "should", "must_not", "min_should"} & set(value):
        return filter_(value)
    raise BadInput("data did not match any variant of untagged enum Condition")


def _field_condition(value: dict):
    key = _str(value["key"], "key")
    kwargs = {}
    if value.get("match") is not None:
        kwargs["match"] = _match(_obj(value["match"], "match"))
    if value.get("range") is not None:
        kwargs["range"] = _range(_obj(value["range"], "range"))
    if value.get("geo_radius") is not None:
        geo = _obj(value["geo_radius"], "geo_radius")
        kwargs["geo_radius"] = qe.GeoRadius(_geo_point(geo.get("center")), _number(geo.get("radius"), "radius"))
    if value.get("geo_bounding_box") is not None:
        geo = _obj(value["geo_bounding_box"], "geo_bounding_box")
        kwargs["geo_bounding_box"] = qe.GeoBoundingBox(_geo_point(geo.get("top_left")),
                                                       _geo_point(geo.get("bottom_right")))
    if value.get("geo_polygon") is not None:
        geo = _obj(value["geo_polygon"], "geo_polygon")
        exterior = [_geo_point(p) for p in _obj(geo.get("exterior"), "exterior").get("points", [])]
        interiors = [[_geo_point(p) for p in _obj(ring, "interior").get("points", [])]
                     for ring in geo.get("interiors") or []]
        kwargs["geo_polygon"] = qe.GeoPolygon(exterior, interiors or None)
    if value.get("values_count") is not None:
        count = _obj(value["values_count"], "values_count")
        kwargs["values_count"] = qe.ValuesCount(**{k: _int(count[k], k) for k in ("lt", "gt", "lte", "gte")
                                                   if count.get(k) is not None})
    if value.get("is_empty") is not None:
        kwargs["is_empty"] = _bool(value["is_empty"], "is_empty")
    if value.get("is_null") is not None:
        kwargs["is_null"] = _bool(value["is_null"], "is_null")
    if not kwargs:
        raise BadInput(f"a condition on {key!r} needs match, range, geo or values_count")
    return qe.FieldCondition(key, **kwargs)


def _match_value(value):
    if isinstance(value, (bool, str)) or (type(value) is int and -(2**63) <= value < 2**63):
        return value
    raise BadInput("match value must be a string, an integer or a boolean")


def _match_values(value) -> list:
    if not isinstance(value, list):
        raise BadInput("match any/except takes a list")
    return [_match_value(v) for v in value]


def _match(value: dict):
    if "value" in value:
        return qe.MatchValue(_match_value(value["value"]))
    if "text" in value:
        return qe.MatchText(_str(value["text"], "text"))
    if "text_any" in value:
        return qe.MatchTextAny(_str(value["text_any"], "text_any"))
    if "phrase" in value:
        return qe.MatchPhrase(_str(value["phrase"], "phrase"))
    if "any" in value:
        return qe.MatchAny(_match_values(value["any"]))
    if "except" in value:
        return qe.MatchExcept(_match_values(value["except"]))
    raise BadInput("data did not match any variant of untagged enum Match")


def _range(value: dict):
    bounds = {k: value[k] for k in ("gt", "gte", "lt", "lte") if value.get(k) is not None}
    if all(isinstance(v, str) for v in bounds.values()) and bounds:
        return qe.RangeDateTime(**bounds)
    return qe.RangeFloat(**{k: _number(v, k) for k, v in bounds.items()})


def _geo_point(value):
    value = _obj(value, "geo point")
    return qe.GeoPoint(_number(value.get("lon"), "lon"), _number(value.get("lat"), "lat"))


# Search parameters and queries.


def search_params(value):
    if value is None:
        return None
    value = _obj(value, "params")
    hnsw_ef = value.get("hnsw_ef")
    return qe.SearchParams(
        hnsw_ef=_int(hnsw_ef, "hnsw_ef") if hnsw_ef is not None else None,
        exact=_bool(value.get("exact", False), "exact"),
        indexed_only=_bool(value.get("indexed_only", False), "indexed_only"),
    )


def limit(value, default: int) -> int:
    return default if value is None else _int(value, "limit", 0, 2**32)


def offset(value) -> int | None:
    return None if value is None else _int(value, "offset", 0, 2**32)


def score_threshold(value) -> float | None:
    return None if value is None else _number(value, "score_threshold")


def order_by(value):
    if value is None:
        return None
    if isinstance(value, str):
        return qe.OrderBy(value)
    value = _obj(value, "order_by")
    direction = value.get("direction")
    if direction not in (None, "asc", "desc"):
        raise BadInput("direction is asc or desc")
    start_from = value.get("start_from")
    if start_from is not None and type(start_from) not in (int, float, str):
        raise BadInput("start_from is a number or a date-time")
    return qe.OrderBy(_str(value.get("key"), "key"),
                      direction={"asc": qe.Direction.Asc, "desc": qe.Direction.Desc}.get(direction),
                      start_from=start_from)


def is_point_reference(value) -> bool:
    return (type(value) is int and value >= 0) or (isinstance(value, str) and _is_uuid(value))


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
        return True
    except ValueError:
        return False


def nearest_query(vector, using: str | None):
    return qe.Query.Nearest(_vector(vector, "query"), using=using)


def scored_out(point) -> dict:
    return {
        "id": id_out(point.id),
        "version": point.version,
        "score": point.score,
        "payload": point.payload,
        "vector": vector_out(point.vector),
        "shard_key": None,
        "order_value": point.order_value,
    }


def record_out(record) -> dict:
    out = {"id": id_out(record.id), "payload": record.payload, "vector": vector_out(record.vector),
           "shard_key": None}
    if record.order_value is not None:
        out["order_value"] = record.order_value
    return out


# Payload index schemas: `"keyword"` or `{"type": "keyword", ...params}` (PUT /collections/{c}/index).

SCHEMA_NAMES = {name: kind for kind, name in SCHEMA_TYPES.items()}
_TOKENIZERS = {"prefix": qe.TokenizerType.Prefix, "whitespace": qe.TokenizerType.Whitespace,
               "word": qe.TokenizerType.Word, "multilingual": qe.TokenizerType.Multilingual}
_COMMON_PARAMS = {"on_disk": "bool", "enable_hnsw": "bool"}
# type -> (qdrant-edge's params class, the parameters it takes and their kind)
_INDEX_PARAMS = {
    "keyword": (qe.KeywordIndexParams, {"is_tenant": "bool"}),
    "integer": (qe.IntegerIndexParams, {"lookup": "bool", "range": "bool", "is_principal": "bool"}),
    "float": (qe.FloatIndexParams, {"is_principal": "bool"}),
    "geo": (qe.GeoIndexParams, {}),
    "bool": (qe.BoolIndexParams, {}),
    "datetime": (qe.DatetimeIndexParams, {"is_principal": "bool"}),
    "uuid": (qe.UuidIndexParams, {"is_tenant": "bool"}),
    "text": (qe.TextIndexParams, {"tokenizer": "tokenizer", "min_token_len": "int", "max_token_len": "int",
                                  "lowercase": "bool", "ascii_folding": "bool", "phrase_matching": "bool"}),
}


def field_schema(value):
    """A payload index's schema: a qdrant-edge PayloadSchemaType, or index params for the object form."""
    if isinstance(value, str):
        if value not in SCHEMA_NAMES:
            raise BadInput(f"unknown variant `{value}`, expected one of {', '.join(f'`{n}`' for n in SCHEMA_NAMES)}")
        return SCHEMA_NAMES[value]
    value = _obj(value, "field_schema")
    kind = value.get("type")
    if kind not in _INDEX_PARAMS:
        raise BadInput(f"unknown field_schema type {kind!r}, expected one of {', '.join(_INDEX_PARAMS)}")
    cls, allowed = _INDEX_PARAMS[kind]
    allowed = allowed | _COMMON_PARAMS
    kwargs = {}
    for key, given in value.items():
        if key == "type" or given is None:
            continue
        what = allowed.get(key)
        if what is None:
            raise Unsupported(f"the {kind} index parameter `{key}` is not supported by this data plane")
        if what == "bool":
            kwargs[key] = _bool(given, key)
        elif what == "int":
            kwargs[key] = _int(given, key, 0, 2**32 - 1)
        else:
            if given not in _TOKENIZERS:
                raise BadInput(f"unknown tokenizer {given!r}, expected one of {', '.join(_TOKENIZERS)}")
            kwargs[key] = _TOKENIZERS[given]
    return cls(**kwargs)
