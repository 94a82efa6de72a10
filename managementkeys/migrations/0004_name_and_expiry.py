import django.core.validators
from django.db import migrations, models


def name_existing_keys(apps, schema_editor):
    # Keys made before keys had names are named after their prefix, which is
    # how the console told them apart until now.
    ManagementKey = apps.get_model("managementkeys", "ManagementKey")
    for key in ManagementKey.objects.filter(name=""):
        key.name = f"key {key.prefix}"
        key.save(update_fields=["name"])


class Migration(migrations.Migration):
    dependencies = [("managementkeys", "0003_key_failures")]

    operations = [
        migrations.AddField(
            model_name="managementkey",
            name="name",
            field=models.CharField(default="", max_length=128),
            preserve_default=False,
        ),
        migrations.RunPython(name_existing_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="managementkey",
            name="name",
            field=models.CharField(
                max_length=128,
                validators=[
                    django.core.validators.MinLengthValidator(4),
                    django.core.validators.RegexValidator(
                        "\\A[A-Za-z0-9 _-]+\\Z", "Use only letters, digits, spaces, underscores (_) and dashes (-)."
                    ),
                ],
            ),
        ),
        migrations.AddField(
            model_name="managementkey",
            name="expires_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
