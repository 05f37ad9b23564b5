"""A pytest plugin that points kazoo's own test harness at three separate `polis server`
processes instead of the ZooKeeper ensemble it would start.

kazoo's `KazooTestHarness` asks `kazoo.testing.harness.get_global_cluster()` for its servers; this
plugin answers with the Polis cluster `tests/kazoo-suite/run` prepared (its folder in
`POLIS_CLUSTER`, the `polis` binary in `POLIS`). The tests that stop and restart members
(`cluster[0].stop()`, `.run()`) stop a process with SIGTERM and start it again on its own data.
"""

import os
import signal
import socket
import subprocess
import time

import kazoo.testing.harness as harness

CLUSTER_DIR = os.environ["POLIS_CLUSTER"]
POLIS = os.environ["POLIS"]
# Every wait on a process is bounded.
WAIT_SECONDS = 30


def _listening(port):
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_for(condition, what):
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


class PolisServer:
    """One member: ZooKeeper face at 127.0.0.1:3480+index (bench/attacks/cluster3's layout)."""

    def __init__(self, index):
        self.index = index
        self.port = 3480 + index
        self.config = os.path.join(CLUSTER_DIR, f"node{index}.toml")
        self.log = os.path.join(CLUSTER_DIR, f"node{index}.log")
        self.process = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    @property
    def secure_address(self):
        # This run serves plain TCP only; kazoo's TLS tests need its own CA setup.
        return self.address

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def run(self):
        if self.running:
            return
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [POLIS, "server", "--config", self.config],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        _wait_for(lambda: _listening(self.port), f"node{self.index} to listen")

    def stop(self):
        if not self.running:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=WAIT_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=WAIT_SECONDS)
        self.process = None

    def reset(self):
        pass

    def destroy(self):
        self.stop()

    def get_logs(self, num_lines=100):
        with open(self.log, "rb") as log:
            return b"".join(log.readlines()[-num_lines:]).decode("utf-8", "replace")


class PolisCluster(list):
    def start(self):
        for server in self:
            server.run()

    def stop(self):
        for server in self:
            server.stop()

    def terminate(self):
        self.stop()

    def reset(self):
        pass

    def get_logs(self):
        return [server.get_logs() for server in self]

    def get_ssl_client_configuration(self):
        raise NotImplementedError("the Polis cluster of this run serves plain TCP only")


CLUSTER = PolisCluster(PolisServer(index) for index in (1, 2, 3))
harness.get_global_cluster = lambda: CLUSTER


def pytest_unconfigure(config):
    CLUSTER.terminate()
