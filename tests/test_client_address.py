"""The client's address behind proxies, one rule (keyset/client_address.py):
the socket peer, unless it is one of TRUSTED_PROXIES; then X-Forwarded-For
read from the right past trusted hops. The console (audit log, management
keys' allowlists) and the front (keys' allowlists, last used) both follow it;
the front's real-process tests are in test_key_lifecycle_front.py."""

import ipaddress

import pytest
from django.test import override_settings

import dataplane.auth
from audit.models import Action, AuditEntry
from keyset.client_address import client_address, trusted_networks
from managementkeys.services import management_key_create
from tests.test_api_support import api_client, assert_error, url

PROXIES = "10.0.0.0/8, 2001:db8:ffff::/48"
TRUSTED = trusted_networks(PROXIES)

# (what, peer, X-Forwarded-For headers, trusted proxies, the client's address)
CASES = [
    ("no proxies trusted: the header is never read", "10.0.0.1", ["198.51.100.9"], (), "10.0.0.1"),
    ("an untrusted peer's header is not believed", "192.0.2.1", ["198.51.100.9"], TRUSTED, "192.0.2.1"),
    ("a trusted peer names the client", "10.0.0.1", ["198.51.100.9"], TRUSTED, "198.51.100.9"),
    ("read from the right: a forged left part gains nothing", "10.0.0.1", ["203.0.113.5, 198.51.100.9"],
     TRUSTED, "198.51.100.9"),
    ("past a chain of trusted hops", "10.0.0.1", ["198.51.100.9, 10.1.1.1, 10.2.2.2"], TRUSTED, "198.51.100.9"),
    ("every header, in order", "10.0.0.1", ["198.51.100.9", "10.1.1.1"], TRUSTED, "198.51.100.9"),
    ("a broken hop ends the walk at the last trusted one", "10.0.0.1", ["198.51.100.9, not-an-ip, 10.1.1.1"],
     TRUSTED, "10.1.1.1"),
    ("a trusted peer without the header is the client", "10.0.0.1", [], TRUSTED, "10.0.0.1"),
    ("IPv6 proxies and clients", "2001:db8:ffff::1", ["2001:db8::7"], TRUSTED, "2001:db8::7"),
    ("a dual-stack peer counts as the IPv4 it maps", "::ffff:10.0.0.1", ["198.51.100.9"], TRUSTED, "198.51.100.9"),
    ("all hops trusted: the leftmost", "10.0.0.1", ["10.3.3.3, 10.1.1.1"], TRUSTED, "10.3.3.3"),
]
IDS = [case[0] for case in CASES]


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [case[1:] for case in CASES], ids=IDS)
def test_the_rule(peer, forwarded, trusted, expected):
    headers = [(b"host", b"example.com")] + [(b"x-forwarded-for", value.encode()) for value in forwarded]
    assert client_address(peer, headers, trusted) == expected


def test_trusted_proxies_are_cidrs_without_host_bits():
    assert trusted_networks(" 10.0.0.0/8,,192.0.2.7 ") == (ipaddress.ip_network("10.0.0.0/8"),
                                                            ipaddress.ip_network("192.0.2.7/32"))
    assert trusted_networks("") == ()
    with pytest.raises(ValueError, match="'10.0.0.1/8': 10.0.0.1/8 has host bits set"):
        trusted_networks("10.0.0.1/8")


@pytest.mark.parametrize("peer, forwarded, trusted, expected", [case[1:] for case in CASES], ids=IDS)
def test_the_console_records_the_address_the_rule_gives(client, owner, account, peer, forwarded, trusted,
                                                        expected):
    """A failed login's audit entry: the console reads its requests through the rule
    (WSGI joins repeated headers with commas, as a server does)."""
    extra = {"HTTP_X_FORWARDED_FOR": ", ".join(forwarded)} if forwarded else {}
    with override_settings(TRUSTED_PROXIES=trusted):
        client.post("/login/", {"username": owner.username, "password": "wrong"}, REMOTE_ADDR=peer, **extra)
    assert AuditEntry.objects.get(action=Action.LOGIN_FAILED).client_ip == expected


def test_a_management_key_allowlist_sees_the_client_behind_a_trusted_proxy(owner, account):
    key, plaintext = management_key_create(name="office key", account=account, by=owner,
                                           allowed_networks=["203.0.113.0/24"])
    through_proxy = api_client(plaintext, REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="203.0.113.9")
    with override_settings(TRUSTED_PROXIES=TRUSTED):
        assert through_proxy.get(url("clusters", account)).status_code == 200
        forged = api_client(plaintext, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.9")
        assert_error(forged.get(url("clusters", account)), 403, 7, "may not be used from 198.51.100.7")
    # Without trusted proxies the proxy itself is the client.
    assert_error(through_proxy.get(url("clusters", account)), 403, 7, "may not be used from 10.0.0.1")


def test_the_front_reads_the_address_through_the_same_function():
    # dataplane/app.py (REST) and grpcfront.py (gRPC) call auth.client_address.
    assert dataplane.auth.client_address is client_address
