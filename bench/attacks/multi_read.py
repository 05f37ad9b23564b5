"""multiRead of 1,024 getData of 1 MiB nodes (a 1 GiB reply), several times over; RSS and term."""
import socket, struct, sys, time
from kazoo.client import KazooClient
host, port, pid = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def rss_mib(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
zk = KazooClient(hosts=f"{host}:{port}", timeout=10); zk.start()
for i in range(8):
    if not zk.exists(f"/m{i}"):
        zk.create(f"/m{i}", b"x" * (1024 * 1024 - 1))
print(f"rss before: {rss_mib(pid):.0f} MiB")
def connect():
    s = socket.create_connection((host, port))
    c = struct.pack(">iqiqi", 0, 0, 30000, 0, 16) + b"\0" * 16 + b"\0"
    s.sendall(struct.pack(">i", len(c)) + c)
    n = struct.unpack(">i", s.recv(4))[0]
    while n > 0: n -= len(s.recv(n))
    return s
peak = 0
for round in range(5):
    s = connect()
    ops = b""
    for i in range(1024):
        p = f"/m{i % 8}".encode()
        ops += struct.pack(">i?i", 4, False, -1) + struct.pack(">i", len(p)) + p + b"\0"
    ops += struct.pack(">i?i", -1, True, -1)
    req = struct.pack(">ii", 1, 22) + ops
    s.sendall(struct.pack(">i", len(req)) + req)
    s.settimeout(20)
    got = 0
    try:
        while True:
            d = s.recv(65536)
            if not d: break
            got += len(d)
    except Exception as e:
        print("recv:", e)
    peak = max(peak, rss_mib(pid))
    print(f"round {round}: {got} reply bytes, connection closed; rss {rss_mib(pid):.0f} MiB")
t = time.time(); [zk.create(f"/by-{time.time_ns()}", b"") for _ in range(20)]
print(f"bystander: 20 creates in {(time.time()-t)*1000:.0f} ms; peak rss {peak:.0f} MiB")
zk.stop()
