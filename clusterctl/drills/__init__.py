"""Failover drills: steady state -> inject -> observe -> restore -> steady state -> verdict.

``run`` holds the shape, ``failover`` and ``vip`` the two drills, ``analysis`` the pure
measurements, ``observe`` the observation stream and its live pollers, ``live`` the fault,
traffic and edge layers, ``thresholds`` the limits and ``report`` the outputs.
"""
