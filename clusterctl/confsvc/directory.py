"""``section=directory``: users and voicemail boxes of a tenant's domain.

What is answered (docs/confsvc.md has the reasons):
- user lookups (``user_call``, ``voicemail-lookup``, ``message-count``, ``user_exists``, plain
  ``switch_xml_locate_user``): the user with its variables, a ``dial-string`` that reaches the
  phone through the edge, and, when it has a box, ``vm-a1-hash`` (MD5(mailbox:domain:PIN),
  which mod_voicemail checks instead of a clear ``vm-password``). The ``<user>`` carries
  ``cacheable`` so FreeSWITCH keeps it; provisioning flushes it after a change.
- ``action=sip_auth`` and ``reverse-auth-lookup``: not found. Phones authenticate at the edge;
  feature servers accept the edge by ACL and never challenge, so they get no digest secret
  (an HA1 on every feature server would be a password-equivalent copy for nothing).
- gateways, network lists, domain-only lookups: not found (the static XML has them).
The tenant is the domain's tenant; an ``X-Tenant-Id`` the edge stamped must agree, and the
asking feature server must serve the tenant's shard. Anything else: not found.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from clusterctl.confsvc import xmlout
from clusterctl.confsvc.config import ServiceConfig
from clusterctl.confsvc.repository import DirectoryEntry, Repository
from clusterctl.confsvc.request import Asker, XmlCurlRequest
from clusterctl.provision.state import TenantRow

REFUSED_ACTIONS = ("sip_auth", "reverse-auth-lookup")
USER_ID_MAX = 64


def edge_dial_string(config: ServiceConfig, tenant: TenantRow, sip_user: str,
                     fs_name: str) -> str:
    """The endpoint that reaches ``sip_user`` of ``tenant`` through the edge VIP.

    FreeSWITCH has no registrations: ``fs_path`` makes the edge the outbound proxy while the
    request URI stays user@domain; the edge finds the contact and checks the tenant header.
    """
    headers = (f"sip_invite_domain={tenant.domain},sip_h_X-Tenant-Id={tenant.id},"
               f"sip_h_X-FS-Id={fs_name}")
    return (f"{{{headers}}}sofia/{config.sofia_profile}/{sip_user}@{tenant.domain}"
            f";fs_path=sip:{config.edge.vip}:{config.edge.port}")


def lookup(request: XmlCurlRequest, asker: Asker, config: ServiceConfig,
           repo: Repository) -> bytes | None:
    """The directory document for ``request``, or None for not found."""
    if request.get("action") in REFUSED_ACTIONS or request.get("purpose"):
        return None
    user_id = request.get("user")
    domain = request.get("domain") or (
        request.get("key_value") if request.get("tag_name") == "domain" else "")
    if not user_id or not domain or len(user_id) > USER_ID_MAX:
        return None
    entry = repo.directory(domain, user_id)
    if entry is None or entry.tenant.shard != asker.shard:
        return None
    stamped = request.get("X-Tenant-Id")
    if stamped and stamped != entry.tenant.id:
        return None
    if entry.user is None and entry.mailbox is None:
        return None
    return _document(config, entry, user_id, asker.name)


def _document(config: ServiceConfig, entry: DirectoryEntry, user_id: str,
              fs_name: str) -> bytes:
    tenant, user, box = entry.tenant, entry.user, entry.mailbox
    root, section = xmlout.document("directory")
    domain = ET.SubElement(section, "domain", name=tenant.domain)
    users = ET.SubElement(domain, "users")
    attrs = {"id": user_id}
    if config.directory_cache_ms:
        attrs["cacheable"] = str(config.directory_cache_ms)
    element = ET.SubElement(users, "user", attrs)
    params: list[tuple[str, str]] = []
    variables: list[tuple[str, str]] = [
        ("tenant_id", tenant.id),
        ("accountcode", tenant.id),
        ("toll_allow", ",".join(tenant.permissions)),
    ]
    if user is not None:
        params.append(("dial-string", edge_dial_string(config, tenant, user.username, fs_name)))
        variables += [
            ("effective_caller_id_name", xmlout.literal(user.display_name)),
            ("effective_caller_id_number", user.extension),
        ]
        if user.caller_id:
            variables.append(("outbound_caller_id_number", user.caller_id))
    # mod_voicemail hashes the id it looked up: the box numbered like the id is the one.
    if box is not None:
        params += [("vm-enabled", "true"), ("vm-a1-hash", box.pin_hash)]
        if box.email:
            params.append(("vm-mailto", xmlout.literal(box.email)))
    else:
        params.append(("vm-enabled", "false"))
    xmlout.params(element, "param", params)
    xmlout.params(element, "variable", variables)
    return xmlout.serialize(root)
