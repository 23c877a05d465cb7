"""FreeSWITCH feature servers: the event socket client and drain/undrain."""
