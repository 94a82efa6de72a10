"""The contract between the console, which writes keys, and the fronts
(dataplane/), which admit them. Plain Python, no Django, no console app, so
both sides import it: the table of access (rights.py), the digest check of a
key's secret (digest.py), the client's address behind proxies
(client_address.py), the handshake that confirms a change reached the
fronts (handshake.py). The console's side is fronts/."""
