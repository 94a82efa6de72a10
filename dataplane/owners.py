"""Which front holds an embedded cluster's storage, as this front knows it.

Fronts on several hosts have data directories of their own, so each embedded
cluster's collections live with one front, its owner, which the console
records (fronts.models.EmbeddedOwner): the first front that needs a cluster's
storage claims it over the contract (keyset/wire.py's CLAIM_PATH) and the
console answers the owner, this front or one that claimed it first. The key
set's cluster rows carry the owner and its storage address, so the others
learn it from the change the claim makes; until then the claim's own answer
stands in. A front never opens a cluster another front owns: it forwards to
it (dataplane/engine.py), and answers 503 naming it when it does not answer.

The owner admits the operations other fronts forward by their peer token:
the console gives each front its own, and every front the digests of the
live ones, so a revoked front is refused once the owner has applied the
revocation (a change every front loads a snapshot for).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

from dataplane.keystore import KeyStore
from dataplane.storage import StorageError
from keyset import wire

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Owner:
    front: str  # the front credential's name
    address: str  # its storage address (keyset/wire.py); "": it takes no operation from other fronts


class Owners:
    def __init__(self, *, keystore: KeyStore, address: str = ""):
        self.keystore = keystore
        self.address = address  # this front's storage address, as others reach it
        self._claimed: dict[str, Owner] = {}  # answers to this process's claims, until the key set has them

    @property
    def me(self) -> str | None:
        return self.keystore.current.front

    @property
    def token(self) -> str | None:
        return self.keystore.current.peer_token

    def known(self, cluster_id: str) -> Owner | None:
        entry = self.keystore.current.clusters.get(cluster_id)
        recorded = Owner(entry.owner, entry.owner_address) if entry is not None and entry.owner else None
        claimed = self._claimed.get(cluster_id)
        if claimed is not None and (recorded is None or recorded.front == claimed.front):
            return claimed
        return recorded

    async def owner(self, cluster_id: str) -> Owner:
        """The cluster's owner; claimed for this front when none is known, or
        when this front owns it under an address it no longer has."""
        owner = self.known(cluster_id)
        if owner is None or (owner.front == self.me and owner.address != self.address):
            owner = await asyncio.to_thread(self._claim, cluster_id)
        return owner

    async def announce(self) -> None:
        """Claims again each cluster this front owns under an address it no
        longer has (given to it by an operator's move, or its storage address
        changed), so the others reach it where it is without waiting for its
        first request."""
        me = self.me
        for cluster_id in list(self.keystore.current.clusters):
            owner = self.known(cluster_id)
            if me is not None and owner is not None and owner.front == me and owner.address != self.address:
                try:
                    await asyncio.to_thread(self._claim, cluster_id)
                except StorageError:
                    pass  # said in _claim; the next change of the key set tries again

    def unowned(self, cluster_id: str) -> bool:
        """An embedded cluster of the key set that no front owns, as far as this process knows."""
        entry = self.keystore.current.clusters.get(cluster_id)
        return entry is not None and not entry.forwarded and self.known(cluster_id) is None

    def mine(self, owner: Owner) -> bool:
        return owner.front == self.me

    def _claim(self, cluster_id: str) -> Owner:
        try:
            answer = self.keystore.client.claim(cluster_id, self.address)
        except Exception as exc:  # noqa: BLE001 - console unreachable or refusing: nothing is opened
            logger.warning("cannot claim the storage of cluster %s: %s", cluster_id, exc)
            raise StorageError(503, "Service unavailable: no front holds this cluster's storage yet, and the "
                                    "console could not be asked to give it to this one") from None
        owner = Owner(str(answer["front"]), str(answer["address"] or ""))
        self._claimed[cluster_id] = owner
        return owner

    def admits(self, token) -> bool:
        """Whether a forwarded operation's peer token is a live front's."""
        return isinstance(token, str) and wire.peer_digest(token) in self.keystore.current.peers

    async def report(self, cluster_id: str, names: list[str]) -> bool:
        """Tells the console the cluster's collection names; False when it could not."""
        try:
            await asyncio.to_thread(self.keystore.client.report_collections, cluster_id, names)
            return True
        except Exception as exc:  # noqa: BLE001 - reported again with the next change, or the next claim
            logger.warning("cannot report the collections of cluster %s to the console: %s", cluster_id, exc)
            return False
