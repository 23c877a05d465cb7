"""clusterctl: build, operate and drill highly available multi-tenant class-5 VoIP clusters."""

__version__ = "0.1.0"
