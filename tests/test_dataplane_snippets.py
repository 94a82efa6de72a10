"""The eight connection snippets, rendered for a new key exactly as the console
shows them, run against the data plane: for an embedded cluster, and for a
`qdrant` cluster (a real node behind the front; QDRANT_BINARY).

What can run here runs as shown: both curls, the Python program (as shown,
and with its gRPC line uncommented), the TypeScript program with the command
its comment gives (the repository's pinned node_modules: tsx and
@qdrant/js-client-rest). Rust, Java, C# and Go have no toolchain here: their
host, port, TLS choice and key are read out of the rendered text and their
call (list the collections) is made there with the Python gRPC client, and with
@qdrant/js-client-grpc on Node. Each test prints what the snippet printed
(`pytest -s` shows it)."""

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field

import httpx
import pytest
from qdrant_client import QdrantClient

from apikeys.snippets import connection_snippets
from clusters.models import Cluster
from tests.fixtures.dataplane import MANAGE, mint
from tests.fixtures.qdrant import ROOT

pytestmark = pytest.mark.filterwarnings("ignore:Api key is used with an insecure connection")

COLLECTION = "snippet-books"
NODE_MODULES = ROOT / "node_modules"
RUNTIMES = ["embedded", "qdrant"]


@pytest.fixture
def snippets(request, dataplane, cluster, owner) -> dict[str, str]:
    """The snippets for a new manage key of a cluster of the runtime asked for,
    whose REST and gRPC ports are where this test's data plane listens."""
    if request.param == "qdrant":
        from tests.test_dataplane_front import front_cluster

        qdrant, node = request.getfixturevalue("qdrant"), request.getfixturevalue("qdrant_node")
        front_cluster(cluster, [node], qdrant)
    Cluster.objects.filter(id=cluster.id).update(rest_port=dataplane.port, grpc_port=dataplane.grpc_port)
    cluster.refresh_from_db()
    _, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    # Something to list, so an answer from anywhere but this cluster shows.
    httpx.put(f"{dataplane.url}/collections/{COLLECTION}", headers={"api-key": token},
              json={"vectors": {"size": 2, "distance": "Dot"}}).raise_for_status()
    assert cluster.endpoint_url == "http://localhost"
    rendered = connection_snippets(endpoint_url=cluster.endpoint_url, rest_port=cluster.rest_port,
                                   grpc_port=cluster.grpc_port, api_key=token)
    return {snippet.id: snippet.code for snippet in rendered}


def run(command: list[str], **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    print(f"\n--- {command[-1][:40]!r} printed:\n{result.stdout}")
    return result.stdout


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
@pytest.mark.parametrize("snippet_id", ["curl", "curl-bearer"])
def test_the_curl_snippets_get_the_clusters_version(snippets, snippet_id):
    version = json.loads(run(["bash", "-c", snippets[snippet_id]]))
    assert version["title"] == "qdrant - vector search engine"
    assert re.fullmatch(r"\d+\.\d+\.\d+", version["version"])


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
def test_the_python_snippet_lists_the_collections(snippets):
    printed = run([sys.executable, "-W", "ignore", "-c", snippets["python"]])
    assert printed.strip() == f"collections=[CollectionDescription(name='{COLLECTION}')]"


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
def test_the_python_snippet_with_its_grpc_line_uncommented_lists_the_collections(snippets):
    commented = "    # grpc_port="
    assert snippets["python"].count(commented) == 1
    over_grpc = snippets["python"].replace(commented, "    grpc_port=")
    printed = run([sys.executable, "-W", "ignore", "-c", over_grpc])
    assert printed.strip() == f"collections=[CollectionDescription(name='{COLLECTION}')]"


def node_project(tmp_path):
    """A directory for a program, with the repository's pinned node packages."""
    if not (shutil.which("node") and (NODE_MODULES / ".bin" / "tsx").exists()
            and (NODE_MODULES / "@qdrant" / "js-client-grpc").is_dir()):
        pytest.skip("node or the pinned node packages are missing: run `npm ci` at the repository root (Node 20)")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    return tmp_path


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
def test_the_typescript_snippet_run_as_its_comment_says_lists_the_collections(snippets, tmp_path):
    project = node_project(tmp_path)
    code = snippets["typescript"]
    # "// Save as main.ts, then run it ...:" / "//   npm install ... && npx tsx main.ts": the
    # packages are installed already (package-lock.json); the run command is the comment's.
    [file_name] = re.findall(r"^// Save as (\S+), then", code, re.MULTILINE)
    [command] = re.findall(r"^//\s+npm install [^&]+&& (npx tsx \S+)$", code, re.MULTILINE)
    (project / file_name).write_text(code)
    printed = run(["bash", "-c", command], cwd=project)
    # The snippet prints its own error and exits 0 when the call fails: read what it printed.
    assert printed.strip() == f"List of collections: [ {{ name: '{COLLECTION}' }} ]"


@dataclass(frozen=True)
class GrpcEndpoint:
    host: str
    port: int
    tls: bool
    api_key: str = field(repr=False)  # what the test prints leaves the key out


_STRING = r'"([^"\\]*)"'  # a literal without escapes: hosts and keys here need none
ENDPOINT_PATTERNS = {
    "rust": (r'Qdrant::from_url\("(?P<scheme>https?)://(?P<host>[^":/]+):(?P<port>\d+)"\)',
             rf"\.api_key\({_STRING}\)"),
    "java": (r'boolean useTls = (?P<tls>true|false);[\s\S]*newBuilder\((?P<host>"[^"]+"), (?P<port>\d+), useTls\)',
             rf"\.withApiKey\({_STRING}\)"),
    "csharp": (r'host: (?P<host>"[^"]+"),\s+port: (?P<port>\d+),\s+https: (?P<tls>true|false),',
               rf"apiKey: {_STRING}"),
    "go": (r'Host:\s+(?P<host>"[^"]+"),\s+Port:\s+(?P<port>\d+),[\s\S]*UseTLS: (?P<tls>true|false),',
           rf"APIKey: {_STRING}"),
}


def grpc_endpoint(snippet_id: str, code: str) -> GrpcEndpoint:
    """Where the snippet's client connects, read out of its text."""
    where, key = ENDPOINT_PATTERNS[snippet_id]
    found = re.search(where, code)
    assert found, f"no endpoint in the {snippet_id} snippet:\n{code}"
    [api_key] = re.findall(key, code)
    fields = found.groupdict()
    tls = fields["scheme"] == "https" if "scheme" in fields else fields["tls"] == "true"
    return GrpcEndpoint(host=fields["host"].strip('"'), port=int(fields["port"]), tls=tls, api_key=api_key)


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
@pytest.mark.parametrize("snippet_id", ["rust", "java", "csharp", "go"])
def test_the_grpc_snippets_point_where_the_grpc_api_answers(snippets, snippet_id, dataplane):
    endpoint = grpc_endpoint(snippet_id, snippets[snippet_id])
    assert endpoint == GrpcEndpoint("localhost", dataplane.grpc_port, False, endpoint.api_key)
    client = QdrantClient(host=endpoint.host, grpc_port=endpoint.port, https=endpoint.tls, api_key=endpoint.api_key,
                          prefer_grpc=True, check_compatibility=False, timeout=30)
    try:
        collections = client.get_collections()  # ListCollections, the snippet's one call
    finally:
        client.close()
    print(f"\n--- the {snippet_id} snippet's ListCollections at {endpoint}: {collections}")
    assert [c.name for c in collections.collections] == [COLLECTION]


LIST_OVER_GRPC = """
import {QdrantClient} from '@qdrant/js-client-grpc';
const [host, port, https] = process.argv.slice(2);
const client = new QdrantClient({host, port: Number(port), https: https === 'true',
                                 apiKey: process.env.QDRANT_API_KEY, checkCompatibility: false});
const {collections} = await client.api('collections').list({});
console.log(JSON.stringify(collections.map((c) => c.name)));
"""


@pytest.mark.parametrize("snippets", RUNTIMES, indirect=True)
def test_the_javascript_grpc_client_answers_at_the_snippets_grpc_endpoint(snippets, tmp_path):
    project = node_project(tmp_path)
    [endpoint] = {grpc_endpoint(snippet_id, snippets[snippet_id]) for snippet_id in ENDPOINT_PATTERNS}
    (project / "list.mjs").write_text(LIST_OVER_GRPC)
    # The key through the environment, not the command line.
    printed = run(["node", "list.mjs", endpoint.host, str(endpoint.port), str(endpoint.tls).lower()], cwd=project,
                  env=os.environ | {"QDRANT_API_KEY": endpoint.api_key})
    assert json.loads(printed) == [COLLECTION]
