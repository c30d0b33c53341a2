"""CURVE keys and the allow-list: `respmon keys`, the files' checks, the insecure switch, and who
gets through a bed's sockets (real CURVE sockets, real ZAP handler)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import zmq
import zmq.auth as zmq_auth

from respmon.config import parse_config
from respmon.errors import UsageError
from respmon.publish.security import (ClientSecurity, KeyFileError, ServerSecurity, client_security,
                                      create_key_pair, is_local, keys_folder, list_keys, load_client_keys,
                                      load_key_pair, load_public_key, server_security)
from respmon.publish.zmq_pub import Publisher, receive, request_snapshot, subscriber
from tests.conftest import run_cli
from tests.test_publish import endpoint


def _pair(folder: Path, name: str, authorize: bool = False):
    create_key_pair(folder, name, authorize=authorize)
    return load_key_pair(folder / f"{name}.key_secret")


def test_create_writes_an_owner_only_secret_and_never_overwrites(tmp_path):
    public_path, secret_path = create_key_pair(tmp_path, "bed-3", authorize=True)
    assert secret_path.stat().st_mode & 0o777 == 0o600
    pair = load_key_pair(secret_path)
    assert load_public_key(public_path) == pair.public == zmq.curve_public(pair.secret)
    assert load_client_keys(tmp_path / "clients") == {pair.public}
    # the format is ZeroMQ's own certificate: zmq.auth reads it the same
    assert zmq_auth.load_certificate(str(secret_path)) == (pair.public, pair.secret)
    before = secret_path.read_bytes()
    with pytest.raises(KeyFileError, match="never overwritten"):
        create_key_pair(tmp_path, "bed-3")
    assert secret_path.read_bytes() == before


@pytest.mark.parametrize("damage, fragment", [
    (lambda p: p.chmod(0o640), "chmod 600"),
    (lambda p: p.write_text('public-key = "short"\n'), "not a 40-character Z85"),
    (lambda p: p.write_text(p.read_text().replace("secret-key", "# secret-key")), "needs both"),
    (lambda p: p.write_bytes(b"x" * 5000), "is not a key file"),
    (lambda p: (p.unlink(), os.mkfifo(p)), "not a regular file"),
    (lambda p: p.unlink(), "make one with `respmon keys create`"),
])
def test_an_unusable_secret_key_is_one_line_naming_it(tmp_path, damage, fragment):
    _, secret_path = create_key_pair(tmp_path, "bed-3")
    damage(secret_path)
    with pytest.raises(KeyFileError) as caught:
        load_key_pair(secret_path)
    assert fragment in str(caught.value) and str(secret_path) in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_key_of_the_right_alphabet_that_is_no_key_is_one_line_not_a_traceback(tmp_path):
    # '#' x 40 passes the alphabet, but each 5 characters must stay under 2**32: libzmq refused it
    # with ZMQError deep in setsockopt
    public_path, secret_path = create_key_pair(tmp_path, "bed-3")
    public = load_public_key(public_path).decode()
    public_path.write_text(public_path.read_text().replace(public, "#" * 40))
    with pytest.raises(KeyFileError, match="not a 40-character Z85"):
        load_public_key(public_path)


def test_a_clients_folder_others_can_write_to_is_refused(tmp_path):
    create_key_pair(tmp_path, "nurse", authorize=True)
    (tmp_path / "clients").chmod(0o777)
    with pytest.raises(KeyFileError, match="writable by others"):
        load_client_keys(tmp_path / "clients")


def test_a_pair_whose_halves_do_not_match_is_refused(tmp_path):
    a, b = _pair(tmp_path, "a"), _pair(tmp_path, "b")
    path = tmp_path / "a.key_secret"
    path.write_text(path.read_text().replace(a.secret.decode(), b.secret.decode()))
    with pytest.raises(KeyFileError, match="not the secret-key's"):
        load_key_pair(path)


def test_one_bad_allowed_key_refuses_the_whole_list(tmp_path):
    create_key_pair(tmp_path, "nurse", authorize=True)
    (tmp_path / "clients" / "junk.key").write_text("hello\n")
    with pytest.raises(KeyFileError, match="junk.key: no public-key"):
        load_client_keys(tmp_path / "clients")
    with pytest.raises(KeyFileError, match="no such folder"):
        load_client_keys(tmp_path / "nowhere")


@pytest.mark.parametrize("endpoint_text, local", [
    ("tcp://127.0.0.1:5556", True), ("tcp://127.1.2.3:1", True), ("tcp://localhost:5556", True),
    ("tcp://[::1]:5556", True), ("ipc:///run/respmon-bed-1/pub", True), ("tcp://0.0.0.0:5556", False),
    ("tcp://10.0.0.7:5556", False), ("tcp://127.0.0.1.evil.example:5556", False), ("tcp://*:5556", False),
])
def test_plain_text_only_on_loopback_or_ipc(tmp_path, endpoint_text, local):
    assert is_local(endpoint_text) == local
    config = parse_config("publish:\n  insecure: true\n")
    if local:
        assert server_security(config, None, [endpoint_text]) is None
        assert client_security(config, None, "bed-1", [endpoint_text]) is None
    else:
        with pytest.raises(UsageError, match="publish.insecure: plain text is allowed on loopback"):
            server_security(config, None, [endpoint_text])


def test_keys_are_found_beside_the_config_file(tmp_path):
    keys = tmp_path / "etc" / "keys"
    create_key_pair(keys, "bed-4")
    create_key_pair(keys, "station", authorize=True)
    config_path = tmp_path / "etc" / "bed-4.yaml"
    config_path.write_text('bed:\n  name: "bed-4"\nkeys:\n  client: "station"\n')
    config = parse_config(config_path.read_text())
    assert keys_folder("keys", config_path) == keys and keys_folder("/k", config_path) == Path("/k")
    server = server_security(config, config_path, ["tcp://0.0.0.0:1"])
    assert server.keys == load_key_pair(keys / "bed-4.key_secret") and server.clients_dir == keys / "clients"
    client = client_security(config, config_path, "bed-4", ["tcp://10.1.1.1:1"])
    assert client.server_public == server.keys.public and client.keys == load_key_pair(keys / "station.key_secret")
    with pytest.raises(KeyFileError, match="bed-5.key"):
        client_security(config, config_path, "bed-5", ["tcp://10.1.1.1:1"])


def _gets_heartbeat(pub: Publisher, security: ClientSecurity | None, wait_s: float = 3.0) -> bool:
    sub = subscriber(pub.endpoint, ["heartbeat/"], security=security)
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            pub.publish("heartbeat", {"state": "breathing"})
            if receive(sub, 100) is not None:
                return True
        return False
    finally:
        sub.close(linger=0)


@pytest.fixture
def curve_bed(tmp_path):
    server = _pair(tmp_path, "bed-1")
    create_key_pair(tmp_path, "nurse", authorize=True)
    pub = Publisher(endpoint(), endpoint(), "bed-1", security=ServerSecurity(server, tmp_path / "clients"))
    yield pub, tmp_path, server
    pub.close()


def test_the_allow_list_is_read_again_on_reload(curve_bed):
    pub, folder, server = curve_bed
    nurse = ClientSecurity(load_key_pair(folder / "nurse.key_secret"), server.public)
    late = ClientSecurity(_pair(folder, "late"), server.public)
    assert _gets_heartbeat(pub, nurse)
    assert not _gets_heartbeat(pub, late, 1.5)
    assert request_snapshot(pub.snapshot_endpoint, 1.0, security=late) is None
    (folder / "clients" / "late.key").write_bytes((folder / "late.key").read_bytes())
    assert pub.reload_clients() == 2
    assert _gets_heartbeat(pub, late)
    assert request_snapshot(pub.snapshot_endpoint, 2.0, security=late)["bed"] == "bed-1"
    (folder / "clients" / "nurse.key").unlink()  # revoked: new connections are refused
    assert pub.reload_clients() == 1
    assert not _gets_heartbeat(pub, nurse, 1.5)
    (folder / "clients" / "bad.key").write_text("nonsense")  # an unreadable list keeps the old one
    with pytest.raises(KeyFileError):
        pub.reload_clients()
    assert _gets_heartbeat(pub, late)


def test_without_its_zap_handler_a_curve_socket_fails_closed(curve_bed):
    # libzmq lets any client in when no ZAP handler answers, unless ZAP_ENFORCE_DOMAIN is set
    pub, folder, server = curve_bed
    nurse = ClientSecurity(load_key_pair(folder / "nurse.key_secret"), server.public)
    pub.allow_list.stop()
    assert not _gets_heartbeat(pub, nurse, 1.5)


def test_respmon_keys_create_and_list(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text("keys:\n  dir: k\n")
    code, out, err = run_cli("keys", "create", "bed-2", "--config", str(config))
    assert code == 0 and (tmp_path / "k" / "bed-2.key_secret").exists(), err
    code, out, err = run_cli("keys", "create", "watch", "--authorize", "--config", str(config))
    assert code == 0 and (tmp_path / "k" / "clients" / "watch.key").exists(), err
    code, out, err = run_cli("keys", "list", "--config", str(config))
    lines = out.splitlines()
    public = load_public_key(tmp_path / "k" / "watch.key").decode()
    assert code == 0 and len(lines) == 3 and sum(public in line for line in lines) == 2
    (tmp_path / "k" / "clients" / "x.key").write_text("junk")
    code, out, _ = run_cli("keys", "list", "--dir", str(tmp_path / "k"))
    assert code == 1 and "PROBLEM" in out and "x.key" in out
    code, _, err = run_cli("keys", "create", "bed-2", "--config", str(config))
    assert code == 2 and err.count("\n") == 1 and "exists" in err
    assert [row["name"] for row in list_keys(tmp_path / "k")] == ["bed-2", "watch", "watch", "x"]


def test_run_without_keys_is_one_line_saying_how_to_make_them(tmp_path):
    config = tmp_path / "c.yaml"
    config.write_text('source:\n  kind: camera\n')
    code, _, err = run_cli("run", "--config", str(config))
    assert code == 2 and err.count("\n") == 1
    assert "bed-1.key_secret" in err and "respmon keys create" in err
    config.write_text('publish:\n  insecure: true\n  endpoint: "tcp://0.0.0.0:5556"\n')
    code, _, err = run_cli("watch", "--config", str(config))
    assert code == 2 and "plain text is allowed on loopback" in err


@pytest.mark.parametrize("client, bed_key, insecure, expected", [
    ("stranger", "bed-1", False, "key_refused"),  # a key the bed does not allow
    ("nurse", "stranger", False, "handshake_failed"),  # the wrong bed key
    (None, None, True, "handshake_failed"),  # plain text to a CURVE bed
])
def test_watch_says_why_a_curve_bed_is_silent(tmp_path, client, bed_key, insecure, expected):
    import json
    import subprocess
    import sys

    from tests.conftest import REPO

    server = _pair(tmp_path / "bed", "bed-1")
    create_key_pair(tmp_path / "bed", "nurse", authorize=True)
    create_key_pair(tmp_path / "bed", "stranger")
    pub = Publisher(endpoint(), endpoint(), "bed-1", security=ServerSecurity(server, tmp_path / "bed" / "clients"))
    console_keys = tmp_path / "console"
    console_keys.mkdir()
    if client is not None:
        (console_keys / f"{client}.key_secret").write_bytes((tmp_path / "bed" / f"{client}.key_secret").read_bytes())
        (console_keys / f"{client}.key_secret").chmod(0o600)
        source = tmp_path / "bed" / f"{bed_key}.key"
        (console_keys / "bed-1.key").write_bytes(source.read_bytes())
    config = tmp_path / "watch.yaml"
    config.write_text(f'keys:\n  dir: "{console_keys}"\n  client: "{client or "watch"}"\n'
                      f'publish:\n  insecure: {str(insecure).lower()}\n')
    try:
        watch = subprocess.run([sys.executable, "-m", "respmon.cli", "watch", "--endpoint", pub.endpoint,
                                "--snapshot-endpoint", pub.snapshot_endpoint, "--json", "--for", "4",
                                "--config", str(config)], cwd=REPO, text=True, capture_output=True, timeout=60)
    finally:
        pub.close()
    assert watch.returncode == 0, watch.stderr
    records = [json.loads(line) for line in watch.stdout.splitlines()]
    said = [r["handshake"] for r in records if r.get("event") == expected]
    assert said and len(said) == len(set(said)), records  # said, and each once, not at every retry
