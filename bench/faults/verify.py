#!/usr/bin/env python3
"""After the run: wait for the cluster to settle, then on each node alone (after sync('/'))
check every acknowledged create exists (with its data), classify indeterminate creates, find
unexpected nodes, and check each counter lies in [acked, acked+indeterminate].
Usage: verify.py OUTDIR"""
import sys, os, glob, time, json, urllib.request
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
out = sys.argv[1]
acked, indet = {}, {}
for fn in glob.glob(os.path.join(out, "w*.log")):
    for line in open(fn):
        p = line.split()
        (acked if p[1] == "ACK" else indet)[p[2]] = (float(p[0]), line.strip())
counters = {}
for k in range(4):
    a = i = b = 0; maxack = 0
    for line in open(os.path.join(out, f"c{k}.log")):
        p = line.split()
        if p[1] == "ACK": a += 1; maxack = max(maxack, int(p[2]))
        elif p[1] == "INDET": i += 1
        elif p[1] == "BADV": b += 1
    counters[k] = dict(acked=a, indet=i, badversion=b, attempted=a + i + b, max_acked_value=maxack)
last = {}
for p in list(acked) + list(indet):
    t, n = p.rsplit("/", 1)[1][1:].split("-"); last[int(t)] = max(last.get(int(t), -1), int(n))
beyond = {f"/fault/w{t}-{n}" for t, m in last.items() for n in range(m + 1, m + 51)}
print(f"creates: acked={len(acked)} indeterminate={len(indet)}")

def health(i):
    try: return json.load(urllib.request.urlopen(f"http://127.0.0.1:{8482+i*100}/health", timeout=2))
    except Exception as e: return str(e)
deadline = time.time() + 120
while True:
    hs = [health(i) for i in (1, 2, 3)]
    ok = all(isinstance(h, dict) and h.get("status") == "ok" for h in hs) and len({h["leader"] for h in hs}) == 1
    if ok:
        try:
            c = KazooClient(hosts="127.0.0.1:3481,127.0.0.1:3482,127.0.0.1:3483", timeout=10); c.start(15)
            c.create("/fault-probe-", b"x", sequence=True); c.stop(); c.close(); break
        except Exception as e: print("probe failed:", e)
    if time.time() > deadline: print("CLUSTER DID NOT SETTLE", hs); sys.exit(2)
    time.sleep(1)
print("settled:", json.dumps(hs))

result = {}
expected_counters = {f"counter{k}" for k in range(4)}
for i in (1, 2, 3):
    c = KazooClient(hosts=f"127.0.0.1:{3480+i}", timeout=10); c.start(15)
    c.sync("/")
    # /fault has too many children for one reply (the face caps replies at ~1 MiB), so read every
    # attempted path (acked, indeterminate, and 50 past each writer's last attempt), pipelined
    present, bad_data = set(), []
    paths = sorted(set(acked) | set(indet) | beyond)
    for s in range(0, len(paths), 2000):
        batch = [(p, c.get_async(p)) for p in paths[s:s+2000]]
        for p, a in batch:
            try:
                d, _ = a.get(timeout=30)
                present.add(p)
                if d != p.encode(): bad_data.append((p, d))
            except NoNodeError: pass
    kids = present
    missing = sorted(p for p in acked if p not in present)
    indet_present = sum(1 for p in indet if p in present)
    unexpected = sorted(p for p in present if p not in acked and p not in indet)
    stat = c.exists("/fault")
    cres = {}
    for k in range(4):
        v = int(c.get(f"/fault/counter{k}")[0]); cc = counters[k]
        cres[k] = dict(value=v, **cc, ok=(cc["acked"] <= v <= cc["acked"] + cc["indet"] and v >= cc["max_acked_value"]))
    result[i] = dict(fault_numChildren=stat.numChildren, present=len(present), acked_missing=len(missing), missing_sample=missing[:20],
                     acked_bad_data=len(bad_data), bad_data_sample=bad_data[:10],
                     indet_present=indet_present, indet_absent=len(indet) - indet_present,
                     unexpected=len(unexpected), unexpected_sample=unexpected[:20], counters=cres)
    result[i]["_kids"] = kids
    c.stop(); c.close()
    print(f"node{i}: " + json.dumps({k: v for k, v in result[i].items() if k != "_kids"}))
same = result[1]["_kids"] == result[2]["_kids"] == result[3]["_kids"]
print("all three nodes hold the identical /fault child set:", same)
for i in (1, 2, 3): del result[i]["_kids"]
json.dump(dict(acked=len(acked), indet=len(indet), nodes=result, identical=same),
          open(os.path.join(out, "verify.json"), "w"), indent=1)
