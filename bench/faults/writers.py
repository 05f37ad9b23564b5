#!/usr/bin/env python3
"""16 create writers + 4 CAS counter threads against the 3 ZooKeeper faces.
Usage: writers.py DURATION_SECONDS OUTDIR
Per-thread logs OUTDIR/w<t>.log lines: "<unix_ts> ACK|INDET <path> [exception]"
Counter logs OUTDIR/c<k>.log lines: "<unix_ts> ACK|INDET|BADV|READERR <value-set> [exc]"
OUTDIR/rate.log: one line per second with cumulative counts."""
import sys, time, threading, logging, json, os
from kazoo.client import KazooClient
from kazoo.retry import KazooRetry
from kazoo.exceptions import BadVersionError

HOSTS = "127.0.0.1:3481,127.0.0.1:3482,127.0.0.1:3483"
duration = float(sys.argv[1]); out = sys.argv[2]
logging.basicConfig(filename=os.path.join(out, "kazoo.log"), level=logging.WARNING,
                    format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
stop_at = time.time() + duration
lock = threading.Lock()
stats = dict(ack=0, indet=0, cas_ack=0, cas_indet=0, cas_badv=0, cas_attempt=0, read_err=0)
exc_kinds = {}

def bump(k, exc=None):
    with lock:
        stats[k] += 1
        if exc is not None:
            n = type(exc).__name__; exc_kinds[n] = exc_kinds.get(n, 0) + 1

def client():
    c = KazooClient(hosts=HOSTS, timeout=10.0,
                    connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0))
    c.start(timeout=30)
    return c

def writer(t):
    c = client()
    f = open(os.path.join(out, f"w{t}.log"), "w", buffering=1)
    n = 0
    while time.time() < stop_at:
        path = f"/fault/w{t}-{n}"
        try:
            c.create_async(path, path.encode()).get(timeout=30)
            f.write(f"{time.time():.3f} ACK {path}\n"); bump("ack")
        except Exception as e:
            f.write(f"{time.time():.3f} INDET {path} {type(e).__name__}:{e}\n"); bump("indet", e)
            time.sleep(0.05)
        n += 1
    f.close(); c.stop(); c.close()

def counter(k):
    c = client()
    path = f"/fault/counter{k}"
    f = open(os.path.join(out, f"c{k}.log"), "w", buffering=1)
    while time.time() < stop_at:
        try:
            data, stat = c.get_async(path).get(timeout=30)
        except Exception as e:
            f.write(f"{time.time():.3f} READERR - {type(e).__name__}:{e}\n"); bump("read_err", e)
            time.sleep(0.05); continue
        new = int(data) + 1
        bump("cas_attempt")
        try:
            c.set_async(path, str(new).encode(), version=stat.version).get(timeout=30)
            f.write(f"{time.time():.3f} ACK {new} v{stat.version}\n"); bump("cas_ack")
        except BadVersionError as e:
            f.write(f"{time.time():.3f} BADV {new} v{stat.version}\n"); bump("cas_badv")
        except Exception as e:
            f.write(f"{time.time():.3f} INDET {new} v{stat.version} {type(e).__name__}:{e}\n"); bump("cas_indet", e)
            time.sleep(0.05)
    f.close(); c.stop(); c.close()

setup = client()
setup.ensure_path("/fault")
for k in range(4):
    if not setup.exists(f"/fault/counter{k}"):
        setup.create(f"/fault/counter{k}", b"0")
setup.stop(); setup.close()

threads = [threading.Thread(target=writer, args=(t,), name=f"w{t}") for t in range(16)]
threads += [threading.Thread(target=counter, args=(k,), name=f"c{k}") for k in range(4)]
for th in threads: th.start()
rate = open(os.path.join(out, "rate.log"), "w", buffering=1)
prev = dict(stats)
while any(th.is_alive() for th in threads):
    time.sleep(1)
    with lock: cur = dict(stats); kinds = dict(exc_kinds)
    d = {k: cur[k] - prev[k] for k in cur}; prev = cur
    rate.write(f"{time.time():.0f} {time.strftime('%H:%M:%S')} +ack={d['ack']} +indet={d['indet']} "
               f"+cas_ack={d['cas_ack']} +cas_indet={d['cas_indet']} +cas_badv={d['cas_badv']} | total {json.dumps(cur)}\n")
for th in threads: th.join()
with open(os.path.join(out, "summary.json"), "w") as f:
    json.dump(dict(stats=stats, exceptions=exc_kinds), f, indent=1)
print(json.dumps(dict(stats=stats, exceptions=exc_kinds)))
