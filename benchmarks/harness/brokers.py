"""Starting and stopping the broker under test, fresh for every phase.

Three kinds, one interface (start() returns a Running, whose stop() ends it):
  stampede   build/stampede on a free ephemeral port of 127.0.0.1
  rabbitmq / activemq
             scripts/peers.sh start|stop, which prints the root pid to sample
  HOST:PORT  a broker somebody else runs: nothing to start or stop; its RSS
             is sampled only when --broker-pid names its process
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# ctest points these into its own build tree.
STAMPEDE = os.environ.get("STAMPEDE_BENCH_STAMPEDE") or os.path.join(ROOT, "build", "stampede")
PEERS = os.path.join(ROOT, "scripts", "peers.sh")
PEER_NAMES = ("rabbitmq", "activemq")

# What each broker does with the messages this harness sends (the driver sets
# no `persistent` header), stated next to every figure (PEERS.md).
DURABILITY = {
    "stampede": "in memory (messages without persistent:true never reach the journal); "
                "the broker runs with a fresh private --data-dir per phase, as a user's "
                "broker runs with its default data/",
    "rabbitmq": "transient messages (no `persistent` header, delivery mode 1); /queue/ "
                "destinations are durable classic queues, /topic/ subscriptions exclusive "
                "auto-delete queues; receipts on SEND wait for publisher confirms",
    "activemq": "non-persistent messages (no `persistent:true` header): kept in memory, "
                "spooled to the temp store under memory pressure; KahaDB is enabled but "
                "holds persistent messages only; 512 MiB heap",
}
DEFAULT_LOGIN = {"rabbitmq": ("guest", "guest")}
# Where STOMP over WebSocket is served (RabbitMQ web-stomp's default path).
WS_PATH = "/ws"


class BrokerError(Exception):
    pass


@dataclass
class Options:
    """How to start a broker: the harness's --broker-* flags."""
    config: str = None
    args: list = field(default_factory=list)
    schedulers: int = None
    io: str = None
    stack_size: int = None
    admin: str = None            # "auto", HOST:PORT, or None
    pid: int = None              # for HOST:PORT brokers
    login: str = None
    passcode: str = None
    vhost: str = "/"
    start_timeout: float = 60.0
    log_dir: str = None
    transport: str = "tcp"       # tcp | ws: what the driver speaks (see ws_port)


@dataclass
class Running:
    name: str
    kind: str                    # stampede | peer | external
    host: str
    port: int
    pid: int = None              # root of the process tree to sample
    version: str = None
    login: str = None
    passcode: str = None
    vhost: str = "/"
    admin: str = None            # HOST:PORT of the admin endpoint
    command: list = None
    startup_seconds: float = None
    durability: str = None
    log: str = None
    data_dir: str = None         # kept across restarts (crash and restart phases)
    transport: str = "tcp"       # tcp, or ws: the driver connects to ws_port, path WS_PATH
    ws_port: int = None
    _stop: object = None
    _restart: object = None

    def restart(self, how):
        """Ends the broker ("kill": SIGKILL; "graceful": its clean stop) and
        starts it again on the same port and data. Returns the event:
        {how, down_ns, spawn_ns, ready_ns, pid, error}; `pid` becomes the new
        root to sample."""
        if self._restart is None:
            return {"how": how, "error": "this broker cannot be restarted by the harness"}
        event = self._restart(how)
        if event.get("pid"):
            self.pid = event["pid"]
        return event

    def stop(self):
        if self._stop is not None:
            self._stop()
            self._stop = None

    def describe(self):
        return {k: v for k, v in self.__dict__.items()
                if not k.startswith("_") and k != "passcode"}


def start(spec, opts, phase="broker", durable=False):
    """Starts a fresh broker named by `spec`; raises BrokerError on failure.
    Stampede gets a private --data-dir of its own per phase (when this build
    has the flag and neither --broker-arg nor --broker-config names one),
    removed when the phase's broker stops: no phase inherits another's
    messages, and nothing lands in data/ under the working directory.
    `durable`: the phase sends persistent messages (the durability text
    recorded with the run says so)."""
    if spec == "stampede":
        return _start_stampede(opts, phase, durable)
    if spec in PEER_NAMES:
        return _start_peer(spec, opts)
    return _external(spec, opts)


# What the crash and restart phases send (persistent:true, receipts), and what
# each broker does with it.
PERSISTENT_DURABILITY = {
    "stampede": "persistent:true SENDs to /queue/, journalled in the phase's private "
                "--data-dir (journal.sync always unless the config says otherwise: the "
                "receipt follows the fdatasync); a build without --data-dir keeps them "
                "in memory only",
    "rabbitmq": "persistent:true (delivery mode 2) to /queue/x, a durable classic queue; the "
                "receipt follows the publisher confirm, i.e. the message store's fsync",
    "activemq": "persistent:true to KahaDB (default: the broker syncs persistent sends "
                "before acknowledging them)",
}


def stampede_has_data_dir():
    """Whether this build of stampede takes --data-dir (issue 10's storage)."""
    try:
        out = subprocess.run([STAMPEDE, "--help"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return "--data-dir" in out.stdout + out.stderr


def free_port():
    """An ephemeral port of 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port, timeout, alive=lambda: True):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            if not alive():
                return False
            time.sleep(0.1)
    return False


def stampede_version():
    if not os.access(STAMPEDE, os.X_OK):
        return None
    try:
        out = subprocess.run([STAMPEDE, "--version"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or out.stderr.strip() or None
    except (OSError, subprocess.TimeoutExpired):
        return None


def stampede_command(opts, port, admin_port):
    cmd = [STAMPEDE, "--listen", "127.0.0.1:%d" % port]
    if opts.config:
        cmd += ["--config", opts.config]
    if opts.schedulers:
        cmd += ["--schedulers", str(opts.schedulers)]
    if opts.io:
        cmd += ["--io", opts.io]
    if opts.stack_size:
        cmd += ["--stack-size", str(opts.stack_size)]
    if admin_port:
        cmd += ["--admin", "127.0.0.1:%d" % admin_port]
    return cmd + list(opts.args)


def _start_stampede(opts, phase, durable=False):
    if not os.access(STAMPEDE, os.X_OK):
        raise BrokerError("%s does not exist yet: build it (scripts/setup.sh), or point "
                          "--broker at HOST:PORT or a peer (rabbitmq, activemq)" % STAMPEDE)
    port = free_port()
    admin_port = None
    admin = opts.admin
    if admin == "auto":
        admin_port = free_port()
        admin = "127.0.0.1:%d" % admin_port
    cmd = stampede_command(opts, port, admin_port)
    ws_port = None
    if opts.transport == "ws":
        if opts.config:
            raise BrokerError("--transport ws gives stampede a config of its own (a websocket "
                              "listener): it cannot be combined with --broker-config")
        ws_port = free_port()
        config = os.path.join(opts.log_dir or tempfile.mkdtemp(prefix="stampede-ws-"),
                              "stampede-ws-%s.json" % phase)
        with open(config, "w") as f:
            json.dump({"listeners": [{"name": "ws", "listen": "127.0.0.1:%d" % ws_port,
                                      "websocket": {"path": WS_PATH}}]}, f)
        cmd += ["--config", config]
    data_dir = None
    if stampede_has_data_dir() and not _names_data_dir(opts):
        data_dir = tempfile.mkdtemp(prefix="stampede-data-%s-" % phase)
        cmd += ["--data-dir", data_dir]
    log = os.path.join(opts.log_dir or "/tmp", "stampede-%s.log" % phase)
    started = time.monotonic()
    procs = [_spawn_stampede(cmd, log, "wb")]
    for p in (port, ws_port) if ws_port else (port,):
        if not wait_for_port(p, opts.start_timeout, lambda: procs[0].poll() is None):
            _terminate(procs[0])
            raise BrokerError("stampede did not accept on 127.0.0.1:%d within %.0f s (exit %s); "
                              "see %s" % (p, opts.start_timeout, procs[0].returncode, log))

    def restart(how):
        down = _end_stampede(procs[0], how)
        spawn = time.monotonic_ns()
        procs[0] = _spawn_stampede(cmd, log, "ab")
        ok = wait_for_port(port, opts.start_timeout, lambda: procs[0].poll() is None)
        return {"how": how, "down_ns": down, "spawn_ns": spawn,
                "ready_ns": time.monotonic_ns() if ok else None, "pid": procs[0].pid,
                "error": None if ok else "stampede did not accept again (see %s)" % log}

    def stop():
        _terminate(procs[0])
        if data_dir:
            shutil.rmtree(data_dir, ignore_errors=True)

    return Running(name="stampede", kind="stampede", host="127.0.0.1", port=port,
                   pid=procs[0].pid, version=stampede_version(), login=opts.login,
                   passcode=opts.passcode, vhost=opts.vhost, admin=admin, command=cmd,
                   startup_seconds=time.monotonic() - started,
                   durability=PERSISTENT_DURABILITY["stampede"] if durable
                   else DURABILITY["stampede"], log=log, data_dir=data_dir,
                   transport=opts.transport, ws_port=ws_port, _stop=stop, _restart=restart)


def _names_data_dir(opts):
    """Whether the user's --broker-arg or --broker-config chose the data
    directory (then the harness leaves it alone)."""
    if any(a == "--data-dir" or a.startswith("--data-dir=") for a in (opts.args or [])):
        return True
    if opts.config:
        try:
            with open(opts.config) as f:
                return "data_dir" in json.load(f)
        except (OSError, ValueError):
            return False  # the broker will say what is wrong with it
    return False


def _spawn_stampede(cmd, log, mode):
    with open(log, mode) as logf:
        return subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def _end_stampede(proc, how):
    """SIGKILL or the clean stop; returns when the process is gone (ns)."""
    if how == "kill":
        proc.kill()
        proc.wait()
    else:
        _terminate(proc, grace=60.0)
    return time.monotonic_ns()


def _terminate(proc, grace=15.0):
    """SIGTERM (the clean stop), then SIGKILL after `grace` seconds."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(grace)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def peers(*args, timeout=180):
    return subprocess.run([PEERS, *args], capture_output=True, text=True, timeout=timeout)


def _start_peer(name, opts):
    # A broker left over from an interrupted run would hold the port.
    peers("stop", name)
    started = time.monotonic()
    extra = []
    if opts.transport == "ws":
        if name != "rabbitmq":
            raise BrokerError("--transport ws: of the peers only rabbitmq (web-stomp) is set up")
        extra = ["--web-stomp-port", str(free_port())]
    out = peers("start", name, "--timeout", str(int(opts.start_timeout)), *extra)
    if out.returncode != 0:
        raise BrokerError("scripts/peers.sh start %s failed:\n%s" % (name, out.stderr.strip()))
    info = _key_values(out.stdout)
    host, port = info["stomp"].rsplit(":", 1)
    login, passcode = DEFAULT_LOGIN.get(name, (None, None))

    def restart(how):
        # peers.sh kill/restart keep the private folder (its data) across.
        if how == "kill":
            peers("kill", name)
        else:
            peers("halt", name)
        down = time.monotonic_ns()
        spawn = time.monotonic_ns()
        again = peers("restart", name, "--timeout", str(int(opts.start_timeout)))
        if again.returncode != 0:
            return {"how": how, "down_ns": down, "spawn_ns": spawn, "ready_ns": None,
                    "pid": None, "error": again.stderr.strip()[-500:]}
        kv = _key_values(again.stdout)
        return {"how": how, "down_ns": down, "spawn_ns": spawn, "ready_ns": time.monotonic_ns(),
                "pid": int(kv["pid"]), "error": None}

    return Running(name=name, kind="peer", host=host, port=int(port), pid=int(info["pid"]),
                   version="%s %s" % (name, info.get("version", "?")),
                   login=opts.login or login, passcode=opts.passcode or passcode,
                   vhost=opts.vhost, admin=None, command=[PEERS, "start", name],
                   startup_seconds=time.monotonic() - started,
                   durability=DURABILITY[name], log=info.get("dir"), data_dir=info.get("dir"),
                   transport=opts.transport,
                   ws_port=int(info["web_stomp"].rsplit(":", 1)[1]) if extra else None,
                   _stop=lambda: peers("stop", name), _restart=restart)


def _key_values(text):
    return dict(line.split("=", 1) for line in text.splitlines() if "=" in line)


def _external(spec, opts):
    host, sep, port = spec.rpartition(":")
    if not sep or not port.isdigit():
        raise BrokerError("--broker takes stampede, rabbitmq, activemq or HOST:PORT, not %r"
                          % spec)
    if host not in ("127.0.0.1", "localhost"):
        raise BrokerError("only 127.0.0.1 is allowed here, not %r" % host)
    # With --transport ws, PORT is the broker's WebSocket port.
    return Running(name=spec, kind="external", host="127.0.0.1", port=int(port), pid=opts.pid,
                   transport=opts.transport,
                   ws_port=int(port) if opts.transport == "ws" else None, version=None, login=opts.login, passcode=opts.passcode, vhost=opts.vhost,
                   admin=opts.admin if opts.admin != "auto" else None,
                   durability="unknown (a broker this harness did not start)")
