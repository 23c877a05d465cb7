"""Dropping FreeSWITCH's cached directory entries over the event socket after provisioning.

``xml_flush_cache id USER DOMAIN`` on every feature server of the tenant's shard: FreeSWITCH
caches each user's directory XML per node (``cacheable``), and ``reloadxml`` does not clear it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from clusterctl.freeswitch.esl import EslError, FreeSwitchClient
from clusterctl.model import Cluster
from clusterctl.provision.flush import FlushResult

ClientOf = Callable[[str], FreeSwitchClient]


class EslFlusher:
    """A CacheFlusher over each feature server's event socket.

    A host that cannot be reached, refuses the password or answers ``-ERR`` is reported in the
    result with the client's one-line reason (its cache died with it, or the entries expire by
    age); the other hosts are still flushed.
    """

    def __init__(self, client_of: ClientOf) -> None:
        self._client_of = client_of

    def flush(self, entries: Sequence[tuple[str, str]], hosts: Sequence[str]) -> FlushResult:
        """Flush every (user, domain) of ``entries`` on every host."""
        failures: dict[str, str] = {}
        for host in hosts:
            client = self._client_of(host)
            try:
                for user, domain in entries:
                    client.flush_xml_cache(user, domain)
            except EslError as exc:
                failures[host] = str(exc)
        return FlushResult(failures)


def esl_flusher(cluster: Cluster, password: str) -> EslFlusher:
    """An EslFlusher reaching each feature server at its inventory address."""
    return EslFlusher(lambda host: FreeSwitchClient(str(cluster.hosts[host].address), password))
