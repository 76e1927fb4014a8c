"""How a CLI command reaches the hub: TLS and a fresh token from a profile, or plaintext."""

from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc

from gateway.client_profile import ClientProfile, ProfileError, load_profile
from gateway.pki.tls import client_channel_credentials

MAX_MESSAGE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class HubConnection:
    """The hub's address and, unless insecure, the profile that proves who we are."""

    server: str
    profile: ClientProfile | None

    @classmethod
    def resolve(cls, *, server: str | None, profile_path: Path, insecure: bool) -> HubConnection:
        """Combine ``--server``, ``--profile`` and ``--insecure`` into a connection.

        Raises:
            ProfileError: a secure connection was asked for and the profile is unusable.
        """
        if insecure:
            if server is None:
                raise ProfileError("--server is required with --insecure")
            return cls(server, None)
        if not profile_path.exists():
            raise ProfileError(
                f"no client profile at {profile_path}: run `sakha demo`, pass --profile, "
                "or --insecure for a plaintext development hub"
            )
        profile = load_profile(profile_path)
        return cls(server or profile.server, profile)

    def channel(self) -> grpc.aio.Channel:
        """A channel to the hub (TLS trusting the profile's CA, or plaintext)."""
        options = [("grpc.max_receive_message_length", MAX_MESSAGE_BYTES)]
        if self.profile is None:
            return grpc.aio.insecure_channel(self.server, options=options)
        credentials = client_channel_credentials(self.profile.ca_file)
        return grpc.aio.secure_channel(self.server, credentials, options=options)

    def metadata(self) -> tuple[tuple[str, str], ...]:
        """Call metadata: the bearer token, freshly minted (nothing when insecure)."""
        if self.profile is None:
            return ()
        return (("authorization", f"Bearer {self.profile.bearer_token()}"),)

    def tls_mismatch_hint(self, details: str) -> str | None:
        """What to change when a failed call's ``details`` say the hub speaks the other
        mode: TLS to a plaintext hub fails its handshake; plaintext to a TLS hub has its
        socket closed, so that case is confirmed by a TLS handshake probe first."""
        if self.profile is not None and "WRONG_VERSION_NUMBER" in details:
            return (
                f"hint: the hub at {self.server} speaks plaintext (it runs with insecure: "
                "true); pass --insecure"
            )
        if self.profile is None and "Socket closed" in details and speaks_tls(self.server):
            return f"hint: the hub at {self.server} speaks TLS; drop --insecure (use a profile)"
        return None


TLS_PROBE_TIMEOUT_S = 2.0


def speaks_tls(server: str, timeout_s: float = TLS_PROBE_TIMEOUT_S) -> bool:
    """Whether ``host:port`` completes a TLS handshake (nothing is sent over it, and the
    certificate is not checked: this asks only which protocol the port speaks)."""
    host, _, port = server.rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    try:
        with (
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host.strip("[]")),
        ):
            return True
    except (OSError, ValueError):  # ssl.SSLError is an OSError
        return False
