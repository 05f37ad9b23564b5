#!/usr/bin/env python3
"""Nemesis: every 4-8 s pick a node (the leader with p=0.5, else uniformly random) and either
SIGKILL it and restart it after 1-4 s, or SIGSTOP it for 2-5 s then SIGCONT.
One fault at a time; after a restart waits (<=20 s) for the node's /health to say ok.
Usage: nemesis.py SEED DURATION_SECONDS LOGFILE [fastleader]
With "fastleader" (targeted variant): every 3-5 s SIGKILL the current leader and restart it
after 0.05-1.0 s, so that it often comes back before the followers elect (same-term restart)."""
import os, sys, time, random, subprocess, json, urllib.request
seed = int(sys.argv[1]); duration = float(sys.argv[2]); logf = open(sys.argv[3], "a", buffering=1)
rng = random.Random(seed)
fast = len(sys.argv) > 4 and sys.argv[4] == "fastleader"
NODE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "node.sh")
def log(msg):
    line = f"{time.time():.3f} {time.strftime('%H:%M:%S')} {msg}"
    print(line, flush=True); logf.write(line + "\n")
def health(i):
    try:
        return json.load(urllib.request.urlopen(f"http://127.0.0.1:{8482+i*100}/health", timeout=1))
    except Exception as e:
        try: return json.load(e)  # 503 body
        except Exception: return None
def leader():
    votes = {}
    for i in (1, 2, 3):
        h = health(i)
        if h and h.get("role") == "leader": return i
        if h and h.get("leader"): votes[h["leader"]] = votes.get(h["leader"], 0) + 1
    return max(votes, key=votes.get) if votes else None
def sh(*a): subprocess.run([NODE, *map(str, a)], check=True)
log(f"nemesis seed={seed} duration={duration} mode={'fastleader' if fast else 'standard'}")
end = time.time() + duration
kills = pauses = kills_leader = pauses_leader = 0
while True:
    wait = rng.uniform(3, 5) if fast else rng.uniform(4, 8)
    if time.time() + wait > end: break
    time.sleep(wait)
    L = leader()
    want_leader = fast or rng.random() < 0.5
    target = L if (want_leader and L) else rng.choice([1, 2, 3])
    hit_leader = target == L
    action = "kill" if fast else rng.choice(["kill", "pause"])
    if action == "kill":
        down = rng.uniform(0.05, 1.0) if fast else rng.uniform(1, 4)
        log(f"SIGKILL node{target} (leader={L}, hit_leader={hit_leader}) restart in {down:.2f}s")
        sh("kill", target); time.sleep(down); sh("start", target)
        kills += 1; kills_leader += hit_leader
        t0 = time.time()
        while time.time() - t0 < 20:
            h = health(target)
            if h and h.get("status") == "ok": break
            time.sleep(0.2)
        log(f"node{target} restarted; health after {time.time()-t0:.1f}s: {health(target)}")
    else:
        down = rng.uniform(2, 5)
        log(f"SIGSTOP node{target} (leader={L}, hit_leader={hit_leader}) for {down:.2f}s")
        sh("stop", target); time.sleep(down); sh("cont", target)
        pauses += 1; pauses_leader += hit_leader
        log(f"SIGCONT node{target}")
log(f"done kills={kills} (leader {kills_leader}) pauses={pauses} (leader {pauses_leader})")
