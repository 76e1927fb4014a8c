"""The development PKI and the hub's side of transport security.

:mod:`gateway.pki.ca` issues a development CA and the hub's and agencies' certificates
(``sakha pki init``); :mod:`gateway.pki.tls` turns them into the hub's gRPC credentials.
The names, files and checks both ends share live in :mod:`adapters.pki` (the adapter SDK
imports nothing from the hub), and so does the adapter's side of mutual TLS
(:func:`adapters.server.create_adapter_server` with ``tls=``).
"""
