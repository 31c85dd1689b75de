"""Throwaway PKI for the fake API server, built with the ``openssl`` CLI.

``generate(DIR)`` writes (EC P-256 keys, PEM):

  ca.crt/ca.key              test CA ("fakeapi-ca")
  server.crt/server.key      serverAuth, SANs IP:127.0.0.1, IP:::1,
                             DNS:kubernetes.default.svc, DNS:localhost (+ extra_sans)
  client.crt/client.key      clientAuth, CN=system:node:fakeapi-node, O=system:nodes
  other-ca.crt/other-ca.key  an unrelated CA (for "wrong CA" tests)
  other-client.crt/.key      a client certificate signed by the unrelated CA

``make_cert`` issues more leaf certificates (e.g. an IP-SAN-only certificate
for a service IP, or one for a tls-server-name test).

CLI: ``python3 pki.py DIR [--san IP:10.96.0.1 --san DNS:api.test ...]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import subprocess
import tempfile

DEFAULT_SANS = ("IP:127.0.0.1", "IP:::1", "DNS:kubernetes.default.svc", "DNS:localhost")
DAYS = "3650"


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_ca(directory: str, name: str = "ca", cn: str = "fakeapi-ca") -> tuple[str, str]:
    """Create a self-signed CA; returns (cert path, key path)."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", key, "-out", crt, "-days", DAYS, "-subj", "/CN=" + cn,
             "-addext", "basicConstraints=critical,CA:TRUE",
             "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    return crt, key


def make_cert(directory: str, name: str, ca: str = "ca", cn: str = "kube-apiserver",
              sans: tuple[str, ...] | list[str] = (), client: bool = False,
              org: str | None = None) -> tuple[str, str]:
    """Issue a leaf certificate signed by DIR/CA.crt; returns (cert path, key path).

    sans: entries like "IP:10.96.0.1" or "DNS:api.test"."""
    crt, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subject = "/CN=" + cn + (f"/O={org}" if org else "")
    ext = ["basicConstraints=critical,CA:FALSE",
           "keyUsage=critical,digitalSignature,keyEncipherment",
           "extendedKeyUsage=" + ("clientAuth" if client else "serverAuth"),
           "subjectKeyIdentifier=hash",
           "authorityKeyIdentifier=keyid,issuer"]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    with tempfile.TemporaryDirectory() as tmp:
        csr, extfile = os.path.join(tmp, "req.csr"), os.path.join(tmp, "ext.cnf")
        with open(extfile, "w") as f:
            f.write("\n".join(ext) + "\n")
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", key, "-out", csr, "-subj", subject)
        _openssl("x509", "-req", "-in", csr, "-CA", os.path.join(directory, ca + ".crt"),
                 "-CAkey", os.path.join(directory, ca + ".key"), "-set_serial", str(secrets.randbits(63)),
                 "-out", crt, "-days", DAYS, "-extfile", extfile)
    return crt, key


def generate(directory: str, extra_sans: tuple[str, ...] | list[str] = (),
             server_sans: tuple[str, ...] | list[str] | None = None) -> dict[str, str]:
    """Create the full set of files listed in the module docstring; returns their paths."""
    os.makedirs(directory, exist_ok=True)
    make_ca(directory, "ca", "fakeapi-ca")
    make_ca(directory, "other-ca", "fakeapi-other-ca")
    sans = list(DEFAULT_SANS if server_sans is None else server_sans) + list(extra_sans)
    make_cert(directory, "server", "ca", "kube-apiserver", sans)
    make_cert(directory, "client", "ca", "system:node:fakeapi-node", client=True, org="system:nodes")
    make_cert(directory, "other-client", "other-ca", "system:node:intruder", client=True, org="system:nodes")
    return paths(directory)


def paths(directory: str) -> dict[str, str]:
    j = lambda n: os.path.join(directory, n)  # noqa: E731
    return {"ca": j("ca.crt"), "ca_key": j("ca.key"),
            "server_cert": j("server.crt"), "server_key": j("server.key"),
            "client_cert": j("client.crt"), "client_key": j("client.key"),
            "other_ca": j("other-ca.crt"),
            "other_client_cert": j("other-client.crt"), "other_client_key": j("other-client.key")}


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--san", action="append", default=[], help="extra server SAN, e.g. IP:10.96.0.1")
    a = ap.parse_args()
    for k, v in generate(a.dir, a.san).items():
        print(f"{k}: {v}")
