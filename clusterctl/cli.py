"""The ``clusterctl`` command line: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from clusterctl import __version__
from clusterctl.drills import SERVICE_FAULTS, VIP_FAULTS
from clusterctl.errors import ClusterctlError

if TYPE_CHECKING:
    from clusterctl.engines import EngineName
    from clusterctl.model import FeatureServerKind

F = TypeVar("F", bound=Callable[..., Any])


class Group(click.Group):
    """Turns every ClusterctlError into one line on stderr and its exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ClusterctlError as exc:
            if ctx.find_root().params.get("debug"):
                traceback.print_exc()
            click.echo(f"error: {exc.message}", err=True)
            sys.exit(exc.exit_code)
        except (click.exceptions.Exit, click.ClickException, KeyboardInterrupt):
            raise
        except Exception as exc:
            # A bug of ours, not bad input: still one line, the traceback only on request.
            if ctx.find_root().params.get("debug"):
                traceback.print_exc()
            click.echo(
                f"error: internal error: {type(exc).__name__}: {exc} (--debug shows a traceback)",
                err=True,
            )
            sys.exit(1)


def inventory_option(func: F) -> F:
    """The ``-i/--inventory`` option every cluster command takes."""
    return click.option(
        "-i",
        "--inventory",
        "inventory",
        required=True,
        type=click.Path(path_type=str),
        help="Ansible inventory (directory or file) describing the cluster.",
    )(func)


@click.group(cls=Group)
@click.version_option(__version__)
@click.option("--debug", is_flag=True, help="Show tracebacks of errors.")
def main(debug: bool) -> None:
    """Build, operate and drill highly available multi-tenant VoIP clusters."""


# --- validate -------------------------------------------------------------------------------


@main.command()
@inventory_option
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def validate(inventory: str, vault_password_file: str | None) -> None:
    """Check the cluster's topology before any host is touched."""
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    click.echo(
        f"inventory {inventory} is valid: {len(cluster.hosts)} hosts, "
        f"{len(cluster.settings.shards)} shards, {len(cluster.settings.tenants)} tenants, "
        f"edge engine {cluster.settings.edge_engine}, database {cluster.settings.db_topology}"
    )


@main.command()
@click.argument("directory", type=click.Path(path_type=str))
def init(directory: str) -> None:
    """Write a starter inventory into DIRECTORY (new or empty): the commented example plus
    group_vars/all/vault.yml listing the secrets to fill."""
    from pathlib import Path  # noqa: PLC0415

    from clusterctl.starter import VAULT_FILE, write_starter  # noqa: PLC0415

    written = write_starter(Path(directory))
    click.echo(f"wrote {len(written)} files into {directory}: edit hosts.yml and group_vars/all/, "
               f"fill {Path(directory) / VAULT_FILE} and encrypt it (ansible-vault encrypt), "
               f"then run: clusterctl validate -i {directory}")


# --- deploy ---------------------------------------------------------------------------------

EXIT_CANCELED = 130  # what a shell reports for a command stopped by SIGINT


@main.command()
@inventory_option
@click.option("-l", "--limit", metavar="PATTERN", help="Only these hosts/groups (as Ansible).")
@click.option("-t", "--tags", metavar="TAGS", help="Only tasks with these tags.")
@click.option("--skip-tags", metavar="TAGS", help="Skip tasks with these tags.")
@click.option("-C", "--check", is_flag=True, help="Change nothing; report what would change.")
@click.option("-D", "--diff", is_flag=True, help="Show the changes made to files.")
@click.option(
    "--playbook",
    default="site.yml",
    show_default=True,
    metavar="NAME",
    help="Playbook under playbooks/, e.g. a single tier: database.yml.",
)
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def deploy(
    *,
    inventory: str,
    limit: str | None,
    tags: str | None,
    skip_tags: str | None,
    check: bool,
    diff: bool,
    playbook: str,
    vault_password_file: str | None,
) -> None:
    """Validate the inventory, then run the playbook with a live view.

    The exit code is ansible-playbook's (2: a host failed, 4: a host was unreachable);
    130 after Ctrl-C. Everything the run wrote is in the run directory printed at start.
    """
    from pathlib import Path  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from clusterctl import ansible_run, progress  # noqa: PLC0415
    from clusterctl.errors import BadInput  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    if not Path(inventory).exists():
        raise BadInput(f"inventory not found: {inventory}")
    book = ansible_run.resolve_playbook(playbook)
    check_inventory(inventory, vault_password_file)

    console = Console()

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    with progress.make_view(console) as view:
        result = ansible_run.run_playbook(
            book,
            inventory,
            limit=limit,
            tags=tags,
            skip_tags=skip_tags,
            check=check,
            diff=diff,
            vault_password_file=Path(vault_password_file) if vault_password_file else None,
            on_event=view.handle,
            on_start=lambda run_dir: say(f"run directory: {run_dir}"),
        )
    view.print_summary()
    if result.canceled:
        raise ClusterctlError(
            f"deploy canceled (Ctrl-C); run directory: {result.run_dir}", EXIT_CANCELED
        )
    say(f"{book.name} {result.status} (rc={result.rc}); log: {result.log_path}")
    say(f"run directory: {result.run_dir}")
    sys.exit(result.rc)

# --- lab ------------------------------------------------------------------------------------


@main.group()
def lab() -> None:
    """The container lab: the whole cluster on this machine, reached over SSH."""


def _lab_options(func: F) -> F:
    for option in reversed([
        click.option("--debian", type=click.Choice(["13", "12"]), default="13", show_default=True,
                     help="Debian release of the lab's images."),
        click.option("--install-engine", is_flag=True,
                     help="Install docker.io and start dockerd when no engine answers "
                          "(also allowed when CI is set)."),
    ]):
        func = option(func)
    return func


@lab.command("build")
@_lab_options
def lab_build(debian: str, install_engine: bool) -> None:
    """Build the lab's images only (rebuilt when their recipe changed); CI runs it first."""
    from clusterctl.lab import lifecycle  # noqa: PLC0415 - keeps `clusterctl --help` fast

    lifecycle.build(debian, install_engine, click.echo)


@lab.command("up")
@click.option("--profile", default="default", show_default=True,
              help="Built-in topology: default (master/master databases) or galera.")
@click.option("--topology", "topology_file", type=click.Path(path_type=str), default=None,
              help="A topology file instead of a built-in profile.")
@click.option("--engine", type=click.Choice(["opensips", "kamailio"]), default="opensips",
              show_default=True, envvar="CLUSTERCTL_LAB_ENGINE",
              help="The edge engine the lab inventory names (env CLUSTERCTL_LAB_ENGINE).")
@click.option("--deb-dir", type=click.Path(path_type=str), default=None,
              envvar="CLUSTERCTL_DEB_DIR",
              help="Directory of .deb packages (OpenSIPS, FreeSWITCH) the roles install from "
                   "instead of the vendors' repositories (env CLUSTERCTL_DEB_DIR).")
@click.option("--feature-servers", type=click.Choice(["freeswitch", "standin"]),
              default=None, envvar="CLUSTERCTL_LAB_FEATURE_SERVERS",
              help="What answers on the feature servers: FreeSWITCH (the default when --deb-dir "
                   "holds its package) or the SIPp stand-in (the default otherwise; env "
                   "CLUSTERCTL_LAB_FEATURE_SERVERS).")
@_lab_options
def lab_up(*, profile: str, topology_file: str | None, engine: EngineName,
           deb_dir: str | None, feature_servers: FeatureServerKind | None, debian: str,
           install_engine: bool) -> None:
    """Create (or repair) the lab and write inventory/lab/; healthy hosts are kept."""
    from pathlib import Path  # noqa: PLC0415

    from clusterctl.errors import BadInput  # noqa: PLC0415
    from clusterctl.lab import lifecycle, topology  # noqa: PLC0415

    package_dir = None
    if deb_dir:
        package_dir = Path(deb_dir).resolve()
        if not any(package_dir.glob("*.deb")):
            raise BadInput(f"--deb-dir {deb_dir}: no .deb files there")
    has_freeswitch = package_dir is not None and any(package_dir.glob("freeswitch_*.deb"))
    if feature_servers is None:
        feature_servers = "freeswitch" if has_freeswitch else "standin"
    if feature_servers == "freeswitch" and not has_freeswitch:
        raise BadInput(
            "--feature-servers freeswitch installs FreeSWITCH from the package directory: "
            "give --deb-dir with a freeswitch_*.deb (no registry the lab reaches has it)"
        )
    path = Path(topology_file) if topology_file else topology.profile_path(profile)
    lifecycle.up(topology.load_topology(path), debian, install_engine, click.echo,
                 engine=engine, package_dir=package_dir, feature_servers=feature_servers)


@lab.command("down")
@click.option("--keep-images", is_flag=True, help="Keep the lab's images for a faster next up.")
def lab_down(keep_images: bool) -> None:
    """Remove the lab's containers, network, volumes and images (found by label)."""
    from clusterctl.lab import lifecycle  # noqa: PLC0415

    lifecycle.down(keep_images, click.echo)


@lab.command("status")
def lab_status() -> None:
    """Each lab host's state, address and memory use."""
    from clusterctl.lab import lifecycle  # noqa: PLC0415

    rows = lifecycle.status()
    if not rows:
        click.echo("no lab: run `clusterctl lab up`")
        return
    click.echo(f"{'host':<10} {'state':<10} {'address':<15} memory")
    for row in rows:
        click.echo(f"{row.host:<10} {row.state:<10} {row.address:<15} {row.memory}")


@lab.command("ssh", context_settings={"ignore_unknown_options": True})
@click.argument("host")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def lab_ssh(host: str, command: tuple[str, ...]) -> None:
    """SSH to a lab host as root (`lab ssh HOST -- CMD...` runs a command)."""
    import os  # noqa: PLC0415

    from clusterctl.lab import lifecycle  # noqa: PLC0415

    argv = lifecycle.ssh_argv(lifecycle.address_of(host), command)
    os.execvp(argv[0], argv)  # the user's own ssh replaces this process: a real terminal


@lab.command("restart")
@click.argument("host")
def lab_restart(host: str) -> None:
    """Restart a lab host (its data volumes stay); waits for systemd and sshd."""
    from clusterctl.lab import lifecycle  # noqa: PLC0415

    lifecycle.restart(host, click.echo)


# --- status / drill -------------------------------------------------------------------------


def _console() -> Any:
    from rich.console import Console  # noqa: PLC0415

    return Console()


STATUS_REFRESH_S = 2.0


@main.command()
@inventory_option
@click.option("--format", "fmt", type=click.Choice(["pretty", "json"]), default="pretty",
              show_default=True,
              help="json: one document (with --watch: one compact document per line).")
@click.option("--once", "watch", flag_value=False, default=False,
              help="Read the cluster once and exit with its health (the default).")
@click.option("--watch", "watch", flag_value=True,
              help=f"Refresh every {STATUS_REFRESH_S:.0f} s until Ctrl-C, which exits with the "
                   "last reading's health.")
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def status(inventory: str, fmt: str, watch: bool, vault_password_file: str | None) -> None:
    """One screen: VIP owner, edge engines, dispatcher sets per shard, registrations,
    database health, each FreeSWITCH feature server's calls (and whether it is drained).

    \b
    Exit code (for monitoring checks):
      0  healthy: no problem found
      1  degraded: calls are served, something is wrong (an edge node, a destination,
         a database node, an unreadable part)
      2  down or split brain: no single VIP holder, its engine does not answer, a shard
         has no usable server, no healthy database node; also an inventory that cannot
         be read or is not valid
    """
    from clusterctl import faults  # noqa: PLC0415
    from clusterctl import status as cluster_status  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    try:
        cluster = check_inventory(inventory, vault_password_file)
        backend = faults.drill_backend(cluster)
    except ClusterctlError as exc:
        # An invalid inventory would exit with 1, which a monitoring check reads as
        # "degraded": a status that cannot even be read is reported as down.
        raise ClusterctlError(exc.message, cluster_status.DOWN) from exc
    read = cluster_status.reader(cluster, backend)
    if not watch:
        now = read()
        if fmt == "json":
            click.echo(cluster_status.to_json(now), nl=False)
        else:
            cluster_status.print_status(_console(), now)
        sys.exit(cluster_status.verdict(now))
    import time  # noqa: PLC0415

    from rich.live import Live  # noqa: PLC0415

    now = read()
    try:
        if fmt == "json":
            while True:
                click.echo(cluster_status.to_json(now, compact=True), nl=False)
                time.sleep(STATUS_REFRESH_S)
                now = read()
        with Live(cluster_status.render(now), console=_console()) as view:
            while True:
                time.sleep(STATUS_REFRESH_S)
                now = read()
                view.update(cluster_status.render(now))
    except KeyboardInterrupt:
        # Ctrl-C is how a watch ends, not a failure: report the state last seen.
        sys.exit(cluster_status.verdict(now))


# --- drain / undrain ------------------------------------------------------------------------


def _drainer(inventory: str, host: str, vault_password_file: str | None) -> Any:
    from clusterctl.errors import BadInput  # noqa: PLC0415
    from clusterctl.freeswitch import drain as fs_drain  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    password = cluster.secret("fs_esl_password")
    if not password:
        raise BadInput(
            "fs_esl_password cannot be read from the inventory: set it, and pass "
            "--vault-password-file when it is vaulted"
        )
    return fs_drain.for_host(cluster, host, password)


@main.command()
@inventory_option
@click.argument("host")
@click.option("--deadline", type=click.FloatRange(min=0), default=300.0, show_default=True,
              help="Seconds to wait for the server's calls to end.")
@click.option("--force", is_flag=True,
              help="Drain it even when it is the last available server of its shard.")
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def drain(inventory: str, host: str, deadline: float, force: bool,
          vault_password_file: str | None) -> None:
    """Take feature server HOST out gracefully: inactive on every edge node, new calls
    refused on it (503, so they fail over), then wait until its calls have ended.

    \b
    Exit code: 0 drained; 1 calls still up at the deadline (it stays out of the
    selection), or refused because the shard's other server is not available on every edge
    node (--force drains it anyway), or a step failed (the message names what was already
    changed); 2 bad input (not a feature server, unreadable password).
    """
    from clusterctl.freeswitch import drain as fs_drain  # noqa: PLC0415

    report = _drainer(inventory, host, vault_password_file).drain(
        host, deadline_s=deadline, force=force
    )
    for line in fs_drain.describe(report):
        click.echo(line)
    sys.exit(0 if report.drained else 1)


@main.command()
@inventory_option
@click.argument("host")
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def undrain(inventory: str, host: str, vault_password_file: str | None) -> None:
    """Bring drained feature server HOST back: it accepts calls again, then every edge node
    selects it."""
    from clusterctl.freeswitch import drain as fs_drain  # noqa: PLC0415

    for line in fs_drain.describe(_drainer(inventory, host, vault_password_file).undrain(host)):
        click.echo(line)


@main.group()
def drill() -> None:
    """Failover drills: inject a fault, measure the cluster's reaction, restore."""


def _drill_options(func: F) -> F:
    for option in reversed([
        inventory_option,
        click.option("--runs", type=click.IntRange(1, 100), default=1, show_default=True,
                     help="Runs in a row (each with its own fault and restore)."),
        click.option("--yes", is_flag=True, help="Do not ask for confirmation (non-lab)."),
        click.option("--dry-run", is_flag=True, help="Print what would be done to which host."),
        click.option("--format", "fmt", type=click.Choice(["pretty", "json", "junit"]),
                     default="pretty", show_default=True, help="What to print at the end."),
        click.option("--vault-password-file", type=click.Path(path_type=str), default=None),
    ]):
        func = option(func)
    return func


def _run_drill(cluster: Any, built: Any, opts: dict[str, Any]) -> None:
    from clusterctl import paths  # noqa: PLC0415
    from clusterctl.drills import build, report  # noqa: PLC0415
    from clusterctl.drills.report.junit import to_junit  # noqa: PLC0415
    from clusterctl.drills.report.terminal import print_report  # noqa: PLC0415

    if opts["dry_run"]:
        for line in build.dry_run_lines(built):
            click.echo(line)
        return
    if not cluster.is_lab and not opts["yes"]:
        click.confirm(
            f"inject real faults into cluster {cluster.settings.cluster_name} "
            "(not a lab inventory)?",
            abort=True,
        )
    params = {k: v for k, v in opts.items() if k not in ("dry_run", "yes", "fmt")}
    done, where = build.run_and_report(cluster, built, opts["runs"], params, paths.runs_dir())
    if opts["fmt"] == "json":
        click.echo(report.to_json(done), nl=False)
    elif opts["fmt"] == "junit":
        click.echo(to_junit(done), nl=False)
    else:
        print_report(_console(), done)
    click.echo(f"reports: {where}", err=opts["fmt"] != "pretty")
    if done.verdict == "aborted":
        raise ClusterctlError(f"drill aborted (Ctrl-C); reports: {where}", build.EXIT_ABORTED)
    if done.verdict != "pass":
        raise ClusterctlError(f"drill {built.name} failed; reports: {where}")


# What drill failover, web and db can do to their target (clusterctl.faults.DrillFaults).
_service_fault = click.option(
    "--fault", type=click.Choice(SERVICE_FAULTS), default="kill",
    show_default=True, help="stop or kill the node's service, freeze or cut the whole node.")


@drill.command("failover")
@_drill_options
@click.option("--target", required=True, metavar="HOST", help="The feature server to fail.")
@_service_fault
@click.option("--no-traffic", is_flag=True,
              help="No background calls: detection by the edge's probing alone (idle).")
def drill_failover(inventory: str, target: str, fault: str, no_traffic: bool,
                   vault_password_file: str | None, **opts: Any) -> None:
    """A feature server fails: detection, failed calls, re-inclusion, flaps."""
    from clusterctl.drills import build  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    built = build.failover_drill(cluster, target, fault, traffic=not no_traffic)
    _run_drill(cluster, built,
               {**opts, "target": target, "fault": fault, "traffic": not no_traffic})


@drill.command("vip")
@_drill_options
@click.option("--fault", type=click.Choice(VIP_FAULTS),
              default="kill", show_default=True,
              help="What happens to the node that holds the VIP.")
def drill_vip(inventory: str, fault: str, vault_password_file: str | None,
              **opts: Any) -> None:
    """The active edge node fails: VIP takeover, registrations, BYE, split brain."""
    from clusterctl.drills import build  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    built = build.vip_drill(cluster, fault)
    _run_drill(cluster, built, {**opts, "fault": fault})


@drill.command("web")
@_drill_options
@click.option("--target", required=True, metavar="HOST", help="The web node to fail.")
@_service_fault
def drill_web(inventory: str, target: str, fault: str, vault_password_file: str | None,
              **opts: Any) -> None:
    """A web node fails: HAProxy takes it out and back, failed lookups, failed calls."""
    from clusterctl.drills import build  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    built = build.web_drill(cluster, target, fault)
    _run_drill(cluster, built, {**opts, "target": target, "fault": fault})


# --- chaos ----------------------------------------------------------------------------------


@main.command()
@inventory_option
@click.option("--duration", default="300", show_default=True, metavar="SECONDS",
              help="Faults start during this long (60-86400); the run ends once the last "
                   "one has healed.")
@click.option("--seed", default=None, metavar="INT",
              help="Replays the same schedule of faults (default: a random one, printed).")
@click.option("--tiers", default=None, metavar="LIST",
              help="Comma-separated tiers to fault: edge, feature, db, web, storage "
                   "(default: every tier this inventory has).")
@click.option("--max-concurrent-faults", "max_concurrent", default="1", show_default=True,
              metavar="N", help="Faults in place at once, each on its own tier.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation (non-lab).")
@click.option("--dry-run", is_flag=True, help="Print the schedule; touch nothing.")
@click.option("--format", "fmt", type=click.Choice(["pretty", "json", "junit"]),
              default="pretty", show_default=True, help="What to print at the end.")
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def chaos(*, inventory: str, duration: str, seed: str | None, tiers: str | None,
          max_concurrent: str, yes: bool, dry_run: bool, fmt: str,
          vault_password_file: str | None) -> None:
    """A seeded sequence of faults across the tiers under call traffic, each fault run as
    its tier's drill and healed before the next.

    \b
    Exit code: 0 every fault healed, failed calls <= 0.1 %, no registration lost;
    1 otherwise (the reports say which fault), or the cluster was not healthy at the start
    (nothing touched); 2 bad input; 130 interrupted (the fault in place was restored).
    """
    import secrets  # noqa: PLC0415
    import time  # noqa: PLC0415

    from clusterctl import paths  # noqa: PLC0415
    from clusterctl.drills import build  # noqa: PLC0415
    from clusterctl.drills import chaos as chaos_run  # noqa: PLC0415
    from clusterctl.drills.report import chaos as chaos_report  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    available = build.chaos_tiers(cluster)
    duration_s, seed_value, chosen, concurrent = chaos_run.parse_options(
        duration, str(secrets.randbelow(10**9)) if seed is None else seed, tiers,
        max_concurrent, available)
    for tier, why in available.items():
        if tier not in chosen and why is not None:
            click.echo(f"tier {tier} left out: {why}", err=True)
    runner, faulted = build.chaos_runner(cluster, chosen,
                                         lambda line: click.echo(line, err=True))
    plan = chaos_run.schedule(seed_value, faulted, concurrent)
    click.echo(f"chaos seed {seed_value}: {duration_s:g} s, at most {concurrent} fault(s) at "
               "a time; " + "; ".join(f"{t.name} ({', '.join(t.faults)})"
                                      for t in faulted.values()), err=True)
    if dry_run:
        for fault in chaos_run.dry_run(plan, duration_s):
            click.echo(f"would run {fault.describe()}")
        return
    if not cluster.is_lab and not yes:
        click.confirm(f"inject real faults into cluster {cluster.settings.cluster_name} "
                      f"(not a lab inventory) for about {duration_s:g} s?", abort=True)
    result = runner.run(plan, chaos_run.ChaosRun(seed_value, duration_s, chosen, concurrent,
                                                 time.time()))
    where = chaos_report.write_all(result, cluster.settings.cluster_name, paths.runs_dir())
    if fmt == "json":
        click.echo(chaos_report.to_json(result, cluster.settings.cluster_name), nl=False)
    elif fmt == "junit":
        click.echo(chaos_report.to_junit(result), nl=False)
    else:
        chaos_report.print_report(_console(), result)
    click.echo(f"reports: {where}", err=fmt != "pretty")
    if result.verdict == "aborted":
        raise ClusterctlError(f"chaos aborted (Ctrl-C); reports: {where}", build.EXIT_ABORTED)
    if result.verdict != "pass":
        raise ClusterctlError(f"chaos seed {seed_value} failed; reports: {where}")


# --- provision ------------------------------------------------------------------------------


@main.group()
def provision() -> None:
    """Tenants from declarative files: users, voicemail, ring groups, IVRs, queues, DIDs."""


def _provision_options(func: F) -> F:
    for option in reversed([
        click.option("-f", "--file", "file", required=True, type=click.Path(path_type=str),
                     help="The tenant file (YAML)."),
        inventory_option,
        click.option("--prune", is_flag=True,
                     help="Delete what the database has for the tenant and the file lacks."),
        click.option("--vault-password-file", type=click.Path(path_type=str), default=None),
    ]):
        func = option(func)
    return func


@provision.command("diff")
@_provision_options
def provision_diff(file: str, inventory: str, prune: bool,
                   vault_password_file: str | None) -> None:
    """What applying FILE would change (writes nothing)."""
    from pathlib import Path  # noqa: PLC0415

    from clusterctl.provision import command  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    with command.open_store(cluster) as store:
        plan, _ = command.plan_file(Path(file), cluster, store, prune=prune)
    for line in plan.lines():
        click.echo(line)
    click.echo(f"tenant {plan.tenant_id}: " + (
        "no change" if plan.empty else f"{len(plan.changes)} change(s) to apply"))


@provision.command("apply")
@_provision_options
def provision_apply(file: str, inventory: str, prune: bool,
                    vault_password_file: str | None) -> None:
    """Write FILE's changes in one transaction; flush changed users on the tenant's shard."""
    from pathlib import Path  # noqa: PLC0415

    from clusterctl.provision import command  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    with command.open_store(cluster) as store:
        done = command.apply_file(Path(file), cluster, store, command.default_flusher(cluster),
                                  prune=prune)
    for line in done.plan.lines():
        click.echo(line)
    if done.plan.empty:
        click.echo(f"tenant {done.plan.tenant_id}: no change")
        return
    click.echo(f"tenant {done.plan.tenant_id}: {len(done.plan.changes)} change(s) applied; "
               f"{len(done.plan.stale_users)} user(s) flushed on {', '.join(done.hosts)}")
    if done.flushed.failures:
        failed = "; ".join(f"{h}: {why}" for h, why in sorted(done.flushed.failures.items()))
        raise ClusterctlError(f"written, but the cache flush failed on {failed}")


@provision.command("export")
@inventory_option
@click.option("--tenant", default=None, help="Only this tenant (default: every stored one).")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=str),
              help="Directory for the <tenant>.yml files.")
@click.option("--vault-password-file", type=click.Path(path_type=str), default=None)
def provision_export(inventory: str, tenant: str | None, output: str,
                     vault_password_file: str | None) -> None:
    """The database back to tenant files (digests only, never passwords)."""
    from pathlib import Path  # noqa: PLC0415

    from clusterctl.provision import command  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    with command.open_store(cluster) as store:
        written = command.export_tenants(cluster, store, tenant, Path(output))
    for path in written:
        click.echo(f"wrote {path}")


@drill.command("db")
@_drill_options
@click.option("--target", required=True, metavar="HOST", help="The database node to fail.")
@_service_fault
def drill_db(inventory: str, target: str, fault: str, vault_password_file: str | None,
             **opts: Any) -> None:
    """A database node fails: REGISTERs, calls and lookups go on, writes resume, none lost."""
    from clusterctl.drills import build  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    cluster = check_inventory(inventory, vault_password_file)
    built = build.db_drill(cluster, target, fault)
    _run_drill(cluster, built, {**opts, "target": target, "fault": fault})
