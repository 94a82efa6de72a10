import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    """The one-row counter every key write bumped gives way to an append-only change log.

    The counter serialised every key write on PostgreSQL (each held its row
    lock until commit); an insert with a sequence id waits on nobody.
    """

    dependencies = [("keyset", "0001_initial"), ("dataplane", "0002_keysetgeneration_moved_to_keyset")]

    operations = [
        migrations.DeleteModel(name="KeySetGeneration"),
        migrations.CreateModel(
            name="KeySetEpoch",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ("token", models.UUIDField(default=uuid.uuid4, editable=False)),
                ("pruned_below", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.CreateModel(
            name="KeySetChange",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("kind", models.CharField(choices=[("database", "database API key"), ("admin", "admin key"),
                                                   ("cluster", "cluster and its keys"),
                                                   ("all", "the whole key set")], max_length=8)),
                ("cluster_id", models.UUIDField(blank=True, null=True)),
                ("key_id", models.UUIDField(blank=True, null=True)),
                ("changed_at", models.DateTimeField()),
            ],
        ),
    ]
