from django.db import migrations, models


def create_row(apps, schema_editor):
    KeySetGeneration = apps.get_model("dataplane", "KeySetGeneration")
    KeySetGeneration.objects.get_or_create(id=1, defaults={"generation": 0})


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.CreateModel(
            name="KeySetGeneration",
            fields=[
                ("id", models.PositiveSmallIntegerField(default=1, editable=False, primary_key=True, serialize=False)),
                ("generation", models.BigIntegerField(default=0)),
                ("changed_at", models.DateTimeField(blank=True, null=True)),
            ],
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
    ]
