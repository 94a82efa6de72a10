"""`python -m dataplane`: serves every cluster's endpoint (see dataplane/server.py)."""

from dataplane.server import main

main()
