"""CURVE keys and the ZAP allow-list: who may read a bed's alerts.

ZeroMQ's CURVE encrypts and authenticates each connection (CurveZMQ, RFC 26); a ZAP handler (RFC 27)
decides which client keys are let in. A bed has its own server key pair; every client (a console, the
ward station) has its own pair, and its public key in the bed's allow-list folder lets it connect.

Key files are ZeroMQ's certificate format (what `zmq.auth.load_certificate` reads): NAME.key holds the
public key, NAME.key_secret the public and secret keys and is written readable by its owner only.
Folder layout under keys.dir:

    NAME.key, NAME.key_secret    key pairs made here (`respmon keys create NAME`)
    clients/OTHER.key            public keys of the clients allowed to connect to this box's beds
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

import zmq
from zmq.utils import z85

from respmon.config import check_bed
from respmon.errors import UsageError
from respmon.files import FileTooLarge, NotRegularFile, read_regular_file

MAX_KEY_FILE_BYTES = 4096  # a certificate is about 300 bytes
MAX_CLIENT_KEYS = 10_000
CLIENTS_FOLDER = "clients"
ZAP_DOMAIN = "respmon"
_Z85_KEY = re.compile(rb"[0-9a-zA-Z.:+=^!/*?&<>()\[\]{}@%$#-]{40}")


class KeyFileError(UsageError):
    """A key file or folder that cannot be used; the message is one line naming it."""


@dataclass(frozen=True)
class KeyPair:
    public: bytes  # Z85, 40 characters
    secret: bytes


@dataclass(frozen=True)
class ServerSecurity:
    """What a bed's sockets need: its key pair and the folder of allowed client keys."""
    keys: KeyPair
    clients_dir: Path


@dataclass(frozen=True)
class ClientSecurity:
    """What a console's sockets need: its own key pair and the bed's public key."""
    keys: KeyPair
    server_public: bytes


def check_key_name(name: str) -> str:
    try:
        check_bed(name)
    except ValueError as exc:
        raise KeyFileError(f"key name {exc}") from None
    return name


def _read_key_file(path: Path) -> tuple[bytes, int]:
    """The file's bytes and mode. Opened without blocking and checked on the open file: a fifo or
    a device put in its place is refused, not waited on (a reload thread stuck there would ignore
    every later SIGHUP)."""
    try:
        return read_regular_file(path, MAX_KEY_FILE_BYTES)
    except NotRegularFile:
        raise KeyFileError(f"{path}: not a regular file") from None
    except FileTooLarge as exc:
        raise KeyFileError(f"{path}: {exc.size} bytes is not a key file (at most {MAX_KEY_FILE_BYTES})") from None
    except OSError as err:
        raise KeyFileError(f"{path}: cannot read the key file ({err.strerror or err}); "
                           "make one with `respmon keys create`") from None


def _field(text: bytes, name: bytes, path: Path) -> bytes | None:
    """The value of `name = "..."` in a certificate, checked to be a Z85 CURVE key."""
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(b"#") or not line.startswith(name):
            continue
        value = line.split(b"=", 1)[1].strip(b" \t'\"") if b"=" in line else b""
        if not _Z85_KEY.fullmatch(value) or not _decodes(value):
            raise KeyFileError(f"{path}: its {name.decode()} is not a 40-character Z85 CURVE key")
        return value
    return None


def _decodes(value: bytes) -> bool:
    try:  # 40 characters of the alphabet can still be no key: each 5 must stay under 2**32
        z85.decode(value)
        return True
    except (ValueError, struct.error):
        return False


def load_public_key(path: Path) -> bytes:
    public = _field(_read_key_file(path)[0], b"public-key", path)
    if public is None:
        raise KeyFileError(f"{path}: no public-key in it (not a ZeroMQ certificate)")
    return public


def load_key_pair(path: Path) -> KeyPair:
    """A NAME.key_secret file: refused when others may read it (whoever reads it can pose as it)."""
    text, mode = _read_key_file(path)
    public, secret = _field(text, b"public-key", path), _field(text, b"secret-key", path)
    if public is None or secret is None:
        raise KeyFileError(f"{path}: a secret key file needs both public-key and secret-key (the .key_secret file)")
    if mode & 0o077:
        raise KeyFileError(f"{path}: readable or writable by others than its owner; chmod 600 it")
    if zmq.curve_public(secret) != public:
        raise KeyFileError(f"{path}: its public-key is not the secret-key's")
    return KeyPair(public, secret)


def _certificate(public: bytes, secret: bytes | None) -> bytes:
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    kind = "Secret" if secret else "Public"
    lines = [f"#   ****  Generated on {now} by respmon keys  ****",
             f"#   ZeroMQ CURVE {kind} Certificate",
             "#   Keep it readable by its owner only." if secret else "#   Give it to whoever must know this key.",
             "", "metadata", "curve", f'    public-key = "{public.decode()}"']
    if secret:
        lines.append(f'    secret-key = "{secret.decode()}"')
    return ("\n".join(lines) + "\n").encode()


def _write_new(path: Path, content: bytes, mode: int) -> None:
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise KeyFileError(f"{path} exists: keys are never overwritten (remove it first to replace it)") from None
    except OSError as err:
        raise KeyFileError(f"cannot write {path}: {err.strerror or err}") from None
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())


def create_key_pair(directory: Path, name: str, authorize: bool = False) -> tuple[Path, Path]:
    """Write DIR/NAME.key and DIR/NAME.key_secret (owner-only); with authorize, also the public key
    into DIR/clients/ (a console on this box that may connect to its beds). Never overwrites."""
    check_key_name(name)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if authorize:
            (directory / CLIENTS_FOLDER).mkdir(mode=0o700, exist_ok=True)
    except OSError as err:
        raise KeyFileError(f"cannot make the key folder {directory}: {err.strerror or err}") from None
    public_path, secret_path = directory / f"{name}.key", directory / f"{name}.key_secret"
    for path in (public_path, secret_path) + ((directory / CLIENTS_FOLDER / f"{name}.key",) if authorize else ()):
        if path.exists():
            raise KeyFileError(f"{path} exists: keys are never overwritten (remove it first to replace it)")
    public, secret = zmq.curve_keypair()
    _write_new(secret_path, _certificate(public, secret), 0o600)
    _write_new(public_path, _certificate(public, None), 0o644)
    if authorize:
        _write_new(directory / CLIENTS_FOLDER / f"{name}.key", _certificate(public, None), 0o644)
    return public_path, secret_path


def load_client_keys(clients_dir: Path) -> frozenset[bytes]:
    """The public keys of every *.key file in the allow-list folder; one bad file refuses them all
    (a half-read allow-list would lock out whoever was in the file it skipped without a word)."""
    if not clients_dir.is_dir():
        raise KeyFileError(f"{clients_dir}: no such folder of allowed client keys "
                           "(make one with `respmon keys create NAME --authorize`, or copy clients' NAME.key there)")
    if clients_dir.stat().st_mode & 0o022:  # whoever can write there can let themselves in
        raise KeyFileError(f"{clients_dir}: writable by others than its owner; chmod go-w it")
    try:
        paths = sorted(p for p in clients_dir.iterdir() if p.suffix == ".key")
    except OSError as err:
        raise KeyFileError(f"{clients_dir}: cannot list it ({err.strerror or err})") from None
    if len(paths) > MAX_CLIENT_KEYS:
        raise KeyFileError(f"{clients_dir}: {len(paths)} keys, more than {MAX_CLIENT_KEYS}")
    return frozenset(load_public_key(path) for path in paths)


def list_keys(directory: Path) -> list[dict]:
    """Every key in the folder and its allow-list: name, public key, where, and any problem."""
    rows = []
    for where, folder in (("pair", directory), ("allowed client", directory / CLIENTS_FOLDER)):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.key")):
            row = {"name": path.stem, "kind": where, "public_key": None, "file": str(path), "problem": None}
            try:
                row["public_key"] = load_public_key(path).decode()
                secret = path.with_name(path.name + "_secret")
                if where == "pair":
                    if not secret.exists():
                        row["kind"] = "public key only"
                    elif load_key_pair(secret).public.decode() != row["public_key"]:
                        row["problem"] = f"{secret.name} holds another key pair"
            except KeyFileError as exc:
                row["problem"] = str(exc)
            rows.append(row)
    return rows


class AllowList:
    """A ZAP handler on the context's inproc://zeromq.zap.01 that lets in the client keys in a folder.

    Sockets made secure by `secure_server` also set ZAP_ENFORCE_DOMAIN: without a ZAP handler
    libzmq would otherwise accept any client that knows the server's public key, which is no secret.
    """

    def __init__(self, context: zmq.Context, clients_dir: Path):
        from zmq.auth.thread import ThreadAuthenticator

        self.clients_dir = clients_dir
        self._lock = threading.Lock()
        self._keys = load_client_keys(clients_dir)
        self._authenticator = ThreadAuthenticator(context)
        self._authenticator.start()
        self._authenticator.configure_curve_callback(ZAP_DOMAIN, credentials_provider=self)

    def callback(self, domain: str, client_key: bytes) -> bool:  # called by the ZAP thread
        with self._lock:
            return client_key in self._keys

    @property
    def count(self) -> int:
        return len(self._keys)

    def reload(self) -> int:
        """Read the folder again (a SIGHUP): new connections are judged by it; connections already
        made stay until they close. A folder that cannot be read keeps the old list (KeyFileError)."""
        keys = load_client_keys(self.clients_dir)
        with self._lock:
            self._keys = keys
        return len(keys)

    def stop(self) -> None:
        self._authenticator.stop()


def secure_server(socket: zmq.Socket, security: ServerSecurity | None) -> None:
    """Before bind: CURVE server with the bed's keys, every client judged by the ZAP handler."""
    if security is None:
        return
    socket.setsockopt(zmq.ZAP_ENFORCE_DOMAIN, 1)
    socket.curve_secretkey = security.keys.secret
    socket.curve_publickey = security.keys.public
    socket.curve_server = True
    socket.zap_domain = ZAP_DOMAIN.encode()


def secure_client(socket: zmq.Socket, security: ClientSecurity | None) -> None:
    """Before connect: CURVE client with its own keys and the server's public key."""
    if security is None:
        return
    socket.curve_secretkey = security.keys.secret
    socket.curve_publickey = security.keys.public
    socket.curve_serverkey = security.server_public


def is_local(endpoint: str) -> bool:
    """An endpoint only this box can reach: ipc://, or tcp:// on a loopback address."""
    if endpoint.startswith("ipc://"):
        return True
    if not endpoint.startswith("tcp://"):
        return False
    host = endpoint[len("tcp://"):].rsplit(":", 1)[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host[1:-1] if host.startswith("[") else host).is_loopback
    except ValueError:  # a name other than localhost, or "*": it may reach further than this box
        return False


def keys_folder(configured: str, config_path: Path | None) -> Path:
    """keys.dir: a relative folder is read from the config file's folder (from the working folder
    when there is no config file), so /etc/respmon/BED.yaml finds /etc/respmon/keys."""
    folder = Path(configured).expanduser()
    if not folder.is_absolute() and config_path is not None:
        folder = Path(config_path).parent / folder
    return folder


def _plain_allowed(endpoints: list[str]) -> None:
    for endpoint in endpoints:
        if not is_local(endpoint):
            raise UsageError(f"publish.insecure: plain text is allowed on loopback and ipc:// only, not on "
                             f"{endpoint}; use CURVE keys there (respmon keys create, README)")


def server_security(config, config_path: Path | None, endpoints: list[str]) -> ServerSecurity | None:
    """The bed's keys, DIR/BED.key_secret, and its allow-list, DIR/clients/; None (plain text)
    only with publish.insecure and local endpoints. KeyFileError/UsageError: one line."""
    if config.publish.insecure:
        _plain_allowed(endpoints)
        return None
    folder = keys_folder(config.keys.dir, config_path)
    keys = load_key_pair(folder / f"{config.bed.name}.key_secret")
    load_client_keys(folder / CLIENTS_FOLDER)  # refused now, with one line, rather than in the ZAP thread
    return ServerSecurity(keys, folder / CLIENTS_FOLDER)


def client_security(config, config_path: Path | None, bed: str, endpoints: list[str]) -> ClientSecurity | None:
    """A console's keys, DIR/CLIENT.key_secret, and the bed's public key, DIR/BED.key; None
    (plain text) only with publish.insecure and local endpoints."""
    if config.publish.insecure:
        _plain_allowed(endpoints)
        return None
    folder = keys_folder(config.keys.dir, config_path)
    return ClientSecurity(load_key_pair(folder / f"{config.keys.client}.key_secret"),
                          load_public_key(folder / f"{bed}.key"))
