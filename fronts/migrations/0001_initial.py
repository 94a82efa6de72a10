import uuid

from django.db import migrations, models


def create_or_adopt(model_names):
    """Creates the change log's tables, or adopts them where the `keyset` app
    (which held them before the contract left Django) already made them."""

    def forwards(apps, schema_editor):
        existing = set(schema_editor.connection.introspection.table_names())
        for name in model_names:
            model = apps.get_model("fronts", name)
            if model._meta.db_table not in existing:
                schema_editor.create_model(model)

    def backwards(apps, schema_editor):
        for name in model_names:
            schema_editor.delete_model(apps.get_model("fronts", name))

    return migrations.RunPython(forwards, backwards)


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="KeySetEpoch",
                    fields=[
                        ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True,
                                                                serialize=False)),
                        ("token", models.UUIDField(default=uuid.uuid4, editable=False)),
                        ("pruned_below", models.BigIntegerField(default=0)),
                    ],
                    options={"db_table": "keyset_keysetepoch"},
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
                    options={"db_table": "keyset_keysetchange"},
                ),
            ],
            database_operations=[],
        ),
        create_or_adopt(["KeySetEpoch", "KeySetChange"]),
    ]
