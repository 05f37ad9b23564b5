"""kazoo's SASL DIGEST-MD5 login (`sasl_options`, with pure-sasl) against a Polis node's
ZooKeeper face configured with `[zookeeper] sasl_users = { alice = "secret" }`.

A logged-in session holds `sasl:alice` and the digest identity of `alice:secret`, so ACLs of
either scheme admit it and nobody else; a wrong password or an unknown user fails the login
with AuthFailedError, as against ZooKeeper. Exits 0 when all pass.

Usage: python3 sasl.py HOST:PORT
"""

import signal
import sys

from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from kazoo.protocol.states import KeeperState
from kazoo.security import make_acl, make_digest_acl

# The shared bounded wait, from the recipes script beside this one.
from recipes import WAIT_SECONDS, wait_for

RUN_DEADLINE_SECONDS = 60


def connect(hosts, **sasl):
    options = dict(mechanism="DIGEST-MD5", **sasl) if sasl else None
    client = KazooClient(hosts=hosts, timeout=10, sasl_options=options)
    client.start(timeout=WAIT_SECONDS)
    return client


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: sasl.py HOST:PORT")
    signal.alarm(RUN_DEADLINE_SECONDS)
    hosts = sys.argv[1]

    alice = connect(hosts, username="alice", password="secret")
    alice.create("/sasl-only", b"s", acl=[make_acl("sasl", "alice", all=True)])
    alice.create("/digest-only", b"d", acl=[make_digest_acl("alice", "secret", all=True)])
    assert alice.get("/sasl-only")[0] == b"s"
    assert alice.get("/digest-only")[0] == b"d"
    print("login: ok")

    anonymous = connect(hosts)
    for path in ["/sasl-only", "/digest-only"]:
        try:
            anonymous.get(path)
            raise AssertionError(f"an anonymous session read {path}")
        except NoAuthError:
            pass
    anonymous.stop()
    anonymous.close()
    print("acl: ok")

    # ZooKeeper answers a failed login with AuthFailed and closes the connection; kazoo then
    # passes through state AUTH_FAILED and stops connecting (start() itself may return first,
    # or time out: the login follows the connect handshake), so the states it passes through
    # are recorded.
    for username, password in [("alice", "guess"), ("mallory", "secret")]:
        client = KazooClient(
            hosts=hosts,
            timeout=10,
            sasl_options=dict(mechanism="DIGEST-MD5", username=username, password=password),
        )
        states = []
        session_callback = client._session_callback

        def record(state, session_callback=session_callback, states=states):
            states.append(state)
            session_callback(state)

        client._session_callback = record
        client.start_async()
        wait_for(lambda: KeeperState.AUTH_FAILED in states, f"{username}'s login to fail")
        client.stop()
        client.close()
    print("refusals: ok")

    for path in ["/sasl-only", "/digest-only"]:
        alice.delete(path)
    alice.stop()
    alice.close()
    print("kazoo sasl: all passed")


if __name__ == "__main__":
    main()
