"""The Python kazoo client against a Polis node's ZooKeeper face, unchanged.

Runs the seed's own example, `zk.create('/test', b'data', ephemeral=True)`, then kazoo's Lock,
Election, Counter and ChildrenWatch recipes, each with two sessions contending, and null data
apart from empty data. Exits 0 when all pass; any failed assertion or kazoo error exits non-zero
with a traceback.

Usage: python3 recipes.py HOST:PORT
"""

import signal
import sys
import threading
import time

from kazoo.client import KazooClient
from kazoo.exceptions import NoNodeError

# Every wait below is bounded; this bounds the whole run too, so a hang fails instead of blocking
# the test that runs this script.
RUN_DEADLINE_SECONDS = 120
WAIT_SECONDS = 10


def wait_for(condition, what):
    """Polls `condition` until it holds, for at most WAIT_SECONDS."""
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def connect(hosts):
    client = KazooClient(hosts=hosts, timeout=10)
    client.start(timeout=WAIT_SECONDS)
    return client


def seed_example(hosts):
    zk = connect(hosts)
    zk.create('/test', b'data', ephemeral=True)
    data, stat = zk.get('/test')
    assert data == b'data', data
    assert stat.ephemeralOwner == zk.client_id[0], (stat, zk.client_id)
    other = connect(hosts)
    assert other.exists('/test') is not None
    zk.stop()
    zk.close()
    # The ephemeral node goes with its session.
    wait_for(lambda: other.exists('/test') is None, "the ephemeral node to go")
    other.stop()
    other.close()
    print("seed example: ok")


def lock(hosts):
    first, second = connect(hosts), connect(hosts)
    lock_one = first.Lock('/lock', 'one')
    lock_two = second.Lock('/lock', 'two')
    assert lock_one.acquire(timeout=WAIT_SECONDS)
    assert not lock_two.acquire(blocking=False), "the lock is held"
    assert lock_two.contenders() == ['one'], lock_two.contenders()
    acquired = threading.Event()

    def wait_for_lock():
        if lock_two.acquire(timeout=WAIT_SECONDS):
            acquired.set()

    waiter = threading.Thread(target=wait_for_lock)
    waiter.start()
    wait_for(lambda: len(lock_one.contenders()) == 2, "the second contender")
    assert not acquired.is_set()
    lock_one.release()
    assert acquired.wait(WAIT_SECONDS), "the waiter gets the lock once it is released"
    waiter.join(WAIT_SECONDS)
    lock_two.release()
    for client in (first, second):
        client.stop()
        client.close()
    print("lock: ok")


def election(hosts):
    first, second = connect(hosts), connect(hosts)
    leaders = []
    step_down = threading.Event()

    def lead(name):
        def run():
            leaders.append(name)
            if name == 'a':
                step_down.wait(WAIT_SECONDS)
        return run

    election_a = first.Election('/election', 'a')
    election_b = second.Election('/election', 'b')
    thread_a = threading.Thread(target=election_a.run, args=(lead('a'),))
    thread_a.start()
    wait_for(lambda: leaders == ['a'], "a to lead")
    thread_b = threading.Thread(target=election_b.run, args=(lead('b'),))
    thread_b.start()
    wait_for(lambda: election_a.contenders() == ['a', 'b'], "b to queue behind a")
    assert leaders == ['a']
    step_down.set()
    wait_for(lambda: leaders == ['a', 'b'], "b to lead once a steps down")
    thread_a.join(WAIT_SECONDS)
    thread_b.join(WAIT_SECONDS)
    for client in (first, second):
        client.stop()
        client.close()
    print("election: ok")


def counter(hosts):
    first, second = connect(hosts), connect(hosts)
    count = first.Counter('/counter')
    count += 5
    count -= 2
    assert count.value == 3, count.value
    increments = 25

    def add(client):
        shared = client.Counter('/counter')
        for _ in range(increments):
            shared += 1

    # Two sessions increment at once: kazoo retries on BadVersion, so none is lost.
    threads = [threading.Thread(target=add, args=(client,)) for client in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(RUN_DEADLINE_SECONDS)
    assert first.Counter('/counter').value == 3 + 2 * increments
    for client in (first, second):
        client.stop()
        client.close()
    print("counter: ok")


def children_watch(hosts):
    watcher, writer = connect(hosts), connect(hosts)
    writer.ensure_path('/kids')
    seen = []

    @watcher.ChildrenWatch('/kids')
    def record(children):
        seen.append(sorted(children))

    wait_for(lambda: seen and seen[-1] == [], "the first call")
    writer.create('/kids/a')
    wait_for(lambda: seen[-1] == ['a'], "a to appear")
    writer.create('/kids/b', ephemeral=True)
    wait_for(lambda: seen[-1] == ['a', 'b'], "b to appear")
    writer.delete('/kids/a')
    wait_for(lambda: seen[-1] == ['b'], "a to go")
    writer.stop()
    writer.close()
    # The ephemeral child goes with its session, and the watch sees that too.
    wait_for(lambda: seen[-1] == [], "b to go with its session")
    try:
        watcher.delete('/kids', recursive=True)
    except NoNodeError:
        pass
    watcher.stop()
    watcher.close()
    print("children watch: ok")


def null_data(hosts):
    """ZooKeeper keeps null data (length -1) apart from empty data; kazoo reads it as None."""
    zk = connect(hosts)
    zk.create('/null-data', None)
    zk.create('/empty-data', b'')
    data, stat = zk.get('/null-data')
    assert data is None and stat.dataLength == 0, (data, stat)
    assert zk.get('/empty-data')[0] == b'', zk.get('/empty-data')
    zk.set('/null-data', b'x')
    assert zk.get('/null-data')[0] == b'x'
    zk.set('/null-data', None)
    assert zk.get('/null-data')[0] is None
    # kazoo's transactions take byte strings only: a multi keeps empty data empty.
    transaction = zk.transaction()
    transaction.create('/empty-in-multi', b'')
    transaction.set_data('/null-data', b'')
    results = transaction.commit()
    assert not any(isinstance(result, Exception) for result in results), results
    assert zk.get('/empty-in-multi')[0] == b''
    assert zk.get('/null-data')[0] == b''
    for path in ['/null-data', '/empty-data', '/empty-in-multi']:
        zk.delete(path)
    zk.stop()
    zk.close()
    print("null data: ok")


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: recipes.py HOST:PORT")
    signal.alarm(RUN_DEADLINE_SECONDS)
    hosts = sys.argv[1]
    seed_example(hosts)
    lock(hosts)
    election(hosts)
    counter(hosts)
    children_watch(hosts)
    null_data(hosts)
    print("kazoo: all passed")


if __name__ == '__main__':
    main()
