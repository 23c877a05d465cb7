"""The configuration service on the captured FreeSWITCH 1.10.12 requests (no database)."""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET

import pymysql
import pytest
from confsvc_support import FS1, FS3, acme_repository, call, capture, captured_bodies, config
from provision_support import ACME, ALICE_PW, BOB_PW

from clusterctl.confsvc.app import ConfigService
from clusterctl.confsvc.request import BadRequest, parse_body

DOMAIN = "acme.example.org"


@pytest.fixture
def app(tmp_path):
    return ConfigService(config(), acme_repository(tmp_path))


def xml_of(body):
    root = ET.fromstring(body)
    assert root.tag == "document" and root.get("type") == "freeswitch/xml"
    return root


def is_not_found(body):
    root = xml_of(body)
    return root.find("./section[@name='result']/result").get("status") == "not found"


def actions(body):
    root = xml_of(body)
    return [(a.get("application"), a.get("data") or "")
            for a in root.iter("action")]


# --- the captures as they are: nothing of ours is asked for ----------------------------------


def test_every_capture_is_parsed_and_answered_not_found(app):
    bodies = captured_bodies()
    assert len(bodies) == 14
    for body in bodies:
        status, headers, out = call(app, body)
        assert status == 200 and headers["Content-Type"].startswith("text/xml")
        assert is_not_found(out)


def test_duplicate_section_field_of_xml_locate_is_accepted():
    request = parse_body(captured_bodies()[4])
    assert request.section == "directory" and request.get("tag_attr_val") == "example.com"


# --- directory --------------------------------------------------------------------------------


def user_of(body):
    root = xml_of(body)
    domain = root.find("./section[@name='directory']/domain")
    user = domain.find("./users/user")
    params = {p.get("name"): p.get("value") for p in user.iter("param")}
    variables = {v.get("name"): v.get("value") for v in user.iter("variable")}
    return domain.get("name"), user, params, variables


@pytest.mark.parametrize("index", [3, 7, 8, 10, 11])
def test_user_lookups_return_the_user(app, index):
    body = capture(index, domain=DOMAIN, key_value=DOMAIN, user="1001")
    status, _, out = call(app, body)
    assert status == 200
    domain, user, params, variables = user_of(out)
    assert domain == DOMAIN and user.get("id") == "1001" and user.get("cacheable") == "60000"
    assert params["vm-enabled"] == "true"
    assert params["vm-a1-hash"] == hashlib.md5(f"1001:{DOMAIN}:4821".encode()).hexdigest()
    assert params["dial-string"] == (
        "{sip_invite_domain=acme.example.org,sip_h_X-Tenant-Id=acme,sip_h_X-FS-Id=fs1}"
        "sofia/internal/1001@acme.example.org;fs_path=sip:10.9.0.10:5060")
    assert variables["effective_caller_id_name"] == 'Alice <&> "A"'
    assert variables["tenant_id"] == "acme"
    assert variables["toll_allow"] == "internal,national"
    assert b"&lt;&amp;&gt;" in out  # escaped by the XML library, not by hand


def test_no_secret_in_any_directory_answer(app):
    out = call(app, capture(7, domain=DOMAIN, key_value=DOMAIN, user="1002"))[2]
    text = out.decode()
    for secret in (ALICE_PW, BOB_PW, "4821"):
        assert secret not in text
    _, _, params, _ = user_of(out)
    assert "password" not in params and "a1-hash" not in params


def test_lookup_by_sip_username_dials_that_username(app):
    _, user, params, _ = user_of(call(app, capture(7, domain=DOMAIN, key_value=DOMAIN,
                                                   user="bob"))[2])
    assert user.get("id") == "bob" and "sofia/internal/bob@" in params["dial-string"]
    assert params["vm-enabled"] == "false"


def test_sip_auth_gets_no_digest(app):
    body = capture(3, domain=DOMAIN, key_value=DOMAIN, user="1001", action="sip_auth",
                   **{"X-Tenant-Id": "acme"})
    assert is_not_found(call(app, body)[2])


@pytest.mark.parametrize(
    "changes",
    [
        {"user": "9999"},
        {"domain": "nope.example.org", "key_value": "nope.example.org"},
        {"X-Tenant-Id": "globex"},  # the edge stamped another tenant
        {"user": "1001' OR '1'='1"},
        {"user": "<x>&amp;"},
        {"user": "1" * 65},
        {"purpose": "gateways"},
        {"user": ""},
    ],
)
def test_directory_not_found(app, changes):
    body = capture(7, **{"domain": DOMAIN, "key_value": DOMAIN, "user": "1001", **changes})
    status, _, out = call(app, body)
    assert status == 200 and is_not_found(out)


def test_feature_server_of_another_shard_gets_nothing(app):
    body = capture(7, domain=DOMAIN, key_value=DOMAIN, user="1001")
    assert is_not_found(call(app, body, address=FS3)[2])


# --- dialplan ---------------------------------------------------------------------------------


def dial(app, number, tenant="acme", address=FS1, context="default"):
    changes = {"Hunt-Destination-Number": number, "Caller-Destination-Number": number,
               "Hunt-Context": context}
    if tenant is not None:
        changes["variable_sip_h_X-Tenant-Id"] = tenant
    status, _, out = call(app, capture(5, **changes), address=address)
    assert status == 200
    return out


def test_dialplan_extension_rings_through_the_edge_then_voicemail(app):
    out = dial(app, "1001")
    root = xml_of(out)
    context = root.find("./section[@name='dialplan']/context")
    assert context.get("name") == "default"
    condition = context.find("./extension/condition")
    assert condition.get("field") == "destination_number"
    assert condition.get("expression") == "^1001$"
    acts = actions(out)
    assert ("bridge", "{sip_invite_domain=acme.example.org,sip_h_X-Tenant-Id=acme,"
            "sip_h_X-FS-Id=fs1}sofia/internal/1001@acme.example.org;"
            "fs_path=sip:10.9.0.10:5060") in acts
    assert acts[-1] == ("voicemail", "default acme.example.org 1001")


def test_ring_group_sequential_legs(app):
    acts = dict(actions(dial(app, "600")))
    legs = acts["bridge"].split("|")
    assert len(legs) == 2 and legs[0].startswith("[leg_timeout=20]{")
    assert "sofia/internal/bob@acme.example.org" in legs[1]


def test_ring_group_simultaneous(tmp_path):
    app = ConfigService(config(), acme_repository(tmp_path, ACME.replace(
        "strategy: sequential", "strategy: simultaneous")))
    assert len(dict(actions(dial(app, "600")))["bridge"].split(",[leg_timeout")) == 2


def test_conference_queue_voicemail_codes(app):
    assert ("conference", "acme-700@default") in actions(dial(app, "700"))
    assert ("callcenter", "800@acme.example.org") in actions(dial(app, "800"))
    assert ("voicemail", "check default acme.example.org") in actions(dial(app, "*97"))
    assert ("voicemail", "default acme.example.org 1001") in actions(dial(app, "*991001"))
    assert is_not_found(dial(app, "*999999"))


def test_ivr_menu_and_choices(app):
    acts = actions(dial(app, "500"))
    pagd = dict(acts)["play_and_get_digits"]
    assert pagd == ("1 1 3 10000 # ivr/ivr-welcome.wav ivr/ivr-that_was_an_invalid_entry.wav"
                    " ivr_choice ^(1|2|9)$ 3000")
    assert acts[-1] == ("transfer", "ivr-500-${ivr_choice} XML default")
    assert "bridge" in dict(actions(dial(app, "ivr-500-1")))
    assert ("voicemail", "default acme.example.org 1001") in actions(dial(app, "ivr-500-2"))
    assert actions(dial(app, "ivr-500-9")) == [("hangup", "NORMAL_CLEARING")]
    assert actions(dial(app, "ivr-500-")) == [("hangup", "NORMAL_CLEARING")]


def test_did_routes_inside_its_tenant_only(app):
    assert "play_and_get_digits" in dict(actions(dial(app, "+4930123400")))
    assert is_not_found(dial(app, "+4930123400", tenant="globex", address=FS3))


def test_outbound_permissions(app):
    national = dict(actions(dial(app, "030123456")))
    assert "sofia/internal/030123456@acme.example.org" in national["bridge"]
    assert actions(dial(app, "+14155550100")) == [("hangup", "OUTGOING_CALL_BARRED")]
    assert "bridge" in dict(actions(dial(app, "112")))
    assert is_not_found(dial(app, "12"))


@pytest.mark.parametrize(
    ("number", "tenant", "context"),
    [
        ("1001", None, "default"),  # no tenant stamped by the edge
        ("1001", "nope", "default"),
        ("1001", "globex", "default"),  # tenant of another shard asked from fs1
        ("9196", "acme", "default"),
        ("1001' OR 1=1 --", "acme", "default"),
        ("<script>", "acme", "default"),
        ("1001", "acme", 'default"><x'),
    ],
)
def test_dialplan_not_found(app, number, tenant, context):
    assert is_not_found(dial(app, number, tenant=tenant, context=context))


def test_tenant_comes_from_the_stamped_header_not_the_caller(app):
    # A phone can set its caller id and display name, never the edge's header.
    out = dial(app, "1001", tenant=None)
    assert is_not_found(out)


# --- HTTP-level bad input ---------------------------------------------------------------------


def test_unknown_client_is_refused(app):
    status, _, out = call(app, captured_bodies()[7], address="10.9.0.99")
    assert status == 403 and b"Traceback" not in out


def test_trusted_proxy_forwarded_for(tmp_path):
    app = ConfigService(config(trusted_proxies=["10.9.0.40"]), acme_repository(tmp_path))
    body = capture(7, domain=DOMAIN, key_value=DOMAIN, user="1001")
    forwarded = {"HTTP_X_FORWARDED_FOR": f"1.2.3.4, {FS1}"}
    assert call(app, body, address="10.9.0.40", headers=forwarded)[0] == 200
    # An untrusted peer cannot claim to be a feature server.
    assert call(app, body, address="10.9.0.41", headers=forwarded)[0] == 403


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"method": "GET"}, 405),
        ({"method": "PUT"}, 405),
        ({"content_type": "application/json"}, 415),
        ({"length": ""}, 411),
        ({"length": "abc"}, 400),
        ({"length": "100000"}, 413),
        ({"length": "99"}, 400),
    ],
)
def test_http_bad_input(app, kwargs, status):
    code, headers, out = call(app, b"section=directory", **kwargs)
    assert code == status and headers["Content-Type"].startswith("text/plain")
    assert b"Traceback" not in out


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe", b"section=%ff%fe", b"hostname=vm",
     b"section=directory&domain=acme.example.org&user=%ff%fe",
     b"section=directory&section=dialplan",
     b"a=" + b"&a=".join([b"1"] * 2500)],
)
def test_malformed_bodies_are_400(app, body):
    status, _, out = call(app, body)
    assert status == 400 and b"Traceback" not in out


def test_unknown_section_is_not_found(app):
    for section in ("configuration", "phrases", "languages", "x<y>"):
        status, _, out = call(app, capture(7, section=section))
        assert status == 200 and is_not_found(out)


def test_parse_rejects_conflicts():
    with pytest.raises(BadRequest):
        parse_body(b"section=a&section=b")


class _DeadRepository:
    def __getattr__(self, name):
        def fail(*_a, **_k):
            raise pymysql.err.OperationalError(2003, "Can't connect")
        return fail


class _BuggyRepository:
    def __getattr__(self, name):
        def fail(*_a, **_k):
            raise KeyError("bug")
        return fail


def test_database_down_is_503_so_freeswitch_falls_back():
    app = ConfigService(config(), _DeadRepository())
    status, _, out = call(app, capture(7, domain=DOMAIN, key_value=DOMAIN, user="1001"))
    assert status == 503 and out == b"database unavailable\n"
    assert call(app, b"", method="GET", path="/health", address="127.0.0.1")[0] == 503


def test_a_bug_is_500_without_traceback(caplog):
    app = ConfigService(config(), _BuggyRepository())
    status, _, out = call(app, capture(7, domain=DOMAIN, key_value=DOMAIN, user="1001"))
    assert status == 500 and out == b"internal error\n"
    assert "KeyError" in caplog.text  # the traceback goes to the server log


def test_health(app):
    assert call(app, b"", method="GET", path="/health", address="127.0.0.1")[:1] == (200,)
    assert call(app, b"", method="GET", path="/health", address="10.9.0.99")[0] == 403
