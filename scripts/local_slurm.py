#!/usr/bin/env python3
"""A real one-node Slurm on 127.0.0.1: Debian's slurm-wlm and munge, daemons as child processes.

    scripts/local_slurm.py [DIR]      (make slurm-up)
    scripts/local_slurm.py --install  (make setup: the packages only, when missing)
    scripts/local_slurm.py --check    (exit status 0 when every program is installed)

The script installs slurm-wlm and munge when missing (apt-get, through sudo when not root; a
plain `make setup` installs them too), writes a munge key and a one-node slurm.conf into DIR
(default: a new temporary directory), and starts munged, slurmctld and slurmd in the
foreground as children of this process: nothing is installed as a service and nothing outside
DIR is written. The node has this machine's CPUs; proctrack/linuxproc and task/none need no
cgroups (there is no systemd in a chroot); jobcomp/filetxt keeps finished jobs for
`sacct --completion` without a slurmdbd. It prints the SLURM_CONF to export and runs until
Ctrl-C, then stops the daemons. The tests use `LocalSlurm`, which installs nothing: where
`why_unavailable(install=False)` gives a reason, they skip.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PACKAGES = ("slurm-wlm", "munge")  # slurm-wlm pulls slurmctld, slurmd and slurm-client
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("sbatch", "squeue", "sacct", "scancel", "sinfo")
NODE = "localhost"
PARTITION = "debug"


def _is_root() -> bool:
    return os.geteuid() == 0


def _has_sudo() -> bool:
    return (
        shutil.which("sudo") is not None
        and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0
    )


def _as_root(argv: list[str]) -> list[str]:
    return argv if _is_root() else ["sudo", "-n", *argv]


def missing_packages() -> list[str]:
    def installed(package):
        result = subprocess.run(
            ["dpkg-query", "-W", "-f=${Status}", package], capture_output=True, text=True
        )
        return result.stdout == "install ok installed"

    return [p for p in PACKAGES if not installed(p)]


def missing_programs() -> list[str]:
    """The daemons and client tools a local Slurm runs that are not installed."""
    return [p for p in DAEMONS + CLIENTS if _path_sbin([p])[0] == p]


def why_unavailable(install: bool = True) -> str | None:
    """Why a local Slurm cannot run here (None when it can). With `install`, missing packages
    are fine where apt-get and root (or passwordless sudo) can install them."""
    if not (_is_root() or _has_sudo()):
        return "slurmd starts jobs as their user, which needs root or passwordless sudo"
    missing = missing_programs()
    if not missing:
        return None
    if not install:
        return f"{', '.join(missing)} not installed (`make setup` installs {', '.join(PACKAGES)})"
    if not shutil.which("apt-get"):
        return f"{', '.join(missing)} not installed and there is no apt-get to install them"
    return None


def install_packages():
    """apt-get install the missing packages (update the lists first when apt does not offer
    them)."""
    missing = missing_packages()
    if not missing:
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    policy = subprocess.run(
        ["apt-cache", "policy", *missing], capture_output=True, text=True
    ).stdout
    if policy.count("Candidate: (none)") or policy.count("Candidate:") < len(missing):
        subprocess.run(
            _as_root(["apt-get", "update", "-q", "-o", "DPkg::Lock::Timeout=600"]),
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    subprocess.run(
        _as_root(
            [
                "apt-get",
                "install",
                "-y",
                "-q",
                "--no-install-recommends",
                "-o",
                "DPkg::Lock::Timeout=600",
                *missing,
            ]
        ),
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (the kernel's pick, so they do not clash with other runs)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _user_name(uid: int) -> str:
    import pwd

    return pwd.getpwuid(uid).pw_name


def slurm_conf(root: Path, user: str, slurmd_user: str, cpus: int, ports: list[int]) -> str:
    """A one-node cluster; every path in `root`."""
    return f"""\
ClusterName=caffesiam
SlurmctldHost={NODE}(127.0.0.1)
SlurmctldPort={ports[0]}
SlurmdPort={ports[1]}
SlurmUser={user}
SlurmdUser={slurmd_user}
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root}/munge/munge.socket
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/slurmctld.pid
SlurmdPidFile={root}/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root}/log/jobcomp.txt
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=none
ReturnToService=2
MinJobAge=3600
SlurmdTimeout=60
NodeName={NODE} NodeAddr=127.0.0.1 CPUs={cpus} State=UNKNOWN
PartitionName={PARTITION} Nodes={NODE} Default=YES MaxTime=INFINITE State=UP
"""


def cgroups_mounted() -> bool:
    """Whether a cgroup file system is mounted at or under /sys/fs/cgroup (not in a bare chroot)."""
    with open("/proc/self/mountinfo") as mounts:
        return any(
            fields[4].startswith("/sys/fs/cgroup")
            and fields[fields.index("-") + 1] in ("cgroup", "cgroup2")
            for fields in (line.split() for line in mounts)
        )


# slurmd 22.05 loads a cgroup plugin even when nothing here uses cgroups, and its autodetection
# fails where none is mounted; cgroup/v1's init looks for no mount.
CGROUP_CONF_WITHOUT_CGROUPS = "CgroupPlugin=cgroup/v1\nCgroupAutomount=no\n"


class LocalSlurm:
    """munged, slurmctld and slurmd for one node, children of this process, all files in `root`."""

    def __init__(self, root):
        self.root = Path(root).resolve()
        self.conf = self.root / "slurm.conf"
        self.procs = {}

    @property
    def env(self) -> dict:
        return {"SLURM_CONF": str(self.conf)}

    def start(self, timeout: float = 60):
        for sub in ("munge", "state", "spool", "log"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "munge", 0o700)
        key = self.root / "munge" / "munge.key"
        key.write_bytes(os.urandom(128))
        os.chmod(key, 0o600)
        user = _user_name(os.geteuid())
        # slurmd starts each job's steps as the submitting user: that takes root.
        self.conf.write_text(slurm_conf(self.root, user, "root", os.cpu_count(), free_ports(2)))
        if not cgroups_mounted():
            (self.root / "cgroup.conf").write_text(CGROUP_CONF_WITHOUT_CGROUPS)
        try:
            self._spawn(
                "munged",
                [
                    "munged",
                    "--foreground",
                    "--force",
                    f"--socket={self.root}/munge/munge.socket",
                    f"--key-file={key}",
                    f"--pid-file={self.root}/munge/munged.pid",
                    f"--log-file={self.root}/log/munged.log",
                    f"--seed-file={self.root}/munge/munged.seed",
                ],
            )
            self._wait_for(
                lambda: (self.root / "munge" / "munge.socket").exists(), "munged", timeout
            )
            self._spawn("slurmctld", ["slurmctld", "-D", "-i", "-f", str(self.conf)])
            self._spawn("slurmd", ["slurmd", "-D", "-N", NODE, "-f", str(self.conf)], as_root=True)
            self._wait_for(self._node_idle, "the node to come up", timeout)
        except BaseException:
            self.stop()
            raise

    def _spawn(self, name: str, argv: list[str], as_root: bool = False):
        argv = _path_sbin(argv)
        log = open(self.root / "log" / f"{name}.out", "w")
        self.procs[name] = subprocess.Popen(
            _as_root(argv) if as_root else argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(os.environ, **self.env),
        )
        log.close()

    def _node_idle(self) -> bool:
        result = subprocess.run(
            ["sinfo", "-h", "-N", "-o", "%T"],
            capture_output=True,
            text=True,
            env=dict(os.environ, **self.env),
        )
        return result.returncode == 0 and result.stdout.strip() in ("idle", "mixed", "allocated")

    def _wait_for(self, ready, what: str, timeout: float):
        deadline = time.monotonic() + timeout
        while not ready():
            dead = [name for name, p in self.procs.items() if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                why = f"{dead[0]} exited" if dead else f"timed out after {timeout:.0f} s"
                raise RuntimeError(
                    f"local Slurm: waiting for {what}: {why}; logs in {self.root / 'log'}:\n"
                    + self.log_tails()
                )
            time.sleep(0.2)

    def log_tails(self, lines: int = 15) -> str:
        out = []
        for path in sorted((self.root / "log").glob("*")):
            try:
                text = path.read_text(errors="replace")
            except PermissionError:  # slurmd's own log, written as root
                text = subprocess.run(
                    _as_root(["cat", str(path)]), capture_output=True, text=True
                ).stdout
            out.append(f"--- {path.name}\n" + "\n".join(text.splitlines()[-lines:]))
        return "\n".join(out)

    def stop(self, timeout: float = 60):
        """Cancel what is left, let each job's slurmstepd report and exit (it outlives slurmd and
        would otherwise retry for minutes), then SIGTERM the daemons in reverse start order (sudo
        passes it on to slurmd) and SIGKILL one that lingers."""
        if self.procs.get("slurmd") and self.procs["slurmd"].poll() is None:
            self._slurm(["scancel", f"--user={_user_name(os.geteuid())}"])
            self._settle(timeout)
        for name in reversed(list(self.procs)):
            proc = self.procs[name]
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.procs.clear()
        if self._steps():
            self._kill_stray_steps()
        if not _is_root():  # slurmd wrote root-owned files here; give them back for cleanup
            subprocess.run(
                _as_root(["chown", "-R", f"{os.geteuid()}:{os.getegid()}", str(self.root)]),
                capture_output=True,
            )

    def _slurm(self, argv: list[str]) -> subprocess.CompletedProcess:
        return subprocess.run(
            argv, capture_output=True, text=True, env=dict(os.environ, **self.env)
        )

    def _steps(self) -> list[Path]:
        """The sockets of running job steps (slurmstepd removes its own when it exits)."""
        return list((self.root / "spool").glob(f"{NODE}_*"))

    def _settle(self, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = self._slurm(
                ["squeue", "--noheader", "--states=all", "--format=%T"]
            ).stdout.split()
            if not self._steps() and not set(states) & {
                "PENDING",
                "CONFIGURING",
                "RUNNING",
                "COMPLETING",
            }:
                return
            time.sleep(0.2)

    def _kill_stray_steps(self):
        """Last resort: SIGKILL the slurmstepd processes that hold a file in this cluster's
        directory."""
        script = (
            'for p in /proc/[0-9]*; do [ "$(cat "$p/comm" 2>/dev/null)" = slurmstepd ] && '
            'ls -l "$p/fd" 2>/dev/null | grep -qF -- "$1" && kill -9 "${p#/proc/}"; done; true'
        )
        subprocess.run(_as_root(["sh", "-c", script, "sh", f" {self.root}/"]), capture_output=True)

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, *exc):
        self.stop()


def _path_sbin(argv: list[str]) -> list[str]:
    """Daemons live in /usr/sbin, which an ordinary user's PATH may lack."""
    found = shutil.which(argv[0]) or shutil.which(argv[0], path="/usr/sbin:/sbin")
    return [found or argv[0], *argv[1:]]


def main(args: list[str]) -> int:
    if args == ["--check"]:
        return 1 if missing_programs() else 0
    reason = why_unavailable()
    if reason:
        print(f"local_slurm: {reason}", file=sys.stderr)
        return 2
    install_packages()
    if args == ["--install"]:
        return 0
    root = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="caffesiam-slurm."))
    cluster = LocalSlurm(root)
    cluster.start()
    print(
        f"Slurm is up (one node, {os.cpu_count()} CPUs, partition {PARTITION}); in another shell:\n"
        f"  export SLURM_CONF={cluster.conf}\nCtrl-C stops it.",
        flush=True,
    )
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, signal.default_int_handler)
    try:
        while all(p.poll() is None for p in cluster.procs.values()):
            time.sleep(1)
        print(
            f"local_slurm: a daemon exited; logs in {root / 'log'}:\n{cluster.log_tails()}",
            file=sys.stderr,
        )
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
