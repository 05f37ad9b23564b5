"""Opens N ZooKeeper sessions from one address and drops each connection without closing its
session (sessions outlive connections, up to their timeout); then checks that the node capped the
attacker's live sessions, that the cluster's session count stayed bounded, and that a bystander
from another address still connects and writes."""
import socket, struct, sys, time
from kazoo.client import KazooClient
host, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
bystander_host = sys.argv[4] if len(sys.argv) > 4 else "127.0.0.2"
def connect(source=None):
    s = socket.create_connection((host, port), timeout=10, source_address=(source, 0) if source else None)
    c = struct.pack(">iqiqi", 0, 0, 120000, 0, 16) + b"\0" * 16 + b"\0"
    s.sendall(struct.pack(">i", len(c)) + c)
    head = s.recv(4)
    if len(head) < 4:
        return None
    n = struct.unpack(">i", head)[0]
    body = b""
    while len(body) < n: body += s.recv(n - len(body))
    session_id = struct.unpack(">q", body[8:16])[0]
    return s, session_id
opened = refused = 0
t = time.time()
for _ in range(count):
    got = connect()
    if got is None:
        refused += 1
        continue
    s, session_id = got
    opened += 1
    s.close()   # the session lives on for its timeout
print(f"{count} connects in {time.time() - t:.1f} s: {opened} sessions opened, {refused} refused")
health_port = int(sys.argv[5]) if len(sys.argv) > 5 else 8582
import json, urllib.request
health = json.load(urllib.request.urlopen(f"http://127.0.0.1:{health_port}/health"))
print(f"cluster sessions now: {health['sessions']} (term {health['term']})")
t = time.time()
got = connect(bystander_host)
print(f"bystander from {bystander_host}: session {'opened' if got and got[1] else 'REFUSED'} "
      f"in {(time.time() - t) * 1000:.0f} ms")
