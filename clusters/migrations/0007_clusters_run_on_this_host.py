import socket

from django.db import migrations, models


def clusters_here(apps, schema_editor):
    """Clusters this console runs were created with a cloud provider and region
    they never ran in: they say now where they do run, this host (a
    connected cluster already says its own)."""
    Cluster = apps.get_model("clusters", "Cluster")
    Cluster.objects.exclude(runtime="connected").update(
        cloud_provider="hybrid", region=socket.gethostname()[:32] or "localhost")


class Migration(migrations.Migration):

    dependencies = [
        ("clusters", "0006_connected_clusters"),
    ]

    operations = [
        migrations.RunPython(clusters_here, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="cluster",
            name="cloud_provider",
            field=models.CharField(choices=[("hybrid", "Hybrid")], max_length=16),
        ),
    ]
