"""gRPC server credentials for an agency's adapter: private to :mod:`adapters.server`.

These credentials admit any client certificate the CA signed; only together with
:class:`~adapters.interceptors.RequirePeerIdentity` do they admit the hub alone, so nothing
outside :func:`adapters.server.create_adapter_server` (which installs both) builds them.
"""

from __future__ import annotations

import datetime as dt

import grpc

from adapters.pki.material import PkiLayout, TlsFiles, agency_profile, load_leaf


def adapter_credentials(source: PkiLayout | TlsFiles, agency_id: str) -> grpc.ServerCredentials:
    """TLS for agency ``agency_id``'s adapter: its own certificate, client certificates required.

    Args:
        source: a whole development PKI, or the agency's own files.
        agency_id: the agency served; its certificate must name exactly this agency.

    Raises:
        UnusableMaterialError: the files are missing, mismatched, expired, not from the CA,
            or name another agency.
    """
    files = source.agency_files(agency_id) if isinstance(source, PkiLayout) else source
    ca, cert, key = load_leaf(files, agency_profile(agency_id), at=dt.datetime.now(dt.UTC))
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=True
    )
