"""A database API key created through the management API opens its cluster on
the data plane, and stops opening it once deleted through the API."""

from tests.test_api_support import api_client, key_body, mint, post_json, url


def test_a_key_created_through_the_api_works_on_the_data_plane(dataplane, owner, account, cluster):
    client = api_client(mint(account, owner))

    created = post_json(client, url("database-api-keys", account), key_body(cluster))
    assert created.status_code == 200, created.content
    key = created.json()["databaseApiKey"]

    dataplane.wait_until_accepted(key["key"])

    deleted = client.delete(url("database-api-key", account, database_api_key_id=key["id"]))
    assert deleted.status_code == 200
    _, status = dataplane.wait_until_refused(key["key"])
    assert status in (401, 403)
