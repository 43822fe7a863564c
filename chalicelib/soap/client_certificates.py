"""Client certificates for mTLS to SOAP endpoints: PEMs from a secret, written where the TLS stack can load them.

Python's ssl module loads a certificate chain only from files, so the PEMs go to a private directory
(0700, files 0600) named by their digest; Lambda's /tmp is per execution environment and never shared.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chalicelib.platform.secrets import json_secret

_directory: Path | None = None


@dataclass(frozen=True)
class CertificateFiles:
    cert_file: str
    key_file: str


class BadCertificate(ValueError):
    pass


def _private_directory() -> Path:
    global _directory
    if _directory is None:
        _directory = Path(tempfile.mkdtemp(prefix="outbound-certs-"))
        _directory.chmod(0o700)
    return _directory


def _write(name: str, content: str) -> str:
    path = _private_directory() / name
    if not path.exists():
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(content)
    return str(path)


def load(reference: str) -> CertificateFiles:
    """`{"certificate": PEM chain, "private_key": PEM}` from the secret named by `reference`."""
    secret = json_secret(reference)
    certificate, key = secret.get("certificate"), secret.get("private_key")
    if not isinstance(certificate, str) or "BEGIN CERTIFICATE" not in certificate:
        raise BadCertificate(f"{reference} has no PEM 'certificate'")
    if not isinstance(key, str) or "PRIVATE KEY" not in key:
        raise BadCertificate(f"{reference} has no PEM 'private_key'")
    digest = hashlib.sha256((certificate + key).encode()).hexdigest()[:32]
    return CertificateFiles(cert_file=_write(f"{digest}.crt", certificate), key_file=_write(f"{digest}.key", key))
