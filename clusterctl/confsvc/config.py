"""The configuration service's own config file (YAML), e.g. ``/etc/clusterctl/confsvc.yml``::

    database:
      hosts: ["10.20.0.31:3306", "10.20.0.32:3306"]   # tried in order, the next on failure
      name: clusterctl_config
      user: config
      password_file: /etc/clusterctl/confsvc-db.secret  # the password alone; 0640 root:www-data
      pool_size: 8
      timeout_s: 0.3
      retry_s: 10             # a node that failed gets one trial connection this often
    clients:                   # the feature servers allowed to ask, and the shard each serves
      fs1a: {address: 10.20.0.21, shard: shard1}
      fs1b: {address: 10.20.0.22, shard: shard1}
    health_clients: [127.0.0.1]  # may GET /health (HAProxy's checks)
    trusted_proxies: []          # peers whose X-Forwarded-For names the client (HAProxy)
    edge: {vip: 10.20.0.10, port: 5060}
    sofia_profile: internal
    directory_cache_ms: 300000
    max_body_bytes: 65536

Failure modes: an unreadable file, unknown keys, bad values or an unreadable password file
raise ConfigError naming the file and the key; the password itself is never in a message.
"""

from __future__ import annotations

import re
import sys
from ipaddress import IPv4Address, ip_address
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from clusterctl.db.connect import DEFAULT_PORT, Endpoint
from clusterctl.errors import BadInput


class ConfigError(BadInput):
    """The service's config file is missing, malformed or incomplete."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


HostPort = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9.-]{1,253}(:[0-9]{1,5})?$")]
DbName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,64}$")]


class Database(_Strict):
    """Where the configuration tables are and how to log in."""

    hosts: list[HostPort] = Field(min_length=1)
    name: DbName = "clusterctl_config"
    user: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]{1,32}$")] = "config"
    password_file: Path
    pool_size: int = Field(default=8, ge=1, le=128)
    timeout_s: float = Field(default=0.3, gt=0, le=30)
    retry_s: float = Field(default=10.0, gt=0, le=3600)

    def endpoints(self) -> list[Endpoint]:
        """The hosts as endpoints, in failover order."""
        out = []
        for item in self.hosts:
            host, _, port = item.partition(":")
            out.append(Endpoint(host, int(port) if port else DEFAULT_PORT))
        return out


class Client(_Strict):
    """A feature server allowed to ask, and the shard it serves."""

    address: IPv4Address
    shard: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")]


class Edge(_Strict):
    """The edge's virtual IP: every call to a phone or out of the cluster goes through it."""

    vip: IPv4Address
    port: int = Field(default=5060, ge=1, le=65535)


class DialRule(_Strict):
    """A class of outbound numbers and the tenant permission it needs."""

    permission: Annotated[
        str, StringConstraints(pattern=r"^(local|national|international|premium)$")
    ]
    pattern: str


# Checked in order, the first match wins; numbers are what the user dialled.
DEFAULT_DIAL_RULES = (
    DialRule(permission="premium", pattern=r"^(\+|00)?(1900|0900|09)[0-9]{4,12}$"),
    DialRule(permission="international", pattern=r"^(\+|00)[1-9][0-9]{5,14}$"),
    DialRule(permission="national", pattern=r"^0[1-9][0-9]{5,12}$"),
    DialRule(permission="local", pattern=r"^[2-9][0-9]{4,7}$"),
)


class ServiceConfig(_Strict):
    """Everything the service reads at start-up."""

    database: Database
    clients: dict[str, Client] = Field(min_length=1)
    health_clients: list[IPv4Address] = [IPv4Address("127.0.0.1")]
    trusted_proxies: list[IPv4Address] = []
    edge: Edge
    sofia_profile: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,32}$")] = (
        "internal"
    )
    # FreeSWITCH keeps a user's directory entry this long (ms); provisioning flushes it sooner.
    directory_cache_ms: int = Field(default=300_000, ge=0)
    max_body_bytes: int = Field(default=65_536, ge=1024, le=4_194_304)
    dial_rules: tuple[DialRule, ...] = DEFAULT_DIAL_RULES
    # Always routed out, whatever the tenant's permissions.
    emergency_numbers: tuple[Annotated[str, StringConstraints(pattern=r"^[0-9]{2,6}$")], ...] = (
        "112",
        "911",
    )

    def client_named(self, address: str) -> tuple[str, Client] | None:
        """The client entry of ``address``, or None."""
        try:
            wanted = ip_address(address)
        except ValueError:
            return None
        for name, client in self.clients.items():
            if client.address == wanted:
                return name, client
        return None

    def compiled_rules(self) -> list[tuple[str, re.Pattern[str]]]:
        """The dial rules with their patterns compiled."""
        return [(rule.permission, re.compile(rule.pattern)) for rule in self.dial_rules]


def load_config(path: Path) -> ServiceConfig:
    """Read and check the config file; raises ConfigError."""
    try:
        raw: Any = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"confsvc config {path}: cannot read ({exc.strerror})") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"confsvc config {path}: not valid YAML ({exc})") from None
    try:
        config = ServiceConfig.model_validate(raw)
        for rule in config.dial_rules:
            re.compile(rule.pattern)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"confsvc config {path}: {where}: {first['msg']}") from None
    except re.error as exc:
        raise ConfigError(f"confsvc config {path}: dial_rules: bad pattern ({exc})") from None
    return config


def read_password(config: ServiceConfig) -> str:
    """The database password from its file (first line); raises ConfigError."""
    path = config.database.password_file
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"database password file {path}: cannot read ({exc.strerror})") from None
    password = text.splitlines()[0].strip() if text.strip() else ""
    if not password:
        raise ConfigError(f"database password file {path}: empty")
    return password


def main(argv: list[str]) -> int:
    """``python3 -m clusterctl.confsvc.config FILE``: 0 when the service would accept FILE,
    else 1 with the reason on one line (the web tier role's template check)."""
    if len(argv) != 1:
        print("usage: python3 -m clusterctl.confsvc.config FILE", file=sys.stderr)
        return 2
    try:
        load_config(Path(argv[0]))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
