"""CreateCluster names its account in the path; a body `cluster.accountId` that
names another is refused as INVALID_ARGUMENT naming both, and nothing is made."""

import uuid

from clusters.models import Cluster
from tests.test_api_support import api_as, assert_error, post_json, url
from tests.test_cluster_lifecycle import create_body


def test_a_body_account_id_that_differs_from_the_path_is_refused_naming_both(developer, account, other_account):
    other = str(other_account.id)
    response = post_json(api_as(developer, account), url("clusters", account), create_body(accountId=other))
    assert_error(response, 400, 3, "cluster.accountId", other, str(account.id))
    unknown = str(uuid.uuid4())
    response = post_json(api_as(developer, account), url("clusters", account), create_body(accountId=unknown))
    assert_error(response, 400, 3, unknown, str(account.id))
    assert not Cluster.objects.filter(name="from-api").exists()
