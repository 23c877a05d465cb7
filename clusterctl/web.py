"""The web tier's names and numbers, defined once: the roles get them through
clusterctl/role_inputs.py, the drills and tests read them here.

Apache serves the configuration service on each web node; HAProxy on each feature server is
FreeSWITCH's local front of the pair (docs/confsvc.md, "Web tier").
"""

WEB_GROUP = "web"
WEB_UNIT = "apache2"
CONFSVC_PORT = 8080
CONFSVC_PATH = "/freeswitch"
CONFSVC_PROXY_PORT = 8088
# HAProxy's health checks of the web nodes (roles/confsvc_proxy): one every INTER_MS, every
# FASTINTER_MS while a node is between states; out after FALL failed checks, back after RISE
# good ones. A check fails after CONNECT_TIMEOUT_MS without a connection or CHECK_TIMEOUT_MS
# more without an answer (without `timeout check` HAProxy would wait a whole INTER: a frozen
# node stayed in 3.6 s). `drill web` derives its limits from these.
CONFSVC_PROXY_CHECK_INTER_MS = 1000
CONFSVC_PROXY_CHECK_FASTINTER_MS = 250
CONFSVC_PROXY_CHECK_TIMEOUT_MS = 500
CONFSVC_PROXY_CHECK_FALL = 2
CONFSVC_PROXY_CHECK_RISE = 2
# Lookups: a node that does not accept within CONNECT_TIMEOUT_MS, or answer within
# SERVER_TIMEOUT_MS, is given up and the lookup retried once on the other node; both together
# stay under FreeSWITCH's xml_curl timeout (2 s).
CONFSVC_PROXY_CONNECT_TIMEOUT_MS = 300
CONFSVC_PROXY_SERVER_TIMEOUT_MS = 700
# The service's database timeout (connect, query, waiting for a pooled connection). A silent
# database node costs a lookup this long before the pool retries on the other node, and the
# health check pings the database the same way: it must stay well under CHECK_TIMEOUT_MS and
# SERVER_TIMEOUT_MS. `drill db` froze the node the pool used with 2 s here: every HAProxy took
# both web nodes out for 1.5 s (the health checks hung) and 70 lookups failed.
CONFSVC_DB_TIMEOUT_MS = 300
