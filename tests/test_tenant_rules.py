"""keyset/tenant.py: how a tenant-bound key's request is bound, route by route (issue 23).

The module is pure: these tests give it a route and a body, and read the plan
(the body to run, the ids to check first) or the refusal. The front's tests
(test_tenant_front.py) run the same rules against real storage.
"""

import json

import pytest

from keyset.tenant import (
    DROP, HIDE, REFUSE, NotFound, Refused, Tenant, bind, foreign_ids, ownership_request, tenant_from_wire,
    tenant_to_wire, tenant_value,
)

ACME = Tenant("group_id", "acme", "keyword", write=True)
READER = Tenant("group_id", "acme", "keyword", write=False)
CONDS = [{"key": "group_id", "match": {"value": "acme"}}]
WRITE_CONDS = [*CONDS, {"key": "group_id", "values_count": {"lt": 2}}]


def plan(method, path, body=None, tenant=ACME):
    return bind(tenant, method, path.strip("/").split("/"), body)


@pytest.mark.parametrize("path,body", [
    ("collections/c/points/query", {"query": [0.1, 0.2]}),
    ("collections/c/points/search", {"vector": [0.1, 0.2]}),
    ("collections/c/points/recommend", {"positive": [[0.1, 0.2]]}),
    ("collections/c/points/discover", {"target": [0.1, 0.2]}),
    ("collections/c/points/scroll", {}),
    ("collections/c/points/count", {}),
    ("collections/c/facet", {"key": "color"}),
    ("collections/c/points/search/matrix/pairs", {"sample": 10}),
    ("collections/c/points/search/matrix/offsets", {"sample": 10}),
    ("collections/c/points/query/groups", {"query": [0.1], "group_by": "g"}),
    ("collections/c/points/search/groups", {"vector": [0.1], "group_by": "g"}),
    ("collections/c/points/recommend/groups", {"positive": [[0.1]], "group_by": "g"}),
])
def test_reads_get_the_condition_in_their_filter(path, body):
    assert plan("POST", path, body).body["filter"] == {"must": CONDS}


def test_the_condition_is_anded_with_the_request_filter():
    own = {"should": [{"key": "group_id", "match": {"value": "globex"}}]}
    result = plan("POST", "collections/c/points/scroll", {"filter": own}).body
    assert result["filter"] == {"must": [*CONDS, own]}


def test_a_read_without_a_body_is_bound_too():
    assert plan("POST", "collections/c/points/count", None).body == {"filter": {"must": CONDS}}


def test_every_search_of_a_batch_and_every_prefetch_is_bound():
    body = {"searches": [{"query": [0.1], "prefetch": [{"query": [0.2], "prefetch": {"query": [0.3]}}]},
                         {"query": [0.4], "filter": {"must": []}}]}
    result = plan("POST", "collections/c/points/query/batch", body).body
    first, second = result["searches"]
    assert first["filter"] == {"must": CONDS}
    assert first["prefetch"][0]["filter"] == {"must": CONDS}
    assert first["prefetch"][0]["prefetch"]["filter"] == {"must": CONDS}
    assert second["filter"] == {"must": [*CONDS, {"must": []}]}


def test_point_ids_used_as_examples_are_checked_as_reads():
    result = plan("POST", "collections/c/points/query", {"query": {"recommend": {"positive": [1, [0.1]], "negative": [2]}}})
    assert [(c.collection, c.ids, c.mode) for c in result.checks] == [("c", [1, 2], HIDE)]
    with pytest.raises(NotFound, match="No point with id 2 found"):
        result.finish([{2}])


def test_another_tenants_example_can_go_as_a_stand_in_named_back_in_the_answer():
    body = {"prefetch": {"query": 7}, "query": {"discover": {"target": 1, "context": [{"positive": 7, "negative": 2}]}}}
    result = plan("POST", "collections/c/points/query", body)
    assert [check.ids for check in result.checks] == [[1], [7, 2], [7]]
    result.finish([set(), {7}, {7}], in_place=True)
    stand_ins = list(result.hidden)
    assert len(stand_ins) == 2 and result.changed
    assert result.body["query"]["discover"]["context"][0] == {"positive": stand_ins[0], "negative": 2}
    assert result.body["prefetch"]["query"] == stand_ins[1]
    assert result.body["query"]["discover"]["target"] == 1
    assert result.reveal(f"Not found: No point with id {stand_ins[1]} found") == "Not found: No point with id 7 found"
    assert result.not_found().message == "Not found: No point with id 7 found"
    # A parse error's column, as if the ids had been sent: each stand-in is 37 characters longer than 7.
    sent = json.dumps(result.body, separators=(",", ":"))
    end = len(sent)
    assert result.reveal(f"missing field at line 1 column {end}", sent) == f"missing field at line 1 column {end - 74}"
    assert result.reveal("missing field at line 1 column 3", sent) == "missing field at line 1 column 3"


def test_lookup_from_another_collection_is_refused_unless_bound_there():
    body = {"query": 5, "lookup_from": {"collection": "other"}}
    bound_here = Tenant("group_id", "acme", "keyword", True, frozenset({"c"}))
    with pytest.raises(Refused, match="lookup_from other"):
        plan("POST", "collections/c/points/query", dict(body), bound_here)
    result = plan("POST", "collections/c/points/query", dict(body), ACME)  # bound everywhere
    assert [(c.collection, c.ids) for c in result.checks] == [("other", [5])]


@pytest.mark.parametrize("path", ["query/groups", "search/groups", "recommend/groups"])
def test_with_lookup_is_refused_unless_bound_in_the_lookup_collection(path):
    bound_here = Tenant("group_id", "acme", "keyword", True, frozenset({"c"}))
    with pytest.raises(Refused, match="with_lookup other: the key is not bound to its tenant there"):
        plan("POST", f"collections/c/points/{path}", {"group_by": "g", "with_lookup": "other"}, bound_here)
    with pytest.raises(Refused, match="`filter` in with_lookup"):
        plan("POST", f"collections/c/points/{path}", {"group_by": "g", "with_lookup": {"collection": "c",
                                                                                      "filter": {}}})


def test_with_lookup_leaves_the_body_and_is_read_as_the_tenants_points():
    result = plan("POST", "collections/c/points/search/groups",
                  {"vector": [0.1], "group_by": "g", "shard_key": "eu", "with_lookup": {
                      "collection": "other", "with_vectors": True}})
    assert "with_lookup" not in result.body and result.changed
    lookup = result.lookup
    assert (lookup.collection, lookup.with_payload, lookup.with_vectors) == ("other", True, True)
    uid = "8a5b1b1c-0000-4000-8000-000000000001"
    # Qdrant keys what it found by the point's canonical id: nothing else ever gets a record.
    groups = [{"id": 3}, {"id": uid}, {"id": uid.upper()}, {"id": "red"}, {"id": -1}, {"id": 3}]
    assert lookup.request(ACME, groups) == {
        "filter": {"must": [*CONDS, {"has_id": [3, uid]}]}, "limit": 2, "with_payload": True, "with_vector": True,
        "shard_key": "eu"}
    assert lookup.request(ACME, [{"id": "red"}]) is None
    lookup.attach(groups, [{"id": uid, "payload": {"group_id": "acme"}}])
    assert [group.get("lookup") for group in groups] == [None, {"id": uid, "payload": {"group_id": "acme"}},
                                                         None, None, None, None]
    # The short form: the payload, no vectors, as in Qdrant.
    short = plan("POST", "collections/c/points/query/groups", {"group_by": "g", "with_lookup": "c"}).lookup
    assert (short.collection, short.with_payload, short.with_vectors) == ("c", True, False)


def test_retrieve_by_ids_drops_other_tenants_points():
    result = plan("POST", "collections/c/points", {"ids": [1, 2, "8a5b1b1c-0000-4000-8000-000000000001"]})
    check = result.checks[0]
    assert check.mode == DROP
    assert ownership_request(ACME, check) == {"ids": [1, 2, "8a5b1b1c-0000-4000-8000-000000000001"],
                                              "with_payload": ["group_id"], "with_vector": False}
    records = [{"id": 1, "payload": {"group_id": "acme"}}, {"id": 2, "payload": {"group_id": "globex"}},
               {"id": "8a5b1b1c-0000-4000-8000-000000000001", "payload": {}}]
    assert result.finish([foreign_ids(ACME, records, check)])["ids"] == [1]


def test_get_point_of_another_tenant_is_not_found():
    result = plan("GET", "collections/c/points/7")
    assert result.checks[0].ids == [7] and result.checks[0].mode == HIDE
    with pytest.raises(NotFound, match="No point with id 7 found"):
        result.finish([{7}])


def test_upsert_needs_the_value_on_every_point_and_names_the_one_without():
    with pytest.raises(Refused, match="point 2 must carry group_id = \"acme\""):
        plan("PUT", "collections/c/points", {"points": [
            {"id": 1, "vector": [0.1], "payload": {"group_id": "acme"}},
            {"id": 2, "vector": [0.1], "payload": {"group_id": "globex"}}]})
    with pytest.raises(Refused, match="point 3 must carry"):
        plan("PUT", "collections/c/points", {"batch": {"ids": [3], "vectors": [[0.1]]}})


def test_upsert_over_another_tenants_point_is_refused():
    result = plan("PUT", "collections/c/points", {"points": [{"id": 1, "vector": [0.1],
                                                              "payload": {"group_id": "acme"}}]})
    assert result.checks[0].mode == REFUSE and not result.changed  # the front may forward the bytes it got
    with pytest.raises(Refused, match="point 1 is another tenant's"):
        result.finish([{1}])
    assert result.finish([set()])["points"][0]["id"] == 1


def test_integer_and_uuid_values_are_matched_by_type():
    number = Tenant("org", 7, "integer", True)
    assert number.owns({"org": 7}) and not number.owns({"org": "7"}) and not number.owns({"org": True})
    ident = Tenant("org", tenant_value("uuid", "8A5B1B1C-0000-4000-8000-000000000001"), "uuid", True)
    assert ident.owns({"org": "8a5b1b1c-0000-4000-8000-000000000001"})
    assert ident.owns({"org": ["8a5b1b1c-0000-4000-8000-000000000001"]})  # one value, as the filter counts it
    # A list of tenants (made by an unbound key): seen by each, changed by none.
    assert number.sees({"org": [7, 8]}) and not number.owns({"org": [7, 8]})


@pytest.mark.parametrize("method,path,body", [
    ("POST", "collections/c/points/payload", {"payload": {"group_id": "globex"}, "points": [1]}),
    ("POST", "collections/c/points/payload", {"payload": {"x": 1}, "key": "group_id", "points": [1]}),
    ("PUT", "collections/c/points/payload", {"payload": {"x": 1}, "points": [1]}),
    ("POST", "collections/c/points/payload/delete", {"keys": ["group_id"], "points": [1]}),
    ("POST", "collections/c/points/payload/delete", {"keys": ["group_id.inner"], "filter": {}}),
    ("POST", "collections/c/points/payload/clear", {"points": [1]}),
])
def test_a_write_never_changes_or_removes_the_tenant_field(method, path, body):
    with pytest.raises(Refused, match="tenant field|keep group_id"):
        plan(method, path, body)


def test_writes_by_filter_are_anded_and_by_ids_are_checked():
    by_filter = plan("POST", "collections/c/points/delete", {"filter": {"must": [{"key": "x", "match": {"value": 1}}]}})
    assert by_filter.body["filter"]["must"][:2] == WRITE_CONDS and not by_filter.checks
    by_ids = plan("POST", "collections/c/points/payload", {"payload": {"x": 1}, "points": [1, 2]})
    assert by_ids.checks[0].ids == [1, 2] and by_ids.checks[0].mode == REFUSE


def test_batch_update_decides_every_operation_first():
    def operations():
        return [{"upsert": {"points": [{"id": 1, "vector": [0.1], "payload": {"group_id": "acme"}}]}},
                {"delete": {"filter": {}}}]

    with pytest.raises(Refused, match="clearing a payload"):
        plan("POST", "collections/c/points/batch", {"operations": [*operations(), {"clear_payload": {"points": [1]}}]})
    result = plan("POST", "collections/c/points/batch", {"operations": operations()})
    assert result.body["operations"][1]["delete"]["filter"] == {"must": WRITE_CONDS}
    assert [c.ids for c in result.checks] == [[1]]


def test_a_read_only_binding_refuses_writes():
    with pytest.raises(Refused, match="read-only"):
        plan("POST", "collections/c/points/delete", {"points": [1]}, READER)
    assert plan("POST", "collections/c/points/count", {}, READER).body["filter"] == {"must": CONDS}


@pytest.mark.parametrize("method,path", [
    ("GET", "collections/c"), ("PUT", "collections/c"), ("DELETE", "collections/c"),
    ("PATCH", "collections/c"), ("PUT", "collections/c/index"), ("DELETE", "collections/c/index/f"),
    ("POST", "collections/c/snapshots"), ("GET", "collections/c/snapshots"), ("POST", "collections/aliases"),
    ("GET", "aliases"), ("GET", "collections/c/aliases"), ("GET", "cluster"), ("POST", "collections/c/cluster"),
    ("POST", "collections/c/points/unknown"), ("GET", "telemetry"), ("POST", "snapshots"),
])
def test_routes_it_cannot_bind_are_refused(method, path):
    with pytest.raises(Refused, match="not available to tenant-bound keys"):
        plan(method, path, {})


def test_unknown_body_fields_are_refused():
    with pytest.raises(Refused, match="`filters`"):
        plan("POST", "collections/c/points/scroll", {"filters": {}})
    with pytest.raises(Refused, match="`lookup`"):
        plan("POST", "collections/c/points/query", {"prefetch": [{"lookup": 1}]})


def test_a_collection_not_bound_is_left_to_the_keys_access():
    partial = Tenant("group_id", "acme", "keyword", True, frozenset({"c"}))
    assert plan("POST", "collections/d/points/scroll", {}, partial) is None
    assert plan("POST", "collections/c/points/scroll", {}, partial).body["filter"] == {"must": CONDS}


def test_the_wire_form_round_trips():
    row = tenant_to_wire("group_id", "42", "integer", "r", ["b", "a"])
    assert row == ["group_id", 42, "integer", "r", ["a", "b"]]
    assert tenant_from_wire(row) == Tenant("group_id", 42, "integer", False, frozenset({"a", "b"}))
    assert tenant_to_wire("", "", "keyword", "r", []) is None
