"""The database tier seen from clusterctl: per-node health (status, drills)."""
