from django.db import models


class KeySetGeneration(models.Model):
    """One row whose counter the console bumps whenever the key set changes.

    Data plane processes poll this single row (a primary-key read) to learn,
    without Redis, that they must reload clusters and keys; the console's
    handshake (keyset/contract.py) makes them read it at once.
    """

    ROW_ID = 1

    id = models.PositiveSmallIntegerField(primary_key=True, default=ROW_ID, editable=False)
    generation = models.BigIntegerField(default=0)
    changed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        # Made by dataplane's first migration; moved here without touching the table.
        db_table = "dataplane_keysetgeneration"

    def __str__(self) -> str:
        return f"key set generation {self.generation}"
