"""The mod_wsgi entry point (``WSGIScriptAlias /freeswitch .../clusterctl/confsvc/wsgi.py``).

The config file is ``/etc/clusterctl/confsvc.yml`` unless the process environment names
another in ``CLUSTERCTL_CONFSVC_CONFIG`` (Apache's ``SetEnv`` does not reach os.environ under
mod_wsgi: keep the default path, or export the variable in Apache's envvars). A bad config
fails the import, so mod_wsgi logs it and answers 500 until it is fixed: nothing is served
half-configured.
"""

from __future__ import annotations

import os
from pathlib import Path

from clusterctl.confsvc.app import create_app
from clusterctl.confsvc.config import load_config

DEFAULT_CONFIG = Path("/etc/clusterctl/confsvc.yml")

application = create_app(
    load_config(Path(os.environ.get("CLUSTERCTL_CONFSVC_CONFIG", str(DEFAULT_CONFIG))))
)
