"""What an agency's adapter needs of the development PKI: names, files, checks, peers.

:mod:`adapters.pki.material` reads and verifies keys and certificates;
:mod:`adapters.pki.peer` decides whether a TLS client is the hub. Issuing certificates is
the hub's (:mod:`gateway.pki.ca`).
"""
