"""What a key may do, and the checks of Qdrant's table of access.

The rules themselves live on the console's side (apikeys/rights.py, through
keyset.contract), so the console's "what can this key do" page and the front
decide with one function; this module keeps the names the data plane uses.
"""

from keyset.contract import FULL, MANAGE, READ, Access, Forbidden, access_from_claim

__all__ = ["FULL", "MANAGE", "READ", "Access", "Forbidden", "access_from_claim"]
