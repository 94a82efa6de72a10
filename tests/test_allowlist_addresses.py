"""An allowlist entry in IPv4-mapped form (::ffff:127.0.0.1) is the IPv4
address it maps, so the front lets that address in; a zone id (fe80::1%eth0)
is refused next to the field, with nothing saved."""

import pytest

from apikeys.models import DatabaseApiKey
from tests.fixtures.apikeys import create_url, form_data


def test_an_ipv4_mapped_entry_is_stored_as_ipv4_and_the_front_lets_that_address_in(client_of, owner, cluster,
                                                                                    dataplane):
    response = client_of(owner).post(create_url(cluster),
                                     form_data(allowed_networks="::ffff:127.0.0.1\n::ffff:10.0.0.0/104"))
    assert response.status_code == 200
    key = DatabaseApiKey.objects.get()
    assert key.allowed_networks == ["127.0.0.1/32", "10.0.0.0/8"]
    token = response.context["token"]
    dataplane.wait_until_accepted(token)  # the test's client connects from 127.0.0.1


@pytest.mark.parametrize("entry", ["fe80::1%eth0", "fe80::%2/64"])
def test_a_zone_id_is_refused_next_to_the_field(client_of, owner, cluster, entry):
    response = client_of(owner).post(create_url(cluster), form_data(allowed_networks=entry))
    assert response.status_code == 400
    page = response.content.decode()
    assert 'id="id_allowed_networks-error"' in page and "zone id" in page
    assert not DatabaseApiKey.objects.exists()
