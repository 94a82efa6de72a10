from django.db import migrations, models


class Migration(migrations.Migration):
    """KeySetGeneration moves from dataplane to keyset: state only, the table stays."""

    initial = True

    dependencies = [("dataplane", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="KeySetGeneration",
                    fields=[
                        ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True,
                                                                serialize=False)),
                        ("generation", models.BigIntegerField(default=0)),
                        ("changed_at", models.DateTimeField(blank=True, null=True)),
                    ],
                    options={"db_table": "dataplane_keysetgeneration"},
                ),
            ],
            database_operations=[],
        ),
    ]
