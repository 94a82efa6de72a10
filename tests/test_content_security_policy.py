"""Every page carries a Content-Security-Policy that forbids inline script, and
no template needs inline script or style; the Swagger UI at /api/docs works
under it (its init script is a URL of its own)."""

import re
from pathlib import Path

from django.urls import reverse

from tests.test_api_support import api_as, url

ROOT = Path(__file__).resolve().parents[1]


def directives(response) -> dict[str, list[str]]:
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}


def assert_strict(response):
    policy = directives(response)
    assert policy["script-src"] == ["'self'"], policy
    assert policy["style-src"] == ["'self'"], policy
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"]


def test_console_pages_forbid_inline_script(client, client_of, owner, account, cluster):
    assert_strict(client.get(reverse("login")))
    signed_in = client_of(owner)
    for path in (
        reverse("clusters:list", kwargs={"account_id": account.id}),
        reverse("clusters:detail", kwargs={"account_id": account.id, "cluster_id": cluster.id}),
        reverse("logout"),
        "/no-such-page/",
    ):
        assert_strict(signed_in.get(path))


def test_api_answers_carry_it_too(owner, account):
    assert_strict(api_as(owner, account).get(url("clusters", account)))


def test_no_template_has_inline_script_handlers_or_style():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script\b[^>]*>", text):
            assert "src=" in tag, f"{template}: inline <script>"
        assert not re.search(r"\son[a-z]+\s*=", text), f"{template}: an on...= handler"
        assert "<style" not in text and not re.search(r"\sstyle\s*=", text), f"{template}: inline style"
        assert "javascript:" not in text, template


def test_the_swagger_ui_page_needs_no_inline_script(client):
    page = client.get("/api/docs")
    assert page.status_code == 200
    assert_strict(page)
    html = page.content.decode()
    assert "<style" not in html
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all("src=" in attrs and not body.strip() for attrs, body in scripts)
    init = re.search(r'<script src="(/api/docs\?[^"]*script=[^"]*)"', html).group(1).replace("&amp;", "&")
    script = client.get(init)
    assert script.status_code == 200 and "javascript" in script["Content-Type"]
    assert "SwaggerUIBundle" in script.content.decode() and "/api/schema" in script.content.decode()


def test_the_reveal_page_may_fetch_its_clusters_endpoint(client_of, owner, cluster):
    from tests.fixtures.apikeys import create_url, form_data

    page = client_of(owner).post(create_url(cluster), form_data(name="csp check", cluster_access="r"))
    assert page.status_code == 200, page.content[:300]
    assert directives(page)["connect-src"] == ["'self'", f"{cluster.endpoint_url}:{cluster.rest_port}"]
    assert directives(page)["script-src"] == ["'self'"]
