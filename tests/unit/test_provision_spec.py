"""Tenant files: the accepted format, hashing, and every kind of error with its line."""

from __future__ import annotations

import hashlib

import pytest
from provision_support import ACME, ALICE_PW, BOB_PW, cluster, write

from clusterctl.errors import EXIT_BAD_INPUT
from clusterctl.provision import digest, spec
from clusterctl.provision.command import inventory_dids, tenant_rows


def context(db_dids=None):
    c = cluster()
    return spec.Context(tenant_rows(c), inventory_dids(c), lambda dids: db_dids or {})


def errors(tmp_path, text, db_dids=None):
    path = write(tmp_path, text)
    with pytest.raises(spec.SpecErrors) as err:
        spec.load_tenant_file(path, context(db_dids))
    assert err.value.exit_code == EXIT_BAD_INPUT
    return [str(i).split(":", 1)[1] for i in err.value.issues], str(err.value)


def test_full_file_is_read_and_hashed(tmp_path):
    state = spec.load_tenant_file(write(tmp_path, ACME), context())
    alice = state.users["1001"]
    assert alice.username == "1001" and alice.display_name == 'Alice <&> "A"'
    expected = hashlib.md5(f"1001:acme.example.org:{ALICE_PW}".encode()).hexdigest()
    assert alice.ha1 == expected
    assert alice.ha1b == hashlib.md5(
        f"1001@acme.example.org:acme.example.org:{ALICE_PW}".encode()).hexdigest()
    assert len(alice.ha1_sha256) == 64 and len(alice.ha1_sha512t256) == 64
    assert state.users["1002"].username == "bob"
    assert state.voicemail["1001"].pin_hash == hashlib.md5(
        b"1001:acme.example.org:4821").hexdigest()
    assert state.ring_groups["600"].members == ("1001", "1002")
    assert state.ring_groups["600"].strategy == "sequential"
    assert [(e.digits, e.dest_type, e.dest_value) for e in state.ivrs["500"].entries] == [
        ("1", "ring_group", "600"), ("2", "voicemail", "1001"), ("9", "hangup", "")]
    assert state.dids["+4930123400"].dest_type == "ivr"
    assert state.queues["800"].agents == ("1002",)
    assert state.tenant.permissions == ("internal", "national")


def test_no_clear_secret_survives_parsing(tmp_path):
    state = spec.load_tenant_file(write(tmp_path, ACME), context())
    text = repr(state)
    for secret in (ALICE_PW, BOB_PW, "4821"):
        assert secret not in text


def test_errors_are_all_reported_with_lines_and_no_secret(tmp_path):
    text = """\
    tenant: acme
    users:
      - extension: "1001"
        password: "short"
      - extension: "1001"
        password: "Another-Good-Pass-9"
      - extension: "1003"
        password: "Third-Good-Pass-17"
    ring_groups:
      - number: "600"
        name: Sales
        members: ["1001", "1099"]
    dids:
      - number: "+4940999000"
        to: extension 1003
    """
    found, message = errors(tmp_path, text)
    assert found == [
        "4: user 1001: password too weak: it is shorter than 12 characters",
        "5: user 1001: number 1001 is already user 1001 (line 3)",
        "12: ring group 600: member 1099 is not a user defined in this file",
        "14: DID +4940999000: already owned by tenant globex",
    ]
    assert "short" not in message.replace("shorter", "")
    assert "acme.yml:4:" in message


def test_unknown_tenant(tmp_path):
    found, _ = errors(tmp_path, "tenant: nope\nusers: []\n")
    assert found == ["1: tenant 'nope' is not in the inventory (known: acme, globex)"]


def test_did_owned_in_the_database_by_another_tenant(tmp_path):
    text = 'tenant: acme\nconferences: [{number: "700", name: C}]\n' \
           'dids: [{number: "+4930123400", to: conference 700}]\n'
    found, _ = errors(tmp_path, text, db_dids={"+4930123400": "globex"})
    assert found == ["3: DID +4930123400: already owned by tenant globex"]


def test_did_not_routed_by_the_edge(tmp_path):
    text = 'tenant: acme\nconferences: [{number: "700", name: C}]\n' \
           'dids: [{number: "+4930999999", to: conference 700}]\n'
    found, _ = errors(tmp_path, text)
    assert "not in tenant acme's dids in the inventory" in found[0]


@pytest.mark.parametrize(
    ("snippet", "message"),
    [
        ('users: [{extension: 1001, password: "Good-Password-77"}]',
         "2: user: 'extension' must be quoted (\"1001\")"),
        ('users: [{extension: "1001", password: "Good-Password-77", colour: red}]',
         "2: user: unknown key 'colour' (known: extension, username, name, caller_id, password,"
         " digest, enabled)"),
        ('users: [{extension: "1001"}]',
         "2: user 1001: give exactly one of 'password' or 'digest'"),
        ('users: [{extension: "1001", password: "alllowercaseletters"}]',
         "2: user 1001: password too weak: it needs three of: lower case, upper case, digits,"
         " other characters"),
        ('users: [{extension: "1001", password: "Xx-1001-abcdef"}]',
         "2: user 1001: password too weak: it contains the user name or extension"),
        ('users: [{extension: "1001", name: "a\\x01b", password: "Good-Password-77"}]',
         "2: user 1001: 'name' must be 1-64 printable characters without $, { or }"),
        ('users: [{extension: "1001", name: "${system(id)}", password: "Good-Password-77"}]',
         "2: user 1001: 'name' must be 1-64 printable characters without $, { or }"),
        ('voicemail: [{mailbox: "1001", pin: "1234"}]',
         "2: voicemail box 1001: PIN too weak: it is a run of consecutive digits"),
        ('voicemail: [{mailbox: "1001", pin: "0000"}]',
         "2: voicemail box 1001: PIN too weak: it is one repeated digit"),
        ('voicemail: [{mailbox: "1001", pin: "48a1"}]',
         "2: voicemail box 1001: PIN too weak: it must be digits only"),
        ('voicemail: [{mailbox: "1001", pin: "4821", user: "1001"}]',
         "2: voicemail box 1001: user 1001 is not defined in this file"),
        ('ivrs: [{number: "500", name: M, greeting: ../../etc/passwd, entries: {"1": hangup}}]',
         "2: IVR 500: 'greeting' must be a sound file path"),
        ('ivrs: [{number: "500", name: M, greeting: a.wav, entries: {"1": ring_group 600}}]',
         "2: IVR 500 entry 1: leads to ring_group 600, which this file does not define"),
        ('dids: [{number: "4930123400", to: extension 1001}]',
         "2: DID: 'number' must be E.164 (+ and 6-15 digits)"),
        ('conferences: [{number: "7", name: C}]', "2: conference: 'number' must be 2 to 8 digits"),
        ("users: {}", "2: users must be a list"),
    ],
)
def test_single_errors(tmp_path, snippet, message):
    found, _ = errors(tmp_path, "tenant: acme\n" + snippet + "\n")
    assert message in found


def test_same_number_for_two_features(tmp_path):
    text = """\
    tenant: acme
    conferences:
      - {number: "600", name: C}
    ring_groups:
      - {number: "600", name: R, members: []}
    """
    found, _ = errors(tmp_path, text)
    assert found == ["3: conference 600: number 600 is already ring group 600 (line 5)"]


def test_yaml_syntax_and_duplicate_keys(tmp_path):
    found, _ = errors(tmp_path, "tenant: acme\nusers: [\n")
    assert found[0].startswith("3: not valid YAML")
    found, _ = errors(tmp_path, "tenant: acme\ntenant: acme\n")
    assert found == ["2: duplicate key 'tenant'"]


def test_unreadable_file(tmp_path):
    path = tmp_path / "bin.yml"
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(spec.SpecErrors, match="cannot read: UnicodeDecodeError"):
        spec.load_tenant_file(path, context())


@pytest.mark.parametrize(
    ("pin", "ok"),
    [("4821", True), ("1234", False), ("9876", False), ("7777", False), ("123", False),
     ("12345678901", False), ("1001", False), ("5821904", True)],
)
def test_pin_rule(pin, ok):
    assert (digest.pin_problem(pin, "1001") is None) is ok


@pytest.mark.parametrize(
    ("password", "ok"),
    [("Unit-Test-Pass-01", True), ("short-A1", False), ("nouppercase-123", True),
     ("NoDigitsOrOther", False), ("With Space-Pass-1", False), ("Abc-alice-12345", False)],
)
def test_password_rule(password, ok):
    assert (digest.password_problem(password, "alice", "1001") is None) is ok


def test_yaml_error_never_quotes_the_line(tmp_path):
    found, message = errors(tmp_path, 'tenant: acme\nusers:\n  - password: "Secret-Value-99\n')
    assert "Secret-Value-99" not in message
    assert found[0].startswith("4: not valid YAML")
