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

# --- lab ------------------------------------------------------------------------------------

# --- status / drill -------------------------------------------------------------------------
