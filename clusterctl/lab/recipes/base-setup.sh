#!/bin/sh
# Runs inside the debootstrapped root (chroot) before it is imported as the lab's base image.
# Every line makes one container behave like one separate server.
set -eu

# One machine-id per container: systemd writes a fresh one at first boot when the file is empty
# (journald, DHCP client ids and Gluster peers otherwise collide between hosts).
: > /etc/machine-id
rm -f /var/lib/dbus/machine-id

# One SSH host key per container, made at first boot; keys baked into the image would be
# shared by every host. Only ed25519: `ssh-keygen -A` also makes an RSA key, which took 5 s of
# CPU per host and dominated the boot of a dozen hosts on two cores.
rm -f /etc/ssh/ssh_host_*
cat > /etc/ssh/sshd_config.d/clusterctl-lab-hostkey.conf <<'CONF'
# clusterctl lab image: this host has an ed25519 host key only.
HostKey /etc/ssh/ssh_host_ed25519_key
CONF
cat > /etc/systemd/system/clusterctl-ssh-hostkeys.service <<'UNIT'
[Unit]
Description=Generate this host's SSH host key (clusterctl lab image)
Before=ssh.service
ConditionPathExists=!/etc/ssh/ssh_host_ed25519_key

[Service]
Type=oneshot
ExecStart=/usr/bin/ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key

[Install]
WantedBy=multi-user.target
UNIT
systemctl enable clusterctl-ssh-hostkeys.service ssh.service

# Units that need a console, udev or kernel mounts a container does not have; left enabled they
# only fail and leave the host "degraded", which hides real failures.
systemctl mask \
  getty@tty1.service console-getty.service \
  systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
  systemd-udev-trigger.service systemd-firstboot.service systemd-remount-fs.service \
  sys-kernel-config.mount sys-kernel-debug.mount sys-kernel-tracing.mount dev-hugepages.mount

apt-get clean
rm -rf /var/lib/apt/lists/* /var/log/*.log /var/cache/debconf/*-old
