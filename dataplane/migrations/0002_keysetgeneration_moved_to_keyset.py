from django.db import migrations


class Migration(migrations.Migration):
    """KeySetGeneration now belongs to keyset (keyset/0001): state only, the table stays."""

    dependencies = [("dataplane", "0001_initial"), ("keyset", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="KeySetGeneration")],
            database_operations=[],
        ),
    ]
