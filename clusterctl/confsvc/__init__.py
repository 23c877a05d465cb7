"""The configuration service: FreeSWITCH's directory and dialplan over mod_xml_curl.

``app`` is the WSGI application, ``directory`` and ``dialplan`` build the documents,
``repository`` reads MariaDB through ``pool``, ``config`` reads the service's config file and
``wsgi`` is the entry point Apache's mod_wsgi loads (docs/confsvc.md).
"""
