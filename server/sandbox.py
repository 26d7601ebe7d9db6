"""Confinement of the processes that evaluate queries and updates: no network, no files but the store's.

A worker process (:mod:`server.workers`) calls :func:`confine` first thing, while it is still
single-threaded and before it opens the store:

- **Network**: it moves into a new network namespace, which has no interface but a loopback that is
  down, so no connection can be made to anything — not even to 127.0.0.1 — and no name resolves.
  As root that is ``unshare(CLONE_NEWNET)``; otherwise ``unshare(CLONE_NEWUSER | CLONE_NEWNET)``
  (an unprivileged user namespace, where the kernel allows them). Python 3.11 has no
  ``os.unshare`` (it came in 3.12), so libc's ``unshare`` is called through :mod:`ctypes`.
  Where Landlock handles TCP (ABI 4, Linux 6.7+), connecting and binding are denied as well, so
  either mechanism alone is enough for TCP.
- **Files**: a Landlock ruleset (Linux 5.13+, through its three system calls, again by
  :mod:`ctypes`) lets the process read only the store (and write it, for the update writer), the
  interpreter and the installed packages it imports, the project's own packages, the directory of
  the source documents (entity pages quote their lines) and ``/dev/null``/``/dev/urandom``.
  Anything else, ``/etc/hostname`` or ``file:///etc/passwd`` for a ``LOAD``, fails with EACCES.

When the kernel refuses a step (no user namespaces, no Landlock), the worker goes on unconfined in
that respect: it logs a warning naming what is missing, and ``/health`` shows it under
``sandbox`` (:class:`ProbeJob` asks a live worker). ``BUDGETKG_SERVICE_ALLOWLIST`` needs the
network, so with an allow-list the network step is skipped (and reported) while files stay confined.

>>> Confinement().summary()["network"]
'open'
"""

from __future__ import annotations

import ctypes
import errno
import logging
import os
import socket
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("budgetkg.server")

CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
PR_SET_NO_NEW_PRIVS = 38

# Landlock (include/uapi/linux/landlock.h); the system call numbers are the same on x86-64 and arm64.
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_REMOVE_DIR, _REMOVE_FILE, _MAKE_CHAR, _MAKE_DIR, _MAKE_REG = 1 << 4, 1 << 5, 1 << 6, 1 << 7, 1 << 8
_MAKE_SOCK, _MAKE_FIFO, _MAKE_BLOCK, _MAKE_SYM = 1 << 9, 1 << 10, 1 << 11, 1 << 12
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV
_READ = _EXECUTE | _READ_FILE | _READ_DIR
_WRITE = (_WRITE_FILE | _REMOVE_DIR | _REMOVE_FILE | _MAKE_DIR | _MAKE_REG | _MAKE_SYM | _REFER | _TRUNCATE)


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64)]


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


@dataclass
class Confinement:
    """What :func:`confine` achieved in this process."""

    #: ``"namespace"`` (no interface), ``"landlock-tcp"`` (TCP denied only), or ``"open"``.
    network: str = "open"
    #: ``"landlock"`` (store and interpreter only) or ``"open"``.
    files: str = "open"
    #: Landlock ABI version of the kernel (0: none).
    landlock_abi: int = 0
    #: What the kernel refused, in words (each was logged as a warning).
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, object]:
        return {"network": self.network, "files": self.files, "landlock_abi": self.landlock_abi,
                "warnings": list(self.warnings)}


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def _isolate_network(libc: ctypes.CDLL) -> str | None:
    """Enter a new network namespace; an error message, or None when done."""
    uid, gid = os.geteuid(), os.getegid()
    flags = CLONE_NEWNET if uid == 0 else CLONE_NEWUSER | CLONE_NEWNET
    if libc.unshare(flags) != 0:
        return f"unshare({'CLONE_NEWNET' if uid == 0 else 'CLONE_NEWUSER|CLONE_NEWNET'}) failed: " \
               f"{os.strerror(ctypes.get_errno())}"
    if uid != 0:  # keep our own ids inside the user namespace (files on disk stay ours)
        try:
            Path("/proc/self/setgroups").write_text("deny")
            Path("/proc/self/uid_map").write_text(f"{uid} {uid} 1")
            Path("/proc/self/gid_map").write_text(f"{gid} {gid} 1")
        except OSError as exc:
            return f"mapping ids in the new user namespace failed: {exc}"
    return None


def landlock_abi(libc: ctypes.CDLL | None = None) -> int:
    """The kernel's Landlock ABI version (0: Landlock is not available)."""
    libc = libc or _libc()
    libc.syscall.restype = ctypes.c_long
    version = libc.syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(_CREATE_RULESET_VERSION))
    return max(0, int(version))


def _landlock(libc: ctypes.CDLL, abi: int, read: Iterable[Path], write: Iterable[Path], deny_tcp: bool) -> str | None:
    """Restrict this thread (and every thread and process it starts) to ``read`` and ``write``."""
    fs = _READ | _WRITE | _MAKE_CHAR | _MAKE_SOCK | _MAKE_FIFO | _MAKE_BLOCK | _REMOVE_DIR | _REMOVE_FILE
    if abi < 2:
        fs &= ~_REFER
    if abi < 3:
        fs &= ~_TRUNCATE
    if abi >= 5:
        fs |= _IOCTL_DEV
    attr = _RulesetAttr(fs, _NET_BIND_TCP | _NET_CONNECT_TCP if deny_tcp and abi >= 4 else 0)
    size = ctypes.sizeof(_RulesetAttr) if abi >= 4 else 8
    ruleset = libc.syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if ruleset < 0:
        return f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
    try:
        rules = [(p, _READ) for p in read] + [(p, _READ | _WRITE) for p in write]
        for path, access in rules:
            try:
                fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue  # a path that does not exist needs no rule
            try:
                if not os.path.isdir(path):
                    access &= _FILE_RIGHTS
                rule = _PathBeneathAttr(access & fs, fd)
                if libc.syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH),
                                ctypes.byref(rule), ctypes.c_uint32(0)) != 0:
                    return f"landlock_add_rule({path}) failed: {os.strerror(ctypes.get_errno())}"
            finally:
                os.close(fd)
        if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
            return f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}"
        if libc.syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)) != 0:
            return f"landlock_restrict_self failed: {os.strerror(ctypes.get_errno())}"
    finally:
        os.close(ruleset)
    return None


def interpreter_paths() -> list[Path]:
    """What the interpreter reads after start-up: its library, installed packages, shared libraries, ours."""
    here = Path(__file__).resolve().parent
    paths = {Path(sys.prefix), Path(sys.base_prefix), Path(sys.exec_prefix), here, here.parent / "kg",
             here.parent / "budgetkg", Path("/usr/lib"), Path("/usr/lib64"), Path("/lib"), Path("/lib64"),
             Path("/usr/local/lib"), Path("/dev/null"), Path("/dev/urandom")}
    root = here.parent
    for entry in sys.path:  # installed packages; the project root itself only through its packages above
        p = Path(entry or ".").resolve()
        if p.is_dir() and p != root and not str(root).startswith(str(p) + os.sep):
            paths.add(p)
    return sorted(paths)


def confine(store: str | Path, *, writable: bool, network: bool = False,
            read: Iterable[str | Path] = (), why_network: str = "BUDGETKG_SERVICE_ALLOWLIST is set",
            write: Iterable[str | Path] = ()) -> Confinement:
    """Confine this process (call it while single-threaded): see the module docstring.

    ``network=True`` keeps the network (a SERVICE allow-list is configured, or the store is a remote
    endpoint: ``why_network`` says which); ``read`` adds directories the process may read (the
    source documents).
    """
    result = Confinement()
    if not sys.platform.startswith("linux"):
        result.warnings.append(f"no sandbox on {sys.platform}: the worker can reach the network and every file")
        _warn(result)
        return result
    libc = _libc()
    if network:
        result.warnings.append(f"network left open: {why_network}")
    else:
        problem = _isolate_network(libc)
        if problem is None:
            result.network = "namespace"
        else:
            result.warnings.append(problem)
    result.landlock_abi = landlock_abi(libc)
    if result.landlock_abi == 0:
        result.warnings.append("Landlock is not available (Linux 5.13+ with lsm=landlock): files are not confined")
    else:
        store_path = Path(store).resolve()
        if writable:
            store_path.mkdir(parents=True, exist_ok=True)
        reads = [*interpreter_paths(), *(Path(p).resolve() for p in read)]
        writes = [Path(p).resolve() for p in write]  # e.g. the search index, whose readers take a lock file
        problem = _landlock(libc, result.landlock_abi, reads + ([] if writable else [store_path]),
                            ([store_path] if writable else []) + writes, deny_tcp=not network)
        if problem is None:
            result.files = "landlock"
            if result.network == "open" and not network and result.landlock_abi >= 4:
                result.network = "landlock-tcp"
        else:
            result.warnings.append(problem)
    _warn(result)
    return result


def _warn(result: Confinement) -> None:
    for w in result.warnings:
        log.warning("query worker %d sandbox: %s", os.getpid(), w)
        print(f"budgetkg: warning: query worker {os.getpid()} sandbox: {w}", file=sys.stderr, flush=True)


def attempt_connect(host: str, port: int, timeout: float = 1.0) -> str:
    """Try a TCP connection; ``"connected"`` or the error's name (ENETUNREACH, EACCES, …)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "connected"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


def attempt_read(path: str) -> str:
    """Try to read a file; ``"read"`` or the error's name."""
    try:
        with open(path, "rb") as fh:
            fh.read(1)
        return "read"
    except OSError as exc:
        return errno.errorcode.get(exc.errno or 0, type(exc).__name__)


@dataclass(frozen=True)
class ProbeJob:
    """Ask a worker what its sandbox holds back: its :class:`Confinement`, and a live connect and read attempt.

    Without a listener, port 9 (discard) answers ECONNREFUSED when the network is open, ENETUNREACH
    in an empty namespace, EACCES under Landlock.
    """

    host: str = "127.0.0.1"
    port: int = 9
    path: str = "/etc/hostname"

    def run(self, ctx: object) -> dict[str, object]:
        confinement = getattr(ctx, "sandbox", None)
        out: dict[str, object] = confinement.summary() if isinstance(confinement, Confinement) else {
            "network": "open", "files": "open", "warnings": ["queries run in the server process (in-memory store)"]}
        out["connect"] = attempt_connect(self.host, self.port)
        out["read"] = attempt_read(self.path)
        out["confined"] = out["connect"] != "connected" and out["connect"] != "ECONNREFUSED" \
            and out["read"] != "read"
        return out
