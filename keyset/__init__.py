"""The key set: the one contract between the console, which writes keys, and
the data plane, which admits them (see keyset/contract.py)."""
