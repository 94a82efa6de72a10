"""The `qdrant` runtime: one real Qdrant process per node on this machine.

Each node lives in `<root>/<cluster id>/node-<i>/` (root is VAR_DIR/nodes):
`config.yaml` (0600: it holds the master key, which must never reach a
command line, the environment of a listing, or a log), `storage/`,
`snapshots/`, `qdrant.log`, `qdrant.pid` and `generation`. The ports of all
of a cluster's nodes are allocated together on loopback and recorded in
`<root>/<cluster id>/ports.json`, so a node restarts on the same ports and its
peers keep reaching it. A cluster of N > 1 nodes is one distributed Qdrant
cluster: node 0 starts with `--uri <its p2p uri>`, the others also with
`--bootstrap <node 0's p2p uri>` (ignored by Qdrant once a node's storage
holds its consensus state).

Nodes are started with PR_SET_PDEATHSIG so they die with the process that
started them, even killed outright. Linux ties that signal to the starting
*thread*: call `start`/`restart` from a long-lived thread (the supervisor's
main thread), never from a short-lived worker thread.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import yaml

from runtimes.base import NODE_PORTS, ClusterSpec, Node, NodeAddress, NodeHealth, NodePorts, Runtime
from runtimes.processes import die_with_parent

HOST = "127.0.0.1"


def free_ports(count: int, within: range = NODE_PORTS, host: str = HOST, taken=frozenset()) -> list[int]:
    """`count` distinct ports of `within`, not in `taken`, that nothing is bound
    to on `host` now (each held while picking the next)."""
    sockets, ports = [], []
    try:
        for port in random.sample(within, len(within)):
            if len(ports) == count:
                return ports
            if port in taken:
                continue
            sock = socket.socket()
            try:
                sock.bind((host, port))
            except OSError:
                sock.close()
                continue
            sockets.append(sock)
            ports.append(port)
        if len(ports) == count:
            return ports
        raise OSError(f"fewer than {count} free ports in {within.start}-{within.stop - 1} on {host}")
    finally:
        for sock in sockets:
            sock.close()


def write_config_file(path: Path, config: dict) -> None:
    """A node's config.yaml, written by PyYAML (safe_dump quotes any string that
    needs it, so a key with `#`, `:` or quotes cannot change the structure); 0600."""
    _write_private(path, yaml.safe_dump(config, default_flow_style=False, sort_keys=False))


def _write_private(path: Path, text: str) -> None:
    """Writes a file readable by its owner only, atomically: the file is 0600
    from the moment it exists, never briefly world-readable."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, text.encode())
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _pid_alive(pid: int, config_path: Path) -> bool:
    """True if `pid` is a live (not zombie) Qdrant started with this config:
    a recycled pid of another program does not count."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    if stat.rsplit(")", 1)[-1].split()[0] in ("Z", "X"):
        return False
    return str(config_path).encode() in cmdline.split(b"\0")


class QdrantRuntime(Runtime):
    name = "qdrant"

    def __init__(self, *, binary: str | os.PathLike, root: str | os.PathLike, stop_grace: float = 10.0,
                 http_timeout: float = 2.0, node_ports: range = NODE_PORTS) -> None:
        self.binary = str(Path(binary).resolve())
        self.root = Path(root)
        self.node_ports = node_ports
        self.stop_grace = stop_grace
        self._processes: dict[tuple[str, int], subprocess.Popen] = {}
        # Connection: close, because Qdrant's graceful shutdown waits up to 5 s
        # for idle keep-alive connections: a pooled health check would make
        # every stop take that long.
        self._http = httpx.Client(timeout=http_timeout, trust_env=False, headers={"Connection": "close"})

    # -- where things are ---------------------------------------------------

    def cluster_dir(self, cluster_id: str) -> Path:
        return self.root / cluster_id

    def node_dir(self, node: Node) -> Path:
        return self.cluster_dir(node.cluster.id) / node.name

    def config_path(self, node: Node) -> Path:
        return self.node_dir(node) / "config.yaml"

    def log_path(self, node: Node) -> Path:
        return self.node_dir(node) / "qdrant.log"

    def _pid_path(self, node: Node) -> Path:
        return self.node_dir(node) / "qdrant.pid"

    # -- ports --------------------------------------------------------------

    def ports(self, cluster: ClusterSpec) -> tuple[NodePorts, ...]:
        """The cluster's node ports: those given in the spec (recorded by the
        caller), else those recorded here, else new ones, which are recorded."""
        path = self.cluster_dir(cluster.id) / "ports.json"
        if cluster.ports is not None and len(cluster.ports) >= cluster.size:
            ports = list(cluster.ports)
        else:
            try:
                ports = [NodePorts.from_dict(item) for item in json.loads(path.read_text())]
            except (OSError, ValueError, KeyError):
                ports = []
        distributed = cluster.size > 1
        # Keep the ports a node already has; give new ones only where missing
        # (a new node, or a single node that became a cluster and needs p2p).
        keep = [i < len(ports) and (ports[i].p2p is not None) == distributed for i in range(cluster.size)]
        if not all(keep):
            fresh = iter(free_ports(3 * cluster.size, self.node_ports, taken=self._recorded_ports()))
            ports = [ports[i] if keep[i] else
                     NodePorts(http=next(fresh), grpc=next(fresh), p2p=next(fresh) if distributed else None)
                     for i in range(cluster.size)]
        path.parent.mkdir(parents=True, exist_ok=True)
        recorded = json.dumps([p.as_dict() for p in ports])
        if not path.exists() or path.read_text() != recorded:
            path.write_text(recorded)
        return tuple(ports[: cluster.size])

    def _recorded_ports(self) -> set[int]:
        """Every port recorded for a cluster here: a stopped node's are free to
        bind but still its own."""
        taken = set()
        for path in self.root.glob("*/ports.json"):
            try:
                taken |= {port for item in json.loads(path.read_text()) for port in item.values() if port}
            except (OSError, ValueError, AttributeError):
                continue
        return taken

    def address(self, node: Node) -> NodeAddress | None:
        return NodeAddress(host=HOST, ports=self.ports(node.cluster)[node.index])

    # -- config -------------------------------------------------------------

    def config(self, node: Node, ports: NodePorts) -> dict:
        node_dir = self.node_dir(node)
        config = {
            # The access log would log every health check of the supervisor.
            "log_level": "INFO,actix_web::middleware::logger=WARN",
            "service": {
                "host": HOST,
                "http_port": ports.http,
                "grpc_port": ports.grpc,
                "api_key": node.cluster.master_key,
                "jwt_rbac": node.cluster.jwt_rbac,
                "enable_static_content": False,  # no web UI: this machine has none to serve
            },
            "storage": {
                "storage_path": str(node_dir / "storage"),
                "snapshots_path": str(node_dir / "snapshots"),
            },
            "telemetry_disabled": True,
            "cluster": {"enabled": node.cluster.size > 1},
        }
        if node.cluster.size > 1:
            config["cluster"]["p2p"] = {"port": ports.p2p}
        return config

    def write_config(self, node: Node) -> Path:
        ports = self.ports(node.cluster)[node.index]
        path = self.config_path(node)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_config_file(path, self.config(node, ports))
        return path

    def command(self, node: Node) -> list[str]:
        command = [self.binary, "--config-path", str(self.config_path(node))]
        if node.cluster.size > 1:
            ports = self.ports(node.cluster)
            command += ["--uri", f"http://{HOST}:{ports[node.index].p2p}"]
            if node.index > 0:
                command += ["--bootstrap", f"http://{HOST}:{ports[0].p2p}"]
        return command

    def joined(self, node: Node) -> bool:
        """Whether the node has once been seen a member of its cluster. Until
        then its storage holds no data, and a half-made consensus state (Qdrant
        panics when its bootstrap peer cannot be reached) must not survive."""
        return (self.node_dir(node) / "joined").exists()

    # -- lifecycle ----------------------------------------------------------

    def _pid(self, node: Node) -> int | None:
        key = (node.cluster.id, node.index)
        process = self._processes.get(key)
        if process is not None:
            if process.poll() is None:
                return process.pid
            del self._processes[key]  # reaped: it exited or was killed
            return None
        try:
            pid = int(self._pid_path(node).read_text())
        except (OSError, ValueError):
            return None
        return pid if _pid_alive(pid, self.config_path(node)) else None

    def pid(self, node: Node) -> int | None:
        """The node's process id, if it runs."""
        return self._pid(node)

    def is_running(self, node: Node) -> bool:
        return self._pid(node) is not None

    def start(self, node: Node) -> NodeAddress:
        address = self.address(node)
        if self.is_running(node):
            return address
        self.write_config(node)
        node_dir = self.node_dir(node)
        if node.cluster.size > 1 and node.index > 0 and not self.joined(node):
            shutil.rmtree(node_dir / "storage", ignore_errors=True)
        # No QDRANT__* variable from our own environment may override the file.
        env = {k: v for k, v in os.environ.items() if not k.startswith("QDRANT")}
        with open(self.log_path(node), "ab") as log:
            process = subprocess.Popen(
                self.command(node), cwd=node_dir, env=env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=die_with_parent,
            )
        self._processes[(node.cluster.id, node.index)] = process
        self._pid_path(node).write_text(str(process.pid))
        (node_dir / "generation").write_text(str(node.cluster.node_generation(node.index)))
        return address

    def stop(self, node: Node) -> None:
        pid = self._pid(node)
        if pid is not None:
            self._signal_and_wait(node, pid)
        self._processes.pop((node.cluster.id, node.index), None)
        self._pid_path(node).unlink(missing_ok=True)

    def _signal_and_wait(self, node: Node, pid: int) -> None:
        process = self._processes.get((node.cluster.id, node.index))
        config = self.config_path(node)

        def gone() -> bool:
            return process.poll() is not None if process is not None else not _pid_alive(pid, config)

        for sig, grace in ((signal.SIGTERM, self.stop_grace), (signal.SIGKILL, 5.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                if gone():
                    return
                time.sleep(0.02)

    def applied_generation(self, node: Node) -> int | None:
        try:
            return int((self.node_dir(node) / "generation").read_text())
        except (OSError, ValueError):
            return None

    def running(self) -> list[tuple[str, int]]:
        found = []
        for pid_path in self.root.glob("*/node-*/qdrant.pid"):
            try:
                pid = int(pid_path.read_text())
            except (OSError, ValueError):
                continue
            key = (pid_path.parent.parent.name, int(pid_path.parent.name.removeprefix("node-")))
            process = self._processes.get(key)
            alive = process.poll() is None if process is not None else _pid_alive(pid, pid_path.parent / "config.yaml")
            if alive:
                found.append(key)
        return sorted(found)

    def stop_all(self) -> None:
        """Stops every node this runtime's root holds (SIGTERM to all first, so
        they shut down in parallel), keeping their storage."""
        for cluster_id, index in self.running():
            pid = self._pid_for(cluster_id, index)
            if pid is not None:
                try:
                    os.kill(pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
        for cluster_id, index in self.running():
            self.stop(self._bare_node(cluster_id, index))

    def _pid_for(self, cluster_id: str, index: int) -> int | None:
        process = self._processes.get((cluster_id, index))
        if process is not None:
            return process.pid if process.poll() is None else None
        try:
            return int((self.root / cluster_id / f"node-{index}" / "qdrant.pid").read_text())
        except (OSError, ValueError):
            return None

    def _bare_node(self, cluster_id: str, index: int) -> Node:
        """A node known only by its place on disk (to stop it; it is not started)."""
        size = len(list((self.root / cluster_id).glob("node-*")))
        return Node(ClusterSpec(id=cluster_id, size=max(size, index + 1), master_key=""), index)

    def remove(self, cluster_id: str) -> None:
        for running_id, index in self.running():
            if running_id == cluster_id:
                self.stop(self._bare_node(cluster_id, index))
        shutil.rmtree(self.cluster_dir(cluster_id), ignore_errors=True)

    # -- health -------------------------------------------------------------

    def _get(self, node: Node, path: str, key: bool = False) -> httpx.Response | None:
        url = self.address(node).http_url + path
        headers = {"api-key": node.cluster.master_key} if key else {}
        try:
            return self._http.get(url, headers=headers)
        except httpx.HTTPError:
            return None

    def health(self, node: Node) -> NodeHealth:
        size = node.cluster.size
        if not self.is_running(node):
            return NodeHealth(running=False, expected_peers=size, detail="not running")
        readyz = self._get(node, "/readyz")
        if readyz is None or readyz.status_code != 200:
            return NodeHealth(running=True, expected_peers=size, detail="not ready")
        if size <= 1:
            (self.node_dir(node) / "joined").touch(exist_ok=True)
            return NodeHealth(running=True, ready=True)
        info = self._get(node, "/cluster", key=True)
        if info is None or info.status_code != 200:
            return NodeHealth(running=True, ready=True, expected_peers=size, detail="cluster info unavailable")
        result = info.json().get("result", {})
        consensus = result.get("consensus_thread_status", {}).get("consensus_thread_status")
        has_leader = result.get("raft_info", {}).get("leader") is not None
        peers = len(result.get("peers", {})) if consensus == "working" and has_leader else None
        detail = f"consensus {consensus}, {len(result.get('peers', {}))} peers"
        recovering = []
        if peers == size:
            # A node restarted quickly still believes its replicas Active until
            # it has applied what the consensus decided while it was away
            # (its peers may have marked them Dead): compare with the leader.
            lag = self._consensus_lag(node, result)
            recovering = [f"consensus {lag} behind"] if lag else self._recovering_replicas(node)
        if recovering:
            detail += ", replicas not active: " + ", ".join(recovering)
        health = NodeHealth(running=True, ready=True, peers=peers, expected_peers=size,
                            replicas_active=not recovering, detail=detail)
        # A member of the consensus (it knows the leader): it has joined, even
        # if some other peer is still missing.
        if peers is not None and not self.joined(node):
            (self.node_dir(node) / "joined").touch()
        return health

    def settled(self, cluster: ClusterSpec) -> bool:
        nodes = [Node(cluster, index) for index in range(cluster.size)]
        if not all(self.health(node).healthy for node in nodes):
            return False
        if cluster.size == 1:
            return True
        views = []
        for node in nodes:
            response = self._get(node, "/cluster", key=True)
            if response is None or response.status_code != 200:
                return False
            raft = response.json()["result"].get("raft_info", {})
            views.append((raft.get("leader"), raft.get("commit"), raft.get("pending_operations")))
        # One leader, one commit index, nothing pending: everyone applied the same decisions.
        if len(set(views)) != 1 or views[0][0] is None or views[0][2]:
            return False
        for node in nodes:
            listing = self._get(node, "/collections", key=True)
            if listing is None or listing.status_code != 200:
                return False
            for collection in listing.json()["result"]["collections"]:
                info = self._get(node, f"/collections/{quote(collection['name'], safe='')}/cluster", key=True)
                if info is None or info.status_code != 200:
                    return False
                result = info.json()["result"]
                replicas = result.get("local_shards", []) + result.get("remote_shards", [])
                if result.get("shard_transfers") or any(r.get("state") != "Active" for r in replicas):
                    return False
        return True

    def _consensus_lag(self, node: Node, result: dict) -> int:
        """How many consensus entries this node has yet to apply, judged by
        the leader's commit index (0 when it has caught up)."""
        raft = result.get("raft_info", {})
        if raft.get("pending_operations", 0):
            return int(raft["pending_operations"])
        leader = raft.get("leader")
        if leader is None or leader == result.get("peer_id"):
            return 0
        uri = result.get("peers", {}).get(str(leader), {}).get("uri", "")
        port = httpx.URL(uri).port if uri else None
        for index, ports in enumerate(self.ports(node.cluster)):
            if ports.p2p == port:
                response = self._get(Node(node.cluster, index), "/cluster", key=True)
                if response is None or response.status_code != 200:
                    return 1  # cannot tell: not caught up
                leader_commit = response.json()["result"].get("raft_info", {}).get("commit", 0)
                return max(0, int(leader_commit) - int(raft.get("commit", 0)))
        return 1

    def _recovering_replicas(self, node: Node) -> list[str]:
        """`collection/shard` of each replica on this node that is not Active
        (or `?` if the node cannot tell)."""
        listing = self._get(node, "/collections", key=True)
        if listing is None or listing.status_code != 200:
            return ["?"]
        recovering = []
        for collection in listing.json()["result"]["collections"]:
            name = collection["name"]
            info = self._get(node, f"/collections/{quote(name, safe='')}/cluster", key=True)
            if info is None or info.status_code != 200:
                recovering.append(f"{name}/?")
                continue
            for shard in info.json()["result"].get("local_shards", []):
                if shard.get("state") != "Active":
                    recovering.append(f"{name}/{shard.get('shard_id')}")
        return recovering

    def version(self, node: Node) -> str:
        response = self._get(node, "/")
        if response is None or response.status_code != 200:
            raise RuntimeError(f"{node} does not answer GET /")
        return response.json()["version"]

    def collections(self, node: Node, timeout: float | None = None) -> list[str]:
        """The collection names the node lists (`GET /collections` with the
        master key), sorted; RuntimeError saying why not, without the key."""
        try:
            response = self._http.get(self.address(node).http_url + "/collections",
                                      headers={"api-key": node.cluster.master_key},
                                      timeout=timeout if timeout is not None else httpx.USE_CLIENT_DEFAULT)
        except httpx.TimeoutException:
            raise RuntimeError(f"{node.name} did not answer in time") from None
        except httpx.HTTPError:
            raise RuntimeError(f"{node.name} could not be reached") from None
        if response.status_code != 200:
            raise RuntimeError(f"{node.name} answered {response.status_code}")
        try:
            return sorted(str(c["name"]) for c in response.json()["result"]["collections"])
        except (ValueError, KeyError, TypeError):
            raise RuntimeError(f"{node.name} answered something that is not a collection list") from None
