"""The SIP edge contract (issue 5), engine-neutral: the engine is read from the inventory.

Each test is bounded: SIPp runs have timeouts, polls have deadlines, and every fault is undone
in a `finally`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from clusterctl.db.health import check_cluster
from clusterctl.model import Tenant
from clusterctl.role_inputs import ECHO_NUMBER

from .harness import Edge, Remote, User

pytestmark = pytest.mark.lab


def _user(users: list[User], tenant: Tenant, n: int = 0) -> User:
    return [u for u in users if u.tenant.id == tenant.id][n]


def _register(
    edge: Edge, user: User, scenario: str = "register", password: str | None = None
) -> None:
    keys = {"user": user.name, "domain": user.domain, "expires": "300"}
    result = edge.sipp(scenario, keys, (user.name, password or user.password))
    assert result.rc == 0, f"{scenario} for {user.name}@{user.domain}: {result.errors}"


def _call(edge: Edge, caller: User, target: str, domain: str) -> tuple[str, str, float]:
    keys = {"user": caller.name, "domain": caller.domain, "target": target, "target_domain": domain}
    result = edge.sipp("call", keys, (caller.name, caller.password), extra="-d 200")
    assert result.rc == 0, f"call failed: {result.log} {result.errors}"
    fs, tenant = result.answered()
    return fs, tenant, result.elapsed


def _primary_selectable(edge: Edge, set_id: int, address: str) -> bool:
    """Whether every edge node would route a new call of set ``set_id`` to ``address``."""
    for node in edge.edges:
        sets = {s.id: s for s in edge.client(node).dispatcher_sets()}
        dest = next(d for d in sets[set_id].destinations if address in d.uri)
        if not dest.selectable:
            return False
    return True


def test_register_with_digest_auth(edge: Edge, users: list[User]) -> None:
    _register(edge, users[0])


def test_register_wrong_password_is_challenged_again(edge: Edge, users: list[User]) -> None:
    _register(edge, users[0], "register_wrong_password", "wrong-" + users[0].password)


def test_register_unknown_domain_is_404(edge: Edge) -> None:
    keys = {"user": "7900", "domain": "not-served.clusterctl.test", "expires": "60"}
    assert edge.sipp("register_unknown_domain", keys, ("7900", "x")).rc == 0


def test_invite_from_unknown_domain_is_403(edge: Edge) -> None:
    keys = {
        "user": "7900",
        "domain": "not-served.clusterctl.test",
        "target": "7901",
        "target_domain": edge.cluster.settings.tenants[0].domain,
    }
    assert edge.sipp("call_unknown_domain", keys).rc == 0


def test_call_goes_to_tenant_primary_with_edge_headers(edge: Edge, users: list[User]) -> None:
    """Every tenant's call reaches its shard's primary; forged X-Tenant-Id is replaced."""
    shards = edge.cluster.settings.shards
    for tenant in edge.cluster.settings.tenants:
        caller = _user(users, tenant)
        fs, seen, _ = _call(edge, caller, ECHO_NUMBER, tenant.domain)
        assert fs == shards[tenant.shard].primary, f"{tenant.id} answered by {fs}"
        assert seen == tenant.id, f"{tenant.id}: feature server saw tenant {seen!r}"


def test_cross_tenant_call_is_403(edge: Edge, users: list[User]) -> None:
    tenants = edge.cluster.settings.tenants
    if len(tenants) < 2:
        pytest.skip("the inventory has one tenant: no other tenant to call")
    caller, other = _user(users, tenants[0]), _user(users, tenants[1])
    keys = {
        "user": caller.name,
        "domain": caller.domain,
        "target": other.name,
        "target_domain": other.domain,
    }
    result = edge.sipp("call_refused", keys, (caller.name, caller.password))
    assert result.rc == 0, result.errors


def test_failover_within_the_call_and_reinclusion(edge: Edge, users: list[User]) -> None:
    """Primary silent (frozen): the same call reaches the secondary after invite_timeout, the
    primary is excluded at once (a failed call marks it) and re-included after its first good
    probe. Frozen, not stopped: a stopping FreeSWITCH answers 503 and the call fails over at
    once, which would not show the timeout path."""
    settings = edge.cluster.settings
    tenant = settings.tenants[0]
    shard = settings.shards[tenant.shard]
    set_id = list(settings.shards).index(tenant.shard) + 1
    primary = edge.remote(shard.primary)
    caller, target = _user(users, tenant), ECHO_NUMBER
    unit = edge.cluster.feature_server_unit
    timeout = settings.dispatcher.invite_timeout
    assert _primary_selectable(edge, set_id, primary.address), "steady state: primary excluded"
    # An ordinary call's duration (SSH, SIPp start, auth round trip, 200 ms talk) is the
    # baseline the failover call is measured against: the shorter of two, since one slow
    # start-up (an ordinary call of 0.54 s against a failover call of 1.96 s) hid the wait.
    durations = []
    for _ in range(2):
        fs, _, took = _call(edge, caller, target, tenant.domain)
        assert fs == shard.primary, f"steady state: answered by {fs}"
        durations.append(took)
    baseline = min(durations)
    primary.run(f"systemctl kill -s SIGSTOP {unit}", 15)
    try:
        fs, seen, first = _call(edge, caller, target, tenant.domain)
        assert (fs, seen) == (shard.secondary, tenant.id)
        # The call waited for the primary's INVITE timeout, then failed over within itself:
        # the caller waits the timeout plus at most 1 s more than an ordinary call. OpenSIPS
        # counts that timeout in whole-second ticks (tm's FR timer list), so it fires after
        # timeout - 1 to timeout s, and the two calls' SSH and SIPp start-up differ by a few
        # hundred ms (seen on OpenSIPS: extras of 1.47 and 1.77 s against a 2 s timeout): the
        # lower bound only proves the call waited.
        extra = first - baseline
        assert timeout - 1.3 <= extra <= timeout + 1.0, (
            f"failover call took {first:.2f} s, ordinary call {baseline:.2f} s"
        )
        fs, _, second = _call(edge, caller, target, tenant.domain)
        assert fs == shard.secondary
        assert second < timeout, f"second call waited {second:.2f} s: primary not marked"
        primary.run(f"systemctl kill -s SIGCONT {unit}", 15)
        # The server answers once thawed; the next ping is at most one interval away and its
        # 200 re-includes the destination (issue 5: under 1 s after the good reply).
        bound = settings.dispatcher.ping_interval + 1.0
        took = edge.wait_for(
            "primary re-included",
            lambda: _primary_selectable(edge, set_id, primary.address),
            bound,
        )
        print(
            f"ordinary call {baseline:.2f} s, failover call {first:.2f} s,"
            f" next call {second:.2f} s, re-included {took:.2f} s after the thaw"
        )
        fs, _, _ = _call(edge, caller, target, tenant.domain)
        assert fs == shard.primary
    finally:
        primary.run(f"systemctl kill -s SIGCONT {unit}", 15)


def _call_registered_user(edge: Edge, user: User) -> str:
    """A feature server calls ``user`` (registered from the probe): the phone's log.

    The edge sends NAT keepalives (OPTIONS) to contacts with a private address, which every
    lab phone has. The phone is a one-call SIPp UAS that cannot answer one and still take the
    call (``-aa`` counts the OPTIONS against ``-m 1``; out-of-call scenarios are refused in
    server mode), so a keepalive that lands before the INVITE aborts it. Only then, seen in
    SIPp's error file, is the call placed once more.
    """
    for attempt in (1, 2):
        log, aborted_by_keepalive = _try_call_registered_user(edge, user)
        if not aborted_by_keepalive:
            return log
        print(f"attempt {attempt}: a NAT keepalive reached the test phone before the INVITE")
    raise AssertionError("NAT keepalives aborted the test phone twice")


def _try_call_registered_user(edge: Edge, user: User) -> tuple[str, bool]:
    shard = edge.cluster.settings.shards[user.tenant.shard]
    fs = edge.remote(shard.primary)
    probe = edge.probe
    edge.copy_scenarios(probe)
    port = next(edge.ports)
    phone_log = f"/root/clusterctl-contract/phone-{port}.log"
    phone_err = f"/root/clusterctl-contract/phone-{port}.err"
    # The phone registers from the port it then answers on.
    keys = {"user": user.name, "domain": user.domain, "expires": "300"}
    reg = edge.sipp("register", keys, (user.name, user.password), port=port)
    assert reg.rc == 0, reg.errors
    # Wait (bounded, 5 s) until the phone has bound its port: a fixed sleep lost the race
    # on a loaded host and the edge's INVITE met a closed port.
    started = probe.run(
        f"rm -f {phone_log} {phone_err}; (timeout 25 sipp -sf /root/clusterctl-contract/phone.xml"
        f" -m 1 -i {probe.address} -p {port} -nostdin -timeout 20s -trace_logs"
        f" -log_file {phone_log} -trace_err -error_file {phone_err} >/dev/null 2>&1 &) ;"
        " for i in $(seq 50); do"
        f" ss -Hlun 'sport = :{port}' | grep -q . && exit 0; sleep 0.1; done; exit 1",
        10,
        check=False,
    )
    keys = {
        "target": user.name,
        "target_domain": user.domain,
        "tenant": user.tenant.id,
        "fs_id": shard.primary,
    }
    result = edge.sipp("call_from_fs", keys, source=fs) if started.returncode == 0 else None
    if result is None or result.rc != 0:
        keepalive = probe.run(f'grep -qs "received \'OPTIONS " {phone_err}', 10, check=False)
        if keepalive.returncode == 0:
            return "", True
    assert started.returncode == 0, f"the test phone did not bind port {port} within 5 s"
    assert result is not None and result.rc == 0, (
        f"call to the registered user failed: {result.errors if result else ''}"
    )
    return probe.run(f"cat {phone_log}", 10).stdout, False


def test_feature_server_reaches_registered_user(edge: Edge, users: list[User]) -> None:
    """Calls from feature servers are looked up in location; phones see no internal headers."""
    log = _call_registered_user(edge, _user(users, edge.cluster.settings.tenants[0], 1))
    leaked = re.search(r"RANG from .* leaked=(\S*)", log)
    assert leaked is not None, f"the phone was not called: {log!r}"
    assert leaked[1] == "", f"internal header {leaked[1]} reached the phone"


def test_vip_failover_keeps_registrations(edge: Edge, users: list[User]) -> None:
    """kill -9 of the engine on the VIP holder: the peer takes the VIP, serves the contact
    registered before the fault, and reaches a phone; the old holder, restarted, has the
    contact again."""
    user = _user(users, edge.cluster.settings.tenants[-1], 1)
    edge.unregister(user)
    keys = {"user": user.name, "domain": user.domain, "expires": "300"}
    assert edge.sipp("register", keys, (user.name, user.password)).rc == 0
    assert edge.contacts(user) == 1
    (holder,) = edge.vip_holders()
    peer: Remote = next(e for e in edge.edges if e.host.name != holder.host.name)
    # The peer watches its own interfaces every 10 ms (bounded: 10 s) and prints when the VIP
    # arrives; the holder prints when it kills the engine. Both containers read the host's
    # clock, so the difference is the takeover time without SSH polling in it.
    watch = peer.start(
        "end=$(($(date +%s) + 10)); echo WATCHING;"
        f" while [ $(date +%s) -lt $end ]; do ip -4 -o addr show | grep -q ' {edge.vip}/'"
        " && { date +%s.%N; exit 0; }; sleep 0.01; done; exit 1"
    )
    try:
        killed = float(holder.run(f"date +%s.%N; pkill -KILL -x {edge.engine}", 10).stdout)
        seen = watch.wait(15)
        assert seen.returncode == 0, f"VIP not on {peer.host.name} within 10 s: {seen.stderr}"
        took = float(seen.stdout.split()[-1]) - killed
        print(f"VIP takeover after kill -9: {took:.2f} s")
        assert took <= 2.0, f"VIP takeover took {took:.2f} s (target <= 2 s)"
        assert [h.host.name for h in edge.vip_holders()] == [peer.host.name]
        # The notify script switched the new holder's NAT keepalives on (conftest.py).
        edge.nat_keepalives(peer, False)
        assert edge.contacts(user) == 1, "the new VIP holder lost the registration"
        assert "RANG" in _call_registered_user(edge, user)
    finally:
        watch.kill()
        holder.run(f"systemctl start {edge.engine}", 30)
        # Leave the steady state behind: the VIP back on one node (the higher priority).
        edge.wait_for("VIP on one edge again", lambda: len(edge.vip_holders()) == 1, 10.0, 0.2)
        for node in edge.edges:
            edge.nat_keepalives(node, False)
    # The restarted node preloads from the database and syncs the rest from its peer.
    synced = edge.wait_for(
        f"both contacts on {holder.host.name} after its restart",
        lambda: edge.contacts(user, holder) == 2,
        15.0,
        0.2,
    )
    print(f"restarted {holder.host.name} had both contacts {synced:.2f} s after the VIP settled")
    edge.unregister(user)


# --- carriers: trusted by source address, DID -> tenant -> shard ------------------------------


@contextmanager
def _carrier_source(edge: Edge) -> Iterator[str]:
    """A carrier's address, held by the probe for the length of the block.

    The inventory's first carrier network; its first address goes on the probe's eth0 (the
    lab's carrier address belongs to no container) and is removed afterwards.
    """
    if not edge.cluster.settings.carriers:
        pytest.skip("the inventory has no carriers (the lab topologies define lab-carrier)")
    if not edge.cluster.is_lab:
        # Outside the lab a carrier's address is a real peer's: taking it would hijack it.
        pytest.skip("carrier calls are sent from the carrier's own address: lab only")
    network = edge.cluster.settings.carriers[0].address
    address = str(next(iter(network.hosts())))
    probe = edge.probe
    # `replace`: an address left behind by an interrupted run is no error.
    probe.run(f"ip addr replace {address}/32 dev eth0", 10)
    try:
        yield address
    finally:
        probe.run(f"ip addr del {address}/32 dev eth0", 10, check=False)


def test_carrier_call_to_a_did_reaches_the_dids_tenant(edge: Edge) -> None:
    """No credentials, from the carrier's address: each DID's call reaches its tenant's
    primary with that tenant's X-Tenant-Id (the forged one is replaced)."""
    settings = edge.cluster.settings
    tenants = [t for t in settings.tenants if t.dids]
    if not tenants:
        pytest.skip("no tenant has a DID")
    with _carrier_source(edge) as carrier:
        for tenant in tenants:
            result = edge.sipp("carrier_call", {"did": tenant.dids[0]}, local_ip=carrier)
            assert result.rc == 0, f"carrier call to {tenant.dids[0]}: {result.errors}"
            fs, seen = result.answered()
            assert fs == settings.shards[tenant.shard].primary, f"{tenant.dids[0]} -> {fs}"
            assert seen == tenant.id, f"{tenant.dids[0]}: feature server saw tenant {seen!r}"


def test_carrier_call_to_an_unknown_did_is_404(edge: Edge) -> None:
    owned = {did for t in edge.cluster.settings.tenants for did in t.dids}
    unknown = next(f"+1555019{n:04d}" for n in range(10000) if f"+1555019{n:04d}" not in owned)
    with _carrier_source(edge) as carrier:
        result = edge.sipp("carrier_unknown_did", {"did": unknown}, local_ip=carrier)
    assert result.rc == 0, f"{unknown} from the carrier: {result.errors}"


def test_untrusted_invite_without_credentials_is_challenged(edge: Edge) -> None:
    """The carrier's call from the probe's own address (not a carrier): 407, never routed."""
    tenant = next((t for t in edge.cluster.settings.tenants if t.dids), None)
    if tenant is None:
        pytest.skip("no tenant has a DID")
    keys = {"did": tenant.dids[0], "user": "7900", "domain": tenant.domain, "tenant": tenant.id}
    result = edge.sipp("invite_untrusted", keys)
    assert result.rc == 0, f"untrusted INVITE to {tenant.dids[0]}: {result.errors}"


# --- MWI: SUBSCRIBE message-summary at the edge, PUBLISH from a feature server ----------------


def _forget_presence(edge: Edge, user: User) -> None:
    """Remove the mailbox's published state, its subscriptions and the user's contacts."""
    uri = f"sip:{user.name}@{user.domain}"
    edge.sql(
        f"DELETE FROM presentity WHERE username='{user.name}' AND domain='{user.domain}';"
        f" DELETE FROM active_watchers WHERE presentity_uri='{uri}';"
        f" DELETE FROM watchers WHERE presentity_uri='{uri}';"
    )
    edge.unregister(user)


MWI_LINE = re.compile(r"MWI NOTIFY state=(\S*) body=(.*?) \| (.*)$", re.MULTILINE)


def test_mwi_notify_after_publish(edge: Edge, users: list[User]) -> None:
    """A registered phone subscribed to its own mailbox gets NOTIFY Messages-Waiting: yes
    when a feature server publishes message-waiting state for it."""
    tenants = edge.cluster.settings.tenants
    user = _user(users, tenants[1 % len(tenants)], 1)
    shard = edge.cluster.settings.shards[user.tenant.shard]
    _forget_presence(edge, user)
    port = next(edge.ports)
    keys = {"user": user.name, "domain": user.domain, "expires": "120"}
    reg = edge.sipp("register", keys, (user.name, user.password), port=port)
    assert reg.rc == 0, f"register before subscribing: {reg.errors}"
    phone = edge.background_sipp(
        "mwi_subscribe", port, keys, (user.name, user.password), timeout=30, call_vip=True
    )
    try:
        log = phone.wait_log("INITIAL NOTIFY", 10)
        initial = re.search(r"INITIAL NOTIFY state=(\S*) body=(.*)$", log, re.MULTILINE)
        assert initial is not None, f"no 200 and initial NOTIFY for the SUBSCRIBE: {log!r}"
        assert initial[1] == "active", f"initial NOTIFY: Subscription-State {initial[1]!r}"
        # Cleared above: had the mailbox kept old state, the next NOTIFY would prove nothing.
        assert "yes" not in initial[2], f"initial NOTIFY already says {initial[2]!r}"
        publish = edge.sipp(
            "mwi_publish", {**keys, "expires": "60"}, source=edge.remote(shard.primary)
        )
        assert publish.rc == 0, f"PUBLISH from {shard.primary}: {publish.log} {publish.errors}"
        published = time.monotonic()
        log = phone.wait_log("MWI NOTIFY", 10)
        seen = time.monotonic() - published
        notified = MWI_LINE.search(log)
        assert notified is not None, (
            f"the PUBLISH was accepted (200) but no NOTIFY reached the phone within 10 s: {log!r}"
        )
        assert notified[1] == "active"
        assert re.fullmatch(r"Messages-Waiting: *yes", notified[2]), notified[2]
        assert notified[3].replace(" ", "") == "Voice-Message:1/0", notified[3]
        rc, log = phone.finish(10)
        assert rc == 0, f"phone scenario failed: {log!r}"
        print(f"MWI NOTIFY at the phone {seen:.2f} s after the PUBLISH's 200 (with an SSH call)")
    finally:
        phone.stop()
        _forget_presence(edge, user)


# --- forking: every contact of a user rings --------------------------------------------------


def test_call_from_feature_server_forks_to_every_contact(edge: Edge, users: list[User]) -> None:
    """Two contacts for one user: both get the INVITE; one answers, the other is canceled."""
    user = _user(users, edge.cluster.settings.tenants[-1])
    shard = edge.cluster.settings.shards[user.tenant.shard]
    edge.unregister(user)
    phones = []
    try:
        # One answers, one only rings: which contact the edge tries first must not matter.
        for scenario in ("phone", "phone_ring"):
            port = next(edge.ports)
            keys = {"user": user.name, "domain": user.domain, "expires": "120"}
            reg = edge.sipp("register", keys, (user.name, user.password), port=port)
            assert reg.rc == 0, f"register contact {port}: {reg.errors}"
            phones.append(edge.background_sipp(scenario, port, timeout=25))
        contacts = edge.contacts(user)
        assert contacts == 2, f"{contacts} contacts registered, expected 2"
        keys = {
            "target": user.name,
            "target_domain": user.domain,
            "tenant": user.tenant.id,
            "fs_id": shard.primary,
        }
        result = edge.sipp("call_from_fs", keys, source=edge.remote(shard.primary))
        assert result.rc == 0, f"call to the user with two contacts: {result.errors}"
        (answered_rc, answered), (ringing_rc, ringing) = (p.finish(15) for p in phones)
        for log in (answered, ringing):
            rang = re.search(r"RANG from .* leaked=(\S*)", log)
            assert rang is not None, f"a contact was not called: {log!r}"
            assert rang[1] == "", f"internal header {rang[1]} reached a phone"
        assert "CANCELED" in ringing, f"the unanswered contact was not canceled: {ringing!r}"
        assert (answered_rc, ringing_rc) == (0, 0), f"{answered!r} {ringing!r}"
    finally:
        for phone in phones:
            phone.stop()
        edge.unregister(user)


# --- one database node lost ------------------------------------------------------------------


def _replication_healthy(edge: Edge) -> bool:
    """Every database node reachable, writable, replicating, and caught up."""
    settings = edge.cluster.settings
    password = settings.db_monitor_password
    assert password, "the inventory has no db_monitor_password"
    addresses = [str(edge.cluster.hosts[h].address) for h in edge.cluster.members("databases")]
    nodes = check_cluster(addresses, "monitor", password, timeout_s=2.0)
    return all(n.healthy and all(c.seconds_behind == 0 for c in n.replication) for n in nodes)


def _uses_database(edge: Edge, address: str) -> bool:
    """Whether every edge node would query the database at ``address`` (Kamailio db_cluster:
    its connection there is active, not parked after an earlier failure)."""
    for node in edge.edges:
        connections = edge.client(node).rpc.call("dbcl.list_connections", ["edgedb"])
        mine = [c for c in connections if f"@{address}:" in str(c.get("url", ""))]
        if len(mine) != 1 or mine[0].get("state") != "active":
            return False
    return True


def _wait_until_edge_uses(edge: Edge, address: str, keys: dict[str, str], user: User) -> None:
    """Wait (bounded) until the edge queries ``address`` again: a node that failed stays parked
    for the retry interval and is re-tried by the next query, so each poll sends a REGISTER.
    Without this a fault right after another one would land on a node already out of use.
    Kamailio only: OpenSIPS db_virtual has no equivalent check here yet."""
    if edge.engine != "kamailio":
        return

    def in_use() -> bool:
        assert edge.sipp("register", keys, (user.name, user.password)).rc == 0
        return _uses_database(edge, address)

    edge.wait_for(f"the edge using the database at {address}", in_use, 40.0, every=1.0)


# How a database node is lost, and how it comes back. A stopped service refuses connections at
# once; a frozen one (a hung host) accepts and never answers, so every query waits for the
# engine's database timeout (sip_edge_db_timeout) before the next node is tried.
DB_FAULTS = {
    "stopped": ("systemctl stop mariadb", "systemctl start mariadb"),
    "frozen": ("systemctl kill -s SIGSTOP mariadb", "systemctl kill -s SIGCONT mariadb"),
}


@pytest.mark.parametrize("fault", list(DB_FAULTS))
def test_edge_survives_the_loss_of_one_database_node(
    edge: Edge, users: list[User], fault: str
) -> None:
    """The first database node (the one db_cluster / db_virtual use first) lost: REGISTER
    with digest auth and a call still work through the VIP."""
    databases = edge.cluster.members("databases")
    if len(databases) < 2:
        pytest.skip("one database node: nothing to fail over to")
    tenant = edge.cluster.settings.tenants[0]
    caller = _user(users, tenant)
    shard = edge.cluster.settings.shards[tenant.shard]
    first = edge.remote(databases[0])
    inject, undo = DB_FAULTS[fault]
    assert _replication_healthy(edge), "steady state: database replication not healthy"
    keys = {"user": caller.name, "domain": caller.domain, "expires": "300"}
    auth = (caller.name, caller.password)
    _wait_until_edge_uses(edge, first.address, keys, caller)
    baseline = edge.sipp("register", keys, auth)
    assert baseline.rc == 0, baseline.errors
    first.run(inject, 60)
    try:
        after = edge.sipp("register", keys, auth)
        assert after.rc == 0, f"REGISTER with {databases[0]} {fault}: {after.errors}"
        again = edge.sipp("register", keys, auth)
        assert again.rc == 0, f"second REGISTER with {databases[0]} {fault}: {again.errors}"
        fs, seen, call = _call(edge, caller, ECHO_NUMBER, tenant.domain)
        assert (fs, seen) == (shard.primary, tenant.id)
        print(
            f"{databases[0]} {fault}: REGISTER {after.elapsed:.2f} s (the first after the"
            f" fault), then {again.elapsed:.2f} s; before the fault {baseline.elapsed:.2f} s;"
            f" call {call:.2f} s"
        )
    finally:
        first.run(undo, 120)
        took = edge.wait_for(
            "database replication healthy", lambda: _replication_healthy(edge), 90.0, every=1.0
        )
        print(f"{databases[0]} back and replication healthy {took:.1f} s after `{undo}`")
