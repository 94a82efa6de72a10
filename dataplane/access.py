"""What a key may do, and the checks of Qdrant's table of access.

The rules live in the contract (keyset/rights.py), so the console's "what can
this key do" page and the front decide with one function; this module keeps
the names the data plane uses.
"""

from keyset.rights import FULL, MANAGE, READ, Access, Forbidden, access_from_claim

__all__ = ["FULL", "MANAGE", "READ", "Access", "Forbidden", "access_from_claim"]
