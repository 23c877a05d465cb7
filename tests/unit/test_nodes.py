"""clusterctl.nodes: what status and the drills use to read the cluster's nodes."""

from __future__ import annotations

from test_drill_observe import IP_O_ADDR

from clusterctl.nodes import holds_address, host_of_uri


def test_holds_address_on_ip_o_addr_output():
    assert holds_address(IP_O_ADDR, "10.77.0.10")
    assert holds_address(IP_O_ADDR, "10.77.0.11")
    assert not holds_address(IP_O_ADDR, "10.77.0.1")  # a prefix of another address


def test_host_of_uri():
    lookup = host_of_uri({"10.77.0.21": "fs1a"})
    assert lookup("sip:10.77.0.21:5060") == "fs1a"
    assert lookup("sip:fs@10.77.0.21;transport=udp") == "fs1a"
    assert lookup("sip:10.77.0.99:5060") is None
