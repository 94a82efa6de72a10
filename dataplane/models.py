"""The data plane has no tables of its own: the key set's change log is
keyset.models.KeySetChange (with KeySetEpoch)."""
