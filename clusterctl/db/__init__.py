"""The database tier seen from clusterctl: per-node health (status, drills).

Names the roles and clusterctl share (roles/mariadb defaults): the service, the monitor user
that ``status`` and the drills connect as, and the operations table the drills write.
"""

DB_UNIT = "mariadb"
MONITOR_USER = "monitor"
# The operations database and the drills' audit table (roles/mariadb/files/migrations/ops).
OPS_DATABASE = "clusterctl_ops"
AUDIT_TABLE = f"{OPS_DATABASE}.drill_audit"
