"""Declarative tenant provisioning: a YAML file per tenant -> the configuration and edge tables.

``spec`` reads and checks a tenant file (every error with its file and line), ``digest``
turns passwords and PINs into the hashes the database keeps, ``state`` and ``plan`` compare
what the file wants with what the database holds, ``store`` reads and writes the database
(MariaDB, or in memory for tests), ``flush`` tells feature servers to drop cached users and
``command`` strings it together for ``clusterctl provision``.
"""
