#!/usr/bin/env python3
"""Recording clients for the fault run: every operation, with its call and return times and its
outcome, as one JSON line in OUTDIR/history.jsonl, for polis-check-history.

Usage: history.py DURATION_SECONDS OUTDIR [CLIENTS]

Each of CLIENTS threads (default 10) has its own kazoo session and loops over: reads (getData),
writes (setData without a version) and compare-and-sets (setData with the version it last saw)
of 8 registers /lin/k0..k7, creates of unique paths /lin-set/p<client>-<n>, and sequential
creates below /lin-seq/q0..q3. Every value written is unique. An operation is never retried: an
exception that proves it did not take effect (NoNode, NodeExists, BadVersion) is `fail`, any
other is `info` (indeterminate). After DURATION_SECONDS the clients stop, and once a write
succeeds again one more client reads the final state: every register, every attempted unique
path, and each sequential parent's children with their data (records marked "final").

Times are time.monotonic_ns(): one clock for every thread of this process."""
import json, logging, os, random, sys, threading, time
from kazoo.client import KazooClient, KazooState
from kazoo.exceptions import BadVersionError, NodeExistsError, NoNodeError
from kazoo.retry import KazooRetry

HOSTS = "127.0.0.1:3481,127.0.0.1:3482,127.0.0.1:3483"
REGISTERS = [f"/lin/k{i}" for i in range(8)]
SEQ_PARENTS = [f"/lin-seq/q{i}" for i in range(4)]
# How long one operation may wait for its reply before it is recorded as indeterminate.
OP_TIMEOUT_S = 15.0
# The weights of read, write, cas, unique create and sequential create.
MIX = [("read", 40), ("write", 20), ("cas", 25), ("create", 10), ("create_seq", 5)]
# Exceptions that prove the operation did not take effect, by the name the checker knows.
DEFINITE = {NoNodeError: "NoNode", NodeExistsError: "NodeExists", BadVersionError: "BadVersion"}
# Pipelined reads per batch in the final phase.
FINAL_BATCH_MAX = 1000
# How long the final phase waits for the cluster to take a write again.
SETTLE_TIMEOUT_S = 180.0


class Recorder:
    """Writes operation records from every thread to one file, and counts them."""

    def __init__(self, path):
        self.file = open(path, "w")
        self.lock = threading.Lock()
        self.counts = {}

    def record(self, rec):
        line = json.dumps(rec, separators=(",", ":"))
        with self.lock:
            self.file.write(line + "\n")
            key = f"{rec['kind']}:{rec['outcome']}"
            self.counts[key] = self.counts.get(key, 0) + 1

    def flush(self):
        with self.lock:
            self.file.flush()

    def close(self):
        with self.lock:
            self.file.close()


def client():
    c = KazooClient(hosts=HOSTS, timeout=10.0,
                    connection_retry=KazooRetry(max_tries=-1, delay=0.1, max_delay=1.0))
    c.start(timeout=60)
    return c


def perform(recorder, rec, call, on_ok=None):
    """Runs one operation: `call` sends it and returns kazoo's async result. Records `rec` with
    its times and outcome (`on_ok(rec, value)` adds an ok result) and returns the outcome. A
    pipelined read was sent earlier: its record carries its own invoke_ns already."""
    rec.setdefault("invoke_ns", time.monotonic_ns())
    try:
        got = call().get(timeout=OP_TIMEOUT_S)
        rec["complete_ns"] = time.monotonic_ns()
        rec["outcome"] = "ok"
        if on_ok:
            on_ok(rec, got)
    except Exception as e:
        rec["complete_ns"] = time.monotonic_ns()
        name = DEFINITE.get(type(e))
        rec["outcome"] = "fail" if name else "info"
        rec["error"] = name or f"{type(e).__name__}: {e}"[:200]
    recorder.record(rec)
    return rec["outcome"]


def read_result(rec, got):
    data, stat = got
    rec["result"] = dict(value=data.decode(errors="replace"), version=stat.version)


class Worker:
    """One client session looping over random operations until `stop_at`."""

    def __init__(self, pid, recorder, stop_at, seed):
        self.pid, self.recorder, self.stop_at = pid, recorder, stop_at
        self.rng = random.Random(seed)
        self.serial = 0
        self.versions = {}  # the last version this client saw per register, for its CAS
        self.unique_paths = []

    def value(self):
        self.serial += 1
        return f"p{self.pid}-{self.serial}"

    def op(self, kind):
        key = self.rng.choice(REGISTERS)
        rec = dict(process=self.pid, kind=kind, key=key)
        if kind == "read":
            call = lambda: self.c.get_async(key)
        elif kind in ("write", "cas"):
            rec["value"] = v = self.value()
            version = -1
            if kind == "cas":
                rec["expected_version"] = version = self.versions.get(key, 0)
            call = lambda: self.c.set_async(key, v.encode(), version=version)
        elif kind == "create":
            rec["key"] = key = f"/lin-set/p{self.pid}-{self.serial + 1}"
            rec["value"] = v = self.value()
            self.unique_paths.append(key)
            call = lambda: self.c.create_async(key, v.encode())
        else:
            rec["key"] = parent = self.rng.choice(SEQ_PARENTS)
            rec["value"] = v = self.value()
            call = lambda: self.c.create_async(parent + "/s-", v.encode(), sequence=True)
        return rec, call

    def run(self):
        self.c = client()
        kinds, weights = zip(*MIX)
        while time.monotonic() < self.stop_at:
            rec, call = self.op(self.rng.choices(kinds, weights)[0])
            if perform(self.recorder, rec, call, self.note_result) == "info":
                self.await_connection()
        self.c.stop(); self.c.close()

    def note_result(self, rec, got):
        kind, key = rec["kind"], rec["key"]
        if kind == "read":
            read_result(rec, got)
            self.versions[key] = got[1].version
        elif kind in ("write", "cas"):
            rec["result"] = dict(version=got.version)
            self.versions[key] = got.version
        elif kind == "create_seq":
            rec["result"] = dict(path=got)

    def await_connection(self):
        """After an indeterminate outcome, waits (bounded by the run's end) until the session is
        connected again, so that a client cut off does not record a burst of instant failures."""
        while self.c.state != KazooState.CONNECTED and time.monotonic() < self.stop_at:
            time.sleep(0.05)


def setup(recorder):
    """Creates the parents (not recorded: nothing checks them) and the registers (recorded: each
    register's first operation)."""
    c = client()
    for parent in ["/lin", "/lin-set", *SEQ_PARENTS]:
        c.ensure_path(parent)
    for key in REGISTERS:
        rec = dict(process=0, kind="create", key=key, value="init")
        perform(recorder, rec, lambda: c.create_async(key, b"init"))
    c.stop(); c.close()


def settle(c):
    """Waits until the cluster takes a write again (bounded), so the final reads see the end."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:
        try:
            c.create("/lin-probe-", b"x", sequence=True, ephemeral=True)
            return True
        except Exception as e:
            if time.monotonic() > deadline:
                print(f"the cluster took no write for {SETTLE_TIMEOUT_S:.0f} s: {e}", file=sys.stderr)
                return False
            time.sleep(1)


def final_reads(recorder, pid, unique_paths):
    """Reads the final state: every register, every attempted unique path (pipelined), and each
    sequential parent's children with their data (one `list` record per parent)."""
    c = client()
    if not settle(c):
        return False
    paths = REGISTERS + sorted(unique_paths)
    for start in range(0, len(paths), FINAL_BATCH_MAX):
        batch = []
        for path in paths[start:start + FINAL_BATCH_MAX]:
            batch.append((dict(process=pid, kind="read", key=path, final=True,
                               invoke_ns=time.monotonic_ns()), c.get_async(path)))
        for rec, pending in batch:
            perform(recorder, rec, lambda: pending, read_result)
    for parent in SEQ_PARENTS:
        rec = dict(process=pid, kind="list", key=parent, final=True)
        perform(recorder, rec, lambda: list_children(c, parent), lambda r, got: r.update(result=dict(children=got)))
    c.stop(); c.close()
    return True


class Done:
    """An already completed async result, for a listing gathered from several replies."""

    def __init__(self, value):
        self.value = value

    def get(self, timeout=None):
        return self.value


def list_children(c, parent):
    names = c.get_children(parent)
    children = {}
    for start in range(0, len(names), FINAL_BATCH_MAX):
        batch = [(n, c.get_async(f"{parent}/{n}")) for n in names[start:start + FINAL_BATCH_MAX]]
        for name, pending in batch:
            children[name] = pending.get(timeout=OP_TIMEOUT_S)[0].decode(errors="replace")
    return Done(children)


def main():
    duration, out = float(sys.argv[1]), sys.argv[2]
    clients = int(sys.argv[3]) if len(sys.argv) > 3 else 10
    logging.basicConfig(filename=os.path.join(out, "history-kazoo.log"), level=logging.WARNING,
                        format="%(asctime)s %(threadName)s %(name)s %(levelname)s %(message)s")
    recorder = Recorder(os.path.join(out, "history.jsonl"))
    setup(recorder)
    stop_at = time.monotonic() + duration
    workers = [Worker(pid, recorder, stop_at, seed=pid) for pid in range(1, clients + 1)]
    threads = [threading.Thread(target=w.run, name=f"h{w.pid}") for w in workers]
    for t in threads:
        t.start()
    rate = open(os.path.join(out, "history-rate.log"), "w", buffering=1)
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        recorder.flush()
        with recorder.lock:
            counts = dict(recorder.counts)
        rate.write(f"{time.time():.0f} {time.strftime('%H:%M:%S')} {json.dumps(counts, sort_keys=True)}\n")
    for t in threads:
        t.join()
    unique_paths = [p for w in workers for p in w.unique_paths]
    settled = final_reads(recorder, clients + 1, unique_paths)
    recorder.close()
    print(json.dumps(dict(operations=recorder.counts, final_reads=settled), sort_keys=True))
    sys.exit(0 if settled else 2)


if __name__ == "__main__":
    main()
