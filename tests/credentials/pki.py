"""Test certificates for Content Credentials, made with ``cryptography``: a root CA, an
intermediate and an end-entity signing certificate with what c2pa-rs asks of a signer
(version 3, EC P-256, digitalSignature, an allowed EKU: emailProtection or documentSigning,
not a CA, key identifiers)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


def _name(cn: str, org: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn), x509.NameAttribute(NameOID.ORGANIZATION_NAME, org)])


def _cert(subject, key, issuer, issuer_key, *, ca: bool, eku=None, days: int = 365) -> x509.Certificate:
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer).public_key(key.public_key())
         .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
         .not_valid_after(now + dt.timedelta(days=days))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=0 if ca and issuer != subject else None), critical=True)
         .add_extension(x509.KeyUsage(digital_signature=not ca, content_commitment=False, key_encipherment=False,
                                      data_encipherment=False, key_agreement=False, key_cert_sign=ca, crl_sign=ca,
                                      encipher_only=False, decipher_only=False), critical=True)
         .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
         .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()), critical=False))
    if eku:
        b = b.add_extension(x509.ExtendedKeyUsage(eku), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


@dataclass
class Pki:
    """PEM files of one test PKI: ``anchors`` (the root), ``chain`` (signer + intermediate), ``key``."""

    anchors: Path
    chain: Path
    key: Path


def make_pki(folder: Path, org: str = "Test Bureau", signer: str = "Footage test signer",
             eku=(ExtendedKeyUsageOID.EMAIL_PROTECTION, DOCUMENT_SIGNING)) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    rk, ik, ek = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _cert(_name(f"{org} Root CA", org), rk, _name(f"{org} Root CA", org), rk, ca=True, days=3650)
    inter = _cert(_name(f"{org} Signing CA", org), ik, root.subject, rk, ca=True)
    ee = _cert(_name(signer, org), ek, inter.subject, ik, ca=False, eku=list(eku))
    pki = Pki(folder / "anchors.pem", folder / "chain.pem", folder / "signer.key")
    pki.anchors.write_bytes(_pem(root))
    pki.chain.write_bytes(_pem(ee) + _pem(inter))
    pki.key.write_bytes(ek.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()))
    return pki


def flip_byte(path: Path, offset: int = 200) -> None:
    """Change one byte of the media data (``offset`` bytes into the ``mdat`` box)."""
    data = bytearray(path.read_bytes())
    i = data.find(b"mdat")
    assert i > 0, "no mdat box"
    data[i + 4 + offset] ^= 0xFF
    path.write_bytes(bytes(data))
