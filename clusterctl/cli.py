"""The ``clusterctl`` command line: argument parsing only; the work lives in the modules."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

import click

from clusterctl import __version__
from clusterctl.errors import ClusterctlError

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

    from clusterctl import progress, runner  # noqa: PLC0415
    from clusterctl.errors import BadInput  # noqa: PLC0415
    from clusterctl.validate import check_inventory  # noqa: PLC0415

    if not Path(inventory).exists():
        raise BadInput(f"inventory not found: {inventory}")
    book = runner.resolve_playbook(playbook)
    check_inventory(inventory, vault_password_file)

    console = Console()

    def say(line: str) -> None:
        console.print(line, markup=False, highlight=False, soft_wrap=True)

    with progress.make_view(console) as view:
        result = runner.run_playbook(
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

# --- status / drill -------------------------------------------------------------------------
