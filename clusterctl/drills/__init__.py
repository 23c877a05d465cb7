"""Failover drills: steady state -> inject -> observe -> restore -> steady state -> verdict.

``run`` holds the shape, ``failover``, ``vip``, ``web`` and ``db`` the drills, ``chaos`` a
seeded sequence of them across the tiers, ``analysis`` the pure
measurements, ``observe`` the observation stream and its live pollers, ``live`` the fault,
traffic and edge layers, ``thresholds`` the limits and ``report`` the outputs.
"""

# The fault kinds the drills name: on a service's node (drill failover, web, db) and on the
# node holding the VIP (drill vip). clusterctl.faults.DrillFaults maps them onto primitives.
SERVICE_FAULTS = ("stop", "kill", "freeze", "netcut")
VIP_FAULTS = ("kill", "stop-keepalived", "freeze", "netcut")
