#!/usr/bin/env python3
"""For each SIGKILL of the leader in a run, tell whether the restarted node resumed leadership in
its old term (openraft 0.9 restarts a node whose persisted vote is its own committed vote as
leader), and for how long, from the node logs. Usage: analyze_restarts.py RUNDIR"""
import sys, re, os
run = sys.argv[1]
ansi = re.compile(r"\x1b\[[0-9;]*m")
nem = [l.split() for l in open(os.path.join(run, "nemesis.log"))]
logs = {i: [ansi.sub("", l.rstrip()) for l in open(os.path.join(run, f"node{i}.log"), errors="replace")] for i in (1, 2, 3)}
def hms(l):
    m = re.match(r"(?:=== )?(?:\d{4}-\d\d-\d\dT)?(\d\d:\d\d:\d\d\.\d+)", l)
    return m.group(1)[:12] if m else None
for f in nem:
    if len(f) > 3 and f[2] == "SIGKILL" and "hit_leader=True)" in " ".join(f):
        node = int(f[3][-1]); t = f[1]
        lines = logs[node]
        # find the START following this kill
        idx = next(k for k, l in enumerate(lines) if l.startswith("=== ") and "START" in l and hms(l) >= t)
        start = hms(lines[idx])
        first_vote = None
        for l in lines[idx+1:]:
            if l.startswith("=== "): break
            m = re.search(r"seen a higher vote: (T\d+-N\d+):committed GT mine: (T\d+-N\d+)", l)
            if m: first_vote = (hms(l), m.group(1), m.group(2)); break
        # did the other nodes elect in between kill and restart?
        others = []
        for o in (1, 2, 3):
            if o == node: continue
            for l in logs[o]:
                h = hms(l)
                if h and t <= h <= start and re.search(r"T\d+-N\d+:uncommitted", l): others.append((o, h)); break
        print(f"kill leader node{node} at {t} restart {start}: election by others before restart: {others or 'none'}; "
              f"first higher vote seen by restarted node: {first_vote}")
