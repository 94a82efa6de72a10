from cryptography.fernet import Fernet
from django.core.management import call_command

from clusters.models import Cluster


def test_rotating_the_encryption_key_keeps_every_master_key(settings, cluster, legacy_cluster):
    before = {c.id: c.master_key for c in Cluster.objects.all()}
    old_token = Cluster.objects.get(id=cluster.id).master_key_encrypted
    settings.CLUSTER_KEY_ENCRYPTION_KEYS = [Fernet.generate_key().decode(), *settings.CLUSTER_KEY_ENCRYPTION_KEYS]

    call_command("rotate_master_keys")

    # Now readable under the new key alone: the old one can be retired.
    settings.CLUSTER_KEY_ENCRYPTION_KEYS = settings.CLUSTER_KEY_ENCRYPTION_KEYS[:1]
    assert {c.id: c.master_key for c in Cluster.objects.all()} == before
    assert Cluster.objects.get(id=cluster.id).master_key_encrypted != old_token


def test_every_cluster_gets_its_own_master_key(cluster, legacy_cluster):
    assert cluster.master_key != legacy_cluster.master_key
