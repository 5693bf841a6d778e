"""IPv6 listeners are V6ONLY (docs/DESIGN.md, Receive connectors): a connector
bound to [::]:PORT takes no IPv4 connection on that port (Linux would map
them to it by default, net.ipv6.bindv6only=0), and a connector on
0.0.0.0:PORT binds beside it, at start and when added to a running service.
Must never: bind or connect beyond the loopback addresses.
"""
import socket

import pytest

from conftest import banner, free_port, wait_for


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1)")


def refused(host, port):
    try:
        socket.create_connection((host, port), timeout=5).close()
    except ConnectionRefusedError:
        return True
    return False


def both_families_free_port():
    for _ in range(20):
        port = free_port("::")  # [::] without V6ONLY: free in both families
        if refused("127.0.0.1", port) and refused("::1", port):
            return port
    pytest.skip("no port free in both families")


def test_ipv6_wildcard_takes_no_ipv4_and_an_ipv4_wildcard_binds_beside_it(instances):
    port = both_families_free_port()
    inst = instances("a", port=port, bind=[f"[::]:{port}"])
    inst.cmdlet("Set-ReceiveConnector", "Default mail", "-Banner", "220 six ready")
    inst.start()
    assert banner("::1", port) == "220 six ready"
    assert refused("127.0.0.1", port), "an IPv4 client reached the [::] listener"

    r = inst.cmdlet("New-ReceiveConnector", "-Name", "Four", "-Usage", "Custom", "-Bindings",
                    f"0.0.0.0:{port}", "-RemoteIPRanges", "0.0.0.0-255.255.255.255",
                    "-PermissionGroups", "AnonymousUsers", "-Banner", "220 four ready")
    wait_for(lambda: not refused("127.0.0.1", port), timeout=3,
             what=f"0.0.0.0:{port} to accept (the cmdlet said {r.stderr!r})")
    assert banner("127.0.0.1", port) == "220 four ready"
    assert banner("::1", port) == "220 six ready"

    # the same two sockets at start
    assert inst.stop() == 0
    inst.start()
    assert banner("127.0.0.1", port) == "220 four ready"
    assert banner("::1", port) == "220 six ready"
