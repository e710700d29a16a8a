"""Keys and certificates the tests make, and what a test asks of a certificate it was served."""

from __future__ import annotations

import datetime
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

NAME = "mx.receiving.test"


def make_cert(name, issuer_key, issuer_name, key, start_days, end_days, ca=False, extra_names=()):
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .issuer_name(issuer_name or x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
               .public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now + datetime.timedelta(days=start_days))
               .not_valid_after(now + datetime.timedelta(days=end_days))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName(
            [x509.DNSName(item) for item in (name,) + tuple(extra_names)]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def write_pair(directory, stem, cert, key):
    (directory / (stem + ".pem")).write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (directory / (stem + ".key")).write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    (directory / (stem + ".key")).chmod(0o600)


def pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def new_pair(kind, name=NAME, key=None):
    key = key or (rsa.generate_private_key(65537, 2048) if kind == "rsa" else ec.generate_private_key(ec.SECP256R1()))
    return key, make_cert(name, None, None, key, -1, 30)


def chain(directory, stem, key, cert, content=True):
    item = {"key_file": str(directory / (stem + ".key")), "cert_file": str(directory / (stem + ".pem"))}
    if content:
        item.update(key_content=pem_key(key), cert_content=pem_cert(cert))
    return item


def fingerprint(cert_pem):
    out = subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256"], input=cert_pem.encode(),
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("=", 1)[1]
