"""setWatches of 65,536 paths from zxid 0 over a history of ~20,000 events: reply time, bystander."""
import socket, struct, sys, time, threading
from kazoo.client import KazooClient
host, port = sys.argv[1], int(sys.argv[2])
zk = KazooClient(hosts=f"{host}:{port}", timeout=10); zk.start()
zk.ensure_path("/h")
for batch in range(200):
    t = zk.transaction()
    for i in range(100):
        t.create(f"/h/n{batch}-{i}", b"")
    t.commit()
print("history written")
s = socket.create_connection((host, port))
c = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
s.sendall(struct.pack(">i", len(c)) + c)
n = struct.unpack(">i", s.recv(4))[0]
while n > 0: n -= len(s.recv(n))
def strings(items):
    out = struct.pack(">i", len(items))
    for p in items:
        b = p.encode(); out += struct.pack(">i", len(b)) + b
    return out
paths = [f"/w{i}" for i in range(65536)]
body = struct.pack(">ii", -8, 105) + struct.pack(">q", 0) + strings(paths) + strings([]) + strings([]) + strings([]) + strings([])
s.sendall(struct.pack(">i", len(body)) + body)
sent_at = time.time()
lat = []
def bystander():
    for _ in range(20):
        t = time.time(); zk.get("/h"); lat.append(time.time() - t)
th = threading.Thread(target=bystander); th.start()
s.settimeout(60)
buf = b""
while True:
    d = s.recv(65536)
    if not d: print("closed"); break
    buf += d
    done = False
    while len(buf) >= 4:
        n = struct.unpack(">i", buf[:4])[0]
        if len(buf) < 4 + n: break
        xid = struct.unpack(">i", buf[4:8])[0]
        buf = buf[4 + n:]
        if xid == -8: done = True
    if done: break
print(f"setWatches answered in {(time.time() - sent_at) * 1000:.0f} ms")
th.join()
print(f"bystander getData: max {max(lat) * 1000:.0f} ms over {len(lat)}")
zk.stop()
