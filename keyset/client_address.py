"""The client's address behind proxies: one rule for the console and the front.

The address is the socket peer, unless the peer is one of TRUSTED_PROXIES;
then `X-Forwarded-For` (every such header, in order) is read from the right,
past each hop that is itself a trusted proxy: the first one that is not is the
client. A hop that is not an address ends the walk at the last trusted one,
so a forged or broken header never gains anything. With no trusted proxies
(the default) the header is never read: it is whatever the client wrote.

The console (audit.services.client_ip: audit log, login and management-key
throttles, management keys' allowlists) and the front (dataplane.auth: keys'
allowlists, last used) call `client_address`; both settings modules parse
TRUSTED_PROXIES with `trusted_networks`.
"""

from __future__ import annotations

import ipaddress


def trusted_networks(text: str) -> tuple:
    """TRUSTED_PROXIES: comma-separated IPv4/IPv6 networks in CIDR notation (a
    bare address is one host). ValueError for an item that is not one or has
    host bits set, its message to follow the setting's name."""
    networks = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        try:
            networks.append(ipaddress.ip_network(item, strict=True))
        except ValueError as exc:
            raise ValueError(
                f"must hold comma-separated CIDRs such as 10.0.0.0/8 or 2001:db8::/32; {item!r}: {exc}."
            ) from None
    return tuple(networks)


def address(text: str | None):
    """An address, an IPv4-mapped IPv6 one (a dual-stack socket's peer) as the IPv4 it maps; None if not one."""
    try:
        parsed = ipaddress.ip_address(text.strip()) if text else None
    except ValueError:
        return None
    mapped = getattr(parsed, "ipv4_mapped", None)
    return mapped or parsed


def client_address(peer: str | None, headers, trusted: tuple) -> str | None:
    """The client's address (see the module's docstring).

    `headers` are (name, value) bytes, lower-case names: REST's, gRPC's
    metadata, or the console's request as `wsgi_headers` gives them.
    `trusted` is the parsed TRUSTED_PROXIES, which each caller reads once (a
    settings lookup costs more than the rest of this on the front's path).
    """
    if not trusted:
        return peer
    current = address(peer)
    if current is None or not any(current in network for network in trusted):
        return peer
    hops = [hop for name, value in headers if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")]
    for hop in reversed(hops):
        hop_address = address(hop)
        if hop_address is None:
            break
        current = hop_address
        if not any(hop_address in network for network in trusted):
            break
    return str(current)


def wsgi_headers(environ) -> tuple:
    """The `X-Forwarded-For` of a WSGI environ (Django's request.META) as
    `client_address` reads headers. The server has already joined repeated
    headers with commas, in order; WSGI strings are latin-1, so this is the
    bytes that came."""
    value = environ.get("HTTP_X_FORWARDED_FOR")
    if not value:
        return ()
    return ((b"x-forwarded-for", value.encode("latin-1", "replace")),)
