#!/usr/bin/env python3
"""Load 1,000 parents /p000../p999 with 1,000 persistent children each (48-byte data, open ACL)
using kazoo multi transactions of BATCH creates, with up to INFLIGHT transactions outstanding.
usage: load.py HOST:PORT [first_parent last_parent_exclusive] """
import sys, time, threading
from kazoo.client import KazooClient

hosts = sys.argv[1]
p_lo = int(sys.argv[2]) if len(sys.argv) > 2 else 0
p_hi = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
BATCH, INFLIGHT, CHILDREN = 100, 20, 1000
DATA = b"x" * 48

zk = KazooClient(hosts=hosts, timeout=30)
zk.start(timeout=30)
t0 = time.time()
for batch_start in range(p_lo, p_hi, 100):
    t = zk.transaction()
    for p in range(batch_start, min(batch_start + 100, p_hi)):
        t.create("/p%03d" % p, DATA)
    res = t.commit()
    for r in res:
        if isinstance(r, Exception):
            raise r
sem = threading.Semaphore(INFLIGHT)
errors = []
done = [0]
lock = threading.Lock()
def cb(a):
    try:
        res = a.get()
        for r in res:
            if isinstance(r, Exception):
                errors.append(r)
    except Exception as e:
        errors.append(e)
    with lock:
        done[0] += 1
    sem.release()
sent = 0
for p in range(p_lo, p_hi):
    for c0 in range(0, CHILDREN, BATCH):
        sem.acquire()
        t = zk.transaction()
        for c in range(c0, c0 + BATCH):
            t.create("/p%03d/c%04d" % (p, c), DATA)
        t.commit_async().rawlink(cb)
        sent += 1
    if errors:
        print("errors:", errors[:3]); break
for _ in range(INFLIGHT):
    sem.acquire()
el = time.time() - t0
n = (p_hi - p_lo) * (CHILDREN + 1)
print("loaded parents %d..%d: %d znodes in %.1f s (%.0f/s), errors=%d" % (p_lo, p_hi, n, el, n / el, len(errors)))
if errors: print(errors[:3])
zk.stop()
