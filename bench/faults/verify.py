#!/usr/bin/env python3
"""After the run: wait for the cluster to settle, then on each node alone (after sync('/'))
check every acknowledged create exists (with its data), classify indeterminate creates, find
unexpected nodes, check each counter lies in [acked, acked+indeterminate], and check that the
three members hold the same nodes, registers and sequential children.
The creates come from the recording clients' history.jsonl and from writers.py's logs, whichever
the run has.
Usage: verify.py OUTDIR"""
import sys, os, glob, time, json, urllib.request
from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError
out = sys.argv[1]
# path -> the data its create wrote
acked, indet = {}, {}
for fn in glob.glob(os.path.join(out, "w*.log")):
    for line in open(fn):
        p = line.split()
        (acked if p[1] == "ACK" else indet)[p[2]] = p[2]
registers, seq_parents = set(), set()
history = os.path.join(out, "history.jsonl")
if os.path.exists(history):
    for line in open(history):
        r = json.loads(line)
        if r["kind"] == "create" and r["key"].startswith("/lin-set/"):
            if r["outcome"] == "ok": acked[r["key"]] = r["value"]
            elif r["outcome"] == "info": indet[r["key"]] = r["value"]
        elif r["kind"] == "create_seq":
            seq_parents.add(r["key"])
            if r["outcome"] == "ok": acked[r["result"]["path"]] = r["value"]
        elif r["kind"] in ("read", "write", "cas") and r["key"].startswith("/lin/"):
            registers.add(r["key"])
counter_logs = sorted(glob.glob(os.path.join(out, "c*.log")))
counters = {}
for k in range(len(counter_logs)):
    a = i = b = 0; maxack = 0
    for line in open(os.path.join(out, f"c{k}.log")):
        p = line.split()
        if p[1] == "ACK": a += 1; maxack = max(maxack, int(p[2]))
        elif p[1] == "INDET": i += 1
        elif p[1] == "BADV": b += 1
    counters[k] = dict(acked=a, indet=i, badversion=b, attempted=a + i + b, max_acked_value=maxack)
# 50 paths past each legacy writer's last attempt, to find creates nobody attempted
last = {}
for p in list(acked) + list(indet):
    if p.startswith("/fault/w"):
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
                if d != (acked.get(p) or indet.get(p) or p).encode(): bad_data.append((p, d))
            except NoNodeError: pass
    # The registers' (data, version) and the sequential parents' children, to compare members.
    regs = {k: (lambda d: (d[0].decode(errors="replace"), d[1].version))(c.get(k)) for k in sorted(registers)}
    seqs = {q: sorted(c.get_children(q)) for q in sorted(seq_parents)}
    kids = (present, regs, seqs)
    missing = sorted(p for p in acked if p not in present)
    indet_present = sum(1 for p in indet if p in present)
    unexpected = sorted(p for p in present if p not in acked and p not in indet)
    stat = c.exists("/fault") or c.exists("/lin-set")
    cres = {}
    for k in range(len(counter_logs)):
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
print("all three nodes hold the same created nodes, registers and sequential children:", same)
for i in (1, 2, 3): del result[i]["_kids"]
json.dump(dict(acked=len(acked), indet=len(indet), nodes=result, identical=same),
          open(os.path.join(out, "verify.json"), "w"), indent=1)
bad = any(r["acked_missing"] or r["acked_bad_data"] or r["unexpected"]
          or not all(cr["ok"] for cr in r["counters"].values()) for r in result.values())
sys.exit(1 if bad or not same else 0)
