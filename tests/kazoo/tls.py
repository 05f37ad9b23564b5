"""kazoo over TLS against a Polis node's ZooKeeper face with `zookeeper.tls = true`.

The client certificate is the connection's identity, as on the QUIC face: a node created with an
ACL for `x509:<agency's subject>` is readable by the agency's connection and refused (NoAuth) to
another certificate's. A connection without a certificate never gets a session.

Usage: python3 tls.py HOST:PORT CA AGENCY_CERT AGENCY_KEY OTHER_CERT OTHER_KEY
"""

import signal
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.security import make_acl

RUN_DEADLINE_SECONDS = 60
CONNECT_TIMEOUT_SECONDS = 10


def client(hosts, ca, pair):
    """A kazoo client that trusts `ca` and presents the (certificate, key) `pair`, if any. The
    server's certificate is checked against the CA; it names localhost, not the IP address the
    test connects to, so the host name is not compared."""
    options = {"use_ssl": True, "verify_certs": True, "check_hostname": False, "ca": ca}
    if pair is not None:
        options["certfile"], options["keyfile"] = pair
    return KazooClient(hosts=hosts, timeout=CONNECT_TIMEOUT_SECONDS, **options)


def main():
    signal.alarm(RUN_DEADLINE_SECONDS)
    hosts, ca = sys.argv[1], sys.argv[2]
    agency_pair, other_pair = (sys.argv[3], sys.argv[4]), (sys.argv[5], sys.argv[6])

    agency = client(hosts, ca, agency_pair)
    agency.start(timeout=CONNECT_TIMEOUT_SECONDS)
    acl = make_acl("x509", "CN=agency,O=Polis", all=True)
    agency.create("/tls-secret", b"only for the agency", acl=[acl])
    data, _ = agency.get("/tls-secret")
    assert data == b"only for the agency", data

    other = client(hosts, ca, other_pair)
    other.start(timeout=CONNECT_TIMEOUT_SECONDS)
    try:
        other.get("/tls-secret")
        raise AssertionError("another certificate read the agency's node")
    except NoAuthError:
        pass
    other.stop()
    agency.stop()

    anonymous = client(hosts, ca, None)
    try:
        anonymous.start(timeout=3)
        raise AssertionError("a connection without a certificate got a session")
    except Exception as error:  # kazoo raises a timeout; the handshake was refused
        if isinstance(error, AssertionError):
            raise
    finally:
        anonymous.stop()
    print("kazoo tls: all passed")


if __name__ == "__main__":
    main()
