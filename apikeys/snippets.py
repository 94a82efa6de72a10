"""Connection snippets shown after a database API key is created.

Each snippet is a complete program that lists the cluster's collections, in the
style of Qdrant Cloud's "Test cluster access" and SDK examples. Client calls
follow the official clients: qdrant-client (Python), @qdrant/js-client-rest,
qdrant-client (Rust crate), io.qdrant:client (Java), Qdrant.Client (.NET) and
github.com/qdrant/go-client. REST snippets use the REST port, gRPC clients
(Rust, Java, C#, Go) the gRPC port.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

logger = logging.getLogger(__name__)

API_KEY_PLACEHOLDER = "<paste-your-api-key-here>"

# The committed static/apikeys/snippets.css is `pygments_css()`; change these
# and regenerate it.
CSS_CLASS = "snippet-code"
TOKEN_CLASS_PREFIX = "tok-"
PYGMENTS_STYLE = "friendly"

_FORMATTER = HtmlFormatter(
    cssclass=CSS_CLASS,
    classprefix=TOKEN_CLASS_PREFIX,
    style=PYGMENTS_STYLE,
    nowrap=False,
    wrapcode=True,
    linenos=False,
    noclasses=False,
)


@dataclass(frozen=True)
class Snippet:
    id: str
    label: str
    language: str  # Pygments lexer name
    code: str  # what Copy puts on the clipboard
    html: str  # `code` highlighted; every character of it escaped by Pygments


def connection_snippets(
    *, endpoint_url: str, rest_port: int, grpc_port: int, api_key: str | None
) -> list[Snippet]:
    """Snippets that connect to the cluster at `endpoint_url` (scheme and host, no port)."""
    parts = urlsplit(endpoint_url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.port is not None:
        raise ValueError(f"expected http(s)://host without a port, got {endpoint_url!r}")
    tls = parts.scheme == "https"
    host = parts.hostname
    url_host = f"[{host}]" if ":" in host else host  # IPv6 literal
    base_url = f"{parts.scheme}://{url_host}"
    key = API_KEY_PLACEHOLDER if api_key is None else api_key
    rest_url = f"{base_url}:{rest_port}"
    grpc_url = f"{base_url}:{grpc_port}"

    sources = [
        ("curl", "curl (api-key header)", "bash", _curl(rest_url, f"api-key: {key}")),
        ("curl-bearer", "curl (Bearer)", "bash", _curl(rest_url, f"Authorization: Bearer {key}")),
        ("python", "Python", "python", _python(base_url, rest_port, grpc_port, key)),
        ("typescript", "TypeScript", "typescript", _typescript(base_url, rest_port, key)),
        ("rust", "Rust", "rust", _rust(grpc_url, key)),
        ("java", "Java", "java", _java(host, grpc_port, tls, key)),
        ("csharp", "C#", "csharp", _csharp(host, grpc_port, tls, key)),
        ("go", "Go", "go", _go(host, grpc_port, tls, key)),
    ]
    return [
        Snippet(id=id_, label=label, language=language, code=code, html=_highlight(code, language))
        for id_, label, language, code in sources
    ]


def pygments_css() -> str:
    """The stylesheet for the highlighted HTML, scoped to CSS_CLASS.

    Only the background and token rules: Pygments' line-number rules are global
    (`pre { line-height: 125% }`) and would restyle every <pre> in the console.
    """
    scope = f".{CSS_CLASS}"
    rules = _FORMATTER.get_background_style_defs(scope) + _FORMATTER.get_token_style_defs(scope)
    return "\n".join(rules) + "\n"


def _highlight(code: str, language: str) -> SafeString:
    return mark_safe(highlight(code, get_lexer_by_name(language), _FORMATTER))


# String literals. Keys are JWTs or URL-safe random strings, but nothing the
# value contains may end the literal: quotes and backslashes are escaped, and
# every character outside printable ASCII is written as an escape sequence.


def _literal(value: str, escape: Callable[[int], str]) -> str:
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append(escape(ord(ch)))
    return '"' + "".join(out) + '"'


def _utf16(cp: int) -> str:
    if cp >= 0x10000:  # a surrogate pair
        cp -= 0x10000
        return f"\\u{0xD800 + (cp >> 10):04x}\\u{0xDC00 + (cp & 0x3FF):04x}"
    return f"\\u{cp:04x}"


def _java_escape(cp: int) -> str:
    # javac turns \uXXXX into the raw character before it reads string
    # literals, so \u000a would end the line inside the literal: ASCII control
    # characters get octal escapes, which are only read inside a literal.
    return f"\\{cp:03o}" if cp < 0x80 else _utf16(cp)


def _py(value: str) -> str:  # also Go: both read \UXXXXXXXX
    return _literal(value, lambda cp: f"\\U{cp:08x}")


def _js(value: str) -> str:  # also Rust: both read \u{X}
    return _literal(value, lambda cp: f"\\u{{{cp:x}}}")


def _cs(value: str) -> str:
    return _literal(value, _utf16)


def _java_str(value: str) -> str:
    return _literal(value, _java_escape)


def _sh(value: str) -> str:
    """Single-quoted shell word; a quote inside becomes '\\'' (close, escaped quote, reopen)."""
    return "'" + value.replace("'", "'\\''") + "'"


# Programs. Each one lists the cluster's collections.


def _curl(url: str, header: str) -> str:
    # No trailing newline: pasting one into a terminal would run the command at once.
    return f"curl -X GET {_sh(url)} --header {_sh(header)}"


def _python(base_url: str, port: int, grpc_port: int, key: str) -> str:
    # qdrant-client takes the scheme (and so TLS) from `url`, the port from
    # `port`, and with prefer_grpc the gRPC port from `grpc_port`.
    return f"""from qdrant_client import QdrantClient

client = QdrantClient(
    url={_py(base_url)},
    port={port},
    api_key={_py(key)},
    # gRPC instead of REST: uncomment the next line.
    # grpc_port={grpc_port}, prefer_grpc=True,
)

print(client.get_collections())
"""


def _typescript(base_url: str, port: int, key: str) -> str:
    # js-client-rest takes the scheme (and so TLS) from `url`, the port from `port`.
    # Node runs no TypeScript by itself (before Node 22.6): the comment names a runner.
    return f"""// Save as main.ts, then run it with Node 20 or later:
//   npm install @qdrant/js-client-rest tsx && npx tsx main.ts
import {{ QdrantClient }} from "@qdrant/js-client-rest";

const client = new QdrantClient({{
  url: {_js(base_url)},
  port: {port},
  apiKey: {_js(key)},
}});

async function main(): Promise<void> {{
  const result = await client.getCollections();
  console.log("List of collections:", result.collections);
}}

main().catch((err) => console.error("Could not get collections:", err));
"""


def _rust(grpc_url: str, key: str) -> str:
    return f"""// Cargo.toml: qdrant-client = "1"
//             tokio = {{ version = "1", features = ["macros", "rt-multi-thread"] }}
use qdrant_client::{{Qdrant, QdrantError}};

#[tokio::main]
async fn main() -> Result<(), QdrantError> {{
    let client = Qdrant::from_url({_js(grpc_url)})
        .api_key({_js(key)})
        .build()?;

    let collections = client.list_collections().await?;
    println!("{{collections:?}}");
    Ok(())
}}
"""


def _java(host: str, port: int, tls: bool, key: str) -> str:
    return f"""import io.qdrant.client.QdrantClient;
import io.qdrant.client.QdrantGrpcClient;

public class Main {{
  public static void main(String[] args) throws Exception {{
    boolean useTls = {str(tls).lower()};
    try (QdrantClient client =
        new QdrantClient(
            QdrantGrpcClient.newBuilder({_java_str(host)}, {port}, useTls)
                .withApiKey({_java_str(key)})
                .build())) {{
      System.out.println(client.listCollectionsAsync().get());
    }}
  }}
}}
"""


def _csharp(host: str, port: int, tls: bool, key: str) -> str:
    return f"""using System;
using Qdrant.Client;

using var client = new QdrantClient(
    host: {_cs(host)},
    port: {port},
    https: {str(tls).lower()},
    apiKey: {_cs(key)}
);

var collections = await client.ListCollectionsAsync();
Console.WriteLine(string.Join(Environment.NewLine, collections));
"""


def _go(host: str, port: int, tls: bool, key: str) -> str:
    return f"""package main

import (
\t"context"
\t"fmt"
\t"log"

\t"github.com/qdrant/go-client/qdrant"
)

func main() {{
\tclient, err := qdrant.NewClient(&qdrant.Config{{
\t\tHost:   {_py(host)},
\t\tPort:   {port},
\t\tAPIKey: {_py(key)},
\t\tUseTLS: {str(tls).lower()},
\t}})
\tif err != nil {{
\t\tlog.Fatal(err)
\t}}
\tdefer client.Close()

\tcollections, err := client.ListCollections(context.Background())
\tif err != nil {{
\t\tlog.Fatal(err)
\t}}
\tfmt.Println(collections)
}}
"""


def snippets_for(cluster, api_key: str | None) -> list:
    """Connection snippets for the cluster, with this key or a placeholder.

    A cluster endpoint the snippets cannot use (one configured with a port or
    a path) gives no snippets rather than an error: on the reveal page an
    error would lose a key that has already been created.
    """
    try:
        return connection_snippets(
            endpoint_url=cluster.endpoint_url, rest_port=cluster.rest_port, grpc_port=cluster.grpc_port, api_key=api_key
        )
    except ValueError:
        logger.warning(
            "No connection snippets for cluster %s: endpoint %r is not scheme://host", cluster.id, cluster.endpoint_url
        )
        return []
