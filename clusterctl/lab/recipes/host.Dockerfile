# The lab's host layer: what every lab host shares on top of the debootstrapped base.
# Roles must still install what they need (chrony, python3-apt, ...): nothing a role depends
# on is pre-installed here, so the lab cannot hide a missing install step.
ARG BASE
FROM ${BASE}

# systemd's "halt" signal: `docker stop` shuts the host down cleanly. Set here because
# `docker import --change STOPSIGNAL` is refused by Debian 12's engine (20.10).
STOPSIGNAL SIGRTMIN+3
CMD ["/lib/systemd/systemd"]

# Every service in a cpu cgroup below its own container's. Without CPU accounting, systemd
# (each lab host's PID 1) leaves its services in the root of the host's v1 cpu hierarchy, so
# every process of every lab host competes alone: OpenSIPS workers spinning on a lock while
# the contact write-back waited for a silent database node (drill db) took both cores from
# the database and web hosts. With it each lab host gets its share, as a machine of its own
# would (the lab weighs the containers' parent group, see clusterctl/lab/lifecycle.py).
RUN mkdir -p /etc/systemd/system.conf.d \
 && printf '[Manager]\nDefaultCPUAccounting=yes\n' \
      > /etc/systemd/system.conf.d/clusterctl-lab-cpu.conf

# ARG, not ENV: the setting must not leak into the hosts' environment.
ARG DEBIAN_FRONTEND=noninteractive

# iputils-ping and netcat-openbsd: the lab's own fault checks probe one host from another.
# The --download-only line fills apt's package cache with the heaviest packages several hosts
# install (MariaDB + Galera on databases, GlusterFS on storage hosts, keepalived on the edge)
# without installing them: roles still run `apt install`, they just skip the download.
RUN apt-get update \
 && apt-get install -y --no-install-recommends iputils-ping netcat-openbsd \
 && apt-get install -y --no-install-recommends --download-only \
      mariadb-server galera-4 glusterfs-server glusterfs-client keepalived \
 && rm -rf /var/lib/apt/lists/* \
 && journalctl --update-catalog \
 && touch /etc/.updated /var/.updated
# The last two lines do at build time what ldconfig.service, systemd-journal-catalog-update
# and systemd-update-done would otherwise redo at every host's first boot (/usr changed).
