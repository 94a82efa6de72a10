"""The connection snippets, exactly as the console renders them, run against the data plane."""

import subprocess
import sys

import pytest

from apikeys.snippets import connection_snippets
from clusters.models import Cluster
from tests.fixtures.dataplane import MANAGE, mint


@pytest.fixture
def snippets(dataplane, cluster, owner):
    # The cluster's endpoint is http://localhost; its REST port is where this
    # test's data plane listens instead of 6333.
    Cluster.objects.filter(id=cluster.id).update(rest_port=dataplane.port)
    cluster.refresh_from_db()
    _, token = mint(cluster, MANAGE, by=owner)
    dataplane.wait_until_accepted(token)
    rendered = connection_snippets(endpoint_url=cluster.endpoint_url, rest_port=cluster.rest_port,
                                   grpc_port=cluster.grpc_port, api_key=token)
    return {snippet.id: snippet.code for snippet in rendered}


@pytest.mark.parametrize("snippet_id", ["curl", "curl-bearer"])
def test_the_curl_snippets_succeed(snippets, snippet_id):
    result = subprocess.run(["bash", "-c", snippets[snippet_id]],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    assert '"title":"qdrant - vector search engine"' in result.stdout


def test_the_python_snippet_succeeds(snippets):
    result = subprocess.run([sys.executable, "-W", "ignore", "-c", snippets["python"]], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "collections=[]"


@pytest.fixture(scope="session")
def node_project(tmp_path_factory):
    """A Node project with the official REST client and a TypeScript runner, both pinned."""
    import json
    import shutil

    if not shutil.which("npm"):
        pytest.skip("node and npm are not installed (apt-get install nodejs npm)")
    project = tmp_path_factory.mktemp("snippet-node")
    (project / "package.json").write_text(json.dumps({
        "private": True,
        "dependencies": {"@qdrant/js-client-rest": "1.19.0", "tsx": "4.23.15"},
    }))
    subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--silent"], cwd=project, check=True, timeout=300)
    return project


def test_the_typescript_snippet_succeeds(snippets, node_project):
    (node_project / "snippet.ts").write_text(snippets["typescript"])
    result = subprocess.run([str(node_project / "node_modules" / ".bin" / "tsx"), "snippet.ts"], cwd=node_project,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    # The snippet prints its own error and exits 0 when the call fails: read what it printed.
    assert result.stdout.strip() == "List of collections: []", result.stdout + result.stderr
