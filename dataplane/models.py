"""The data plane has no tables of its own: the key set's generation counter
is keyset.models.KeySetGeneration (its table keeps the name this app gave it)."""
