"""Connection snippets shown after a database API key is created. Pure: no DB."""

import ast
import shlex
from pathlib import Path

import pytest

from apikeys.snippets import API_KEY_PLACEHOLDER, Snippet, connection_snippets, pygments_css

HOST = "abc-123.eu-central-1-0.aws.cloud.qdrant.io"
KEY = "eyJhbGciOiJIUzI1NiJ9.eyJhY2Nlc3MiOiJyIn0.c2lnbmF0dXJl"
HOSTILE_KEY = "it's $(touch /tmp/pwned) `id` \"quoted\" \\ back\\slash"
# Unusual ports, so a snippet that silently fell back to 6333/6334 fails.
REST_PORT, GRPC_PORT = 16333, 16334
REST_SNIPPETS = ("curl", "curl-bearer", "python", "typescript")
GRPC_SNIPPETS = ("rust", "java", "csharp", "go")


def snippets(endpoint_url: str = f"https://{HOST}", api_key: str | None = KEY) -> dict[str, Snippet]:
    found = connection_snippets(endpoint_url=endpoint_url, rest_port=REST_PORT, grpc_port=GRPC_PORT, api_key=api_key)
    return {s.id: s for s in found}


def test_it_offers_each_language_in_order():
    found = connection_snippets(endpoint_url=f"https://{HOST}", rest_port=6333, grpc_port=6334, api_key=KEY)
    assert [s.label for s in found] == [
        "curl (api-key header)", "curl (Bearer)", "Python", "TypeScript", "Rust", "Java", "C#", "Go",
    ]
    assert len({s.id for s in found}) == len(found)


def test_it_uses_the_real_host_ports_and_key():
    found = snippets()
    for snippet in found.values():
        assert HOST in snippet.code, snippet.id
        assert KEY in snippet.code, snippet.id
    for id_ in REST_SNIPPETS:
        code = "\n".join(line for line in found[id_].code.splitlines() if not line.lstrip().startswith("#"))
        assert str(REST_PORT) in code and str(GRPC_PORT) not in code, id_
    # Python shows, commented out, how to switch to gRPC: on the gRPC port.
    assert f"    # grpc_port={GRPC_PORT}, prefer_grpc=True,\n" in found["python"].code
    for id_ in GRPC_SNIPPETS:
        assert str(GRPC_PORT) in found[id_].code and str(REST_PORT) not in found[id_].code, id_


def test_curl_snippets_send_the_key_in_the_documented_headers():
    found = snippets()
    assert shlex.split(found["curl"].code) == [
        "curl", "-X", "GET", f"https://{HOST}:{REST_PORT}", "--header", f"api-key: {KEY}",
    ]
    assert shlex.split(found["curl-bearer"].code)[-1] == f"Authorization: Bearer {KEY}"


def test_it_shows_a_placeholder_without_a_key():
    for snippet in snippets(api_key=None).values():
        assert API_KEY_PLACEHOLDER in snippet.code, snippet.id


# How each language says "TLS on/off" for the endpoint.
def tls_markers(tls: bool) -> dict[str, str]:
    scheme, flag = ("https", "true") if tls else ("http", "false")
    return {
        "curl": f"'{scheme}://localhost:{REST_PORT}'",
        "curl-bearer": f"'{scheme}://localhost:{REST_PORT}'",
        "python": f'url="{scheme}://localhost"',
        "typescript": f'url: "{scheme}://localhost"',
        "rust": f'Qdrant::from_url("{scheme}://localhost:{GRPC_PORT}")',
        "java": f"boolean useTls = {flag};",
        "csharp": f"https: {flag},",
        "go": f"UseTLS: {flag},",
    }


def test_a_plain_http_endpoint_never_uses_tls():
    found = snippets(endpoint_url="http://localhost")
    for id_, marker in tls_markers(tls=False).items():
        assert marker in found[id_].code, id_
        assert "https://" not in found[id_].code, id_
        assert "true" not in found[id_].code, id_


def test_an_https_endpoint_always_uses_tls():
    found = snippets(endpoint_url="https://localhost")
    for id_, marker in tls_markers(tls=True).items():
        assert marker in found[id_].code, id_
        assert "http://" not in found[id_].code, id_
        assert "false" not in found[id_].code, id_


@pytest.mark.parametrize("id_, header", [("curl", "api-key: "), ("curl-bearer", "Authorization: Bearer ")])
def test_curl_quotes_a_hostile_key_safely(id_, header):
    command = snippets(api_key=HOSTILE_KEY)[id_].code
    assert shlex.split(command) == ["curl", "-X", "GET", f"https://{HOST}:{REST_PORT}", "--header", header + HOSTILE_KEY]


def test_python_snippet_compiles_and_keeps_a_hostile_key_intact():
    code = snippets(api_key=HOSTILE_KEY)["python"].code
    compile(code, "snippet.py", "exec")
    (call,) = [n for n in ast.walk(ast.parse(code)) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "QdrantClient"]
    arguments = {kw.arg: ast.literal_eval(kw.value) for kw in call.keywords}
    assert arguments == {"url": f"https://{HOST}", "port": REST_PORT, "api_key": HOSTILE_KEY}


@pytest.mark.parametrize("id_", GRPC_SNIPPETS + ("typescript",))
def test_a_hostile_key_stays_inside_one_string_literal(id_):
    code = snippets(api_key=HOSTILE_KEY)[id_].code
    # Every quote and backslash of the key is escaped, so the literal cannot end early.
    assert '"it\'s $(touch /tmp/pwned) `id` \\"quoted\\" \\\\ back\\\\slash"' in code


def test_the_highlighted_html_has_no_inline_styles():
    for snippet in snippets(api_key=HOSTILE_KEY).values():
        assert 'class="snippet-code"' in snippet.html, snippet.id
        assert "style=" not in snippet.html, snippet.id


def test_the_highlighted_html_escapes_the_placeholder():
    for snippet in snippets(api_key=None).values():
        assert API_KEY_PLACEHOLDER not in snippet.html, snippet.id
        assert "&lt;paste-your-api-key-here&gt;" in snippet.html, snippet.id


def test_the_committed_stylesheet_matches_the_highlighter():
    css = (Path(__file__).resolve().parent.parent / "static" / "apikeys" / "snippets.css").read_text()
    assert pygments_css() in css
    assert "\npre {" not in css  # Pygments' unscoped line-number rules would restyle every <pre>


@pytest.mark.parametrize("endpoint_url", ["localhost", "ftp://localhost", "http://localhost:6333", "https://"])
def test_it_rejects_an_endpoint_that_is_not_scheme_and_host(endpoint_url):
    with pytest.raises(ValueError):
        snippets(endpoint_url=endpoint_url)


def test_a_new_cluster_shows_the_data_planes_grpc_port(settings, account, owner):
    from apikeys.snippets import connection_snippets
    from tests.conftest import make_cluster

    settings.DATAPLANE_GRPC_PORT = 7334
    cluster = make_cluster(account, name="grpc-port")
    assert cluster.grpc_port == 7334
    rendered = {s.id: s.code for s in connection_snippets(endpoint_url=cluster.endpoint_url,
                                                          rest_port=cluster.rest_port, grpc_port=cluster.grpc_port,
                                                          api_key="k")}
    assert ":7334" in rendered["rust"] and "7334" in rendered["go"]
