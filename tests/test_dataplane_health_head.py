"""Load balancers probe with HEAD: the health routes answer it as GET does, without a body."""

import httpx


def test_head_on_the_health_routes_answers_as_get_does_without_a_body(dataplane):
    for path in ("/healthz", "/livez", "/readyz"):
        get = httpx.get(dataplane.url + path)
        head = httpx.head(dataplane.url + path)
        assert (head.status_code, head.content) == (200, b""), path
        assert head.headers["content-length"] == get.headers["content-length"] == str(len(get.content))
        assert head.headers["content-type"] == get.headers["content-type"]


def test_other_methods_on_them_still_need_a_key(dataplane):
    assert httpx.post(dataplane.url + "/healthz").status_code == 401
