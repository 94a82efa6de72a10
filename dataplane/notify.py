"""Kept for the callers that still import it from here: the contract lives in keyset.contract."""

from keyset.contract import CHANNEL, keys_changed

__all__ = ["CHANNEL", "keys_changed"]
