"""What a running task's output says so far (``toolbox.tools.live``): the figures its row shows."""

from toolbox.tools.live import live_reading

PING_SO_FAR = ("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n"
               "64 bytes from 127.0.0.1: icmp_seq=1 ttl=64 time=0.036 ms\n"
               "64 bytes from 127.0.0.1: icmp_seq=2 ttl=64 time=0.051 ms\n")
TRACE_SO_FAR = ("traceroute to 10.9.8.7 (10.9.8.7), 30 hops max, 60 byte packets\n"
                " 1  192.168.1.1  0.512 ms  0.433 ms  0.401 ms\n"
                " 2  10.0.0.1  3.210 ms  3.300 ms  3.105 ms\n")


def test_a_running_ping_counts_its_replies_and_its_last_round_trip():
    assert live_reading("ping", PING_SO_FAR, "127.0.0.1") == {"received": 2, "sent": 2, "last_rtt_ms": 0.051}
    assert live_reading("ping", PING_SO_FAR.splitlines()[0] + "\n") == {}  # no reply yet: nothing to say


def test_a_running_traceroute_counts_the_hops_found():
    assert live_reading("traceroute", TRACE_SO_FAR, "10.9.8.7") == {"hops": 2, "last_hop": "10.0.0.1"}


def test_nothing_yet_or_a_tool_without_live_figures_reads_as_nothing():
    assert live_reading("ping", "") == {} and live_reading("ping", "  \n") == {}
    assert live_reading(None, PING_SO_FAR) == {}
    assert live_reading("mtr", "Start: 2026-12-07T17:00:00+0000\n") == {}  # mtr -r prints its table at the end
    assert live_reading("curl", "HTTP/1.1 200 OK") == {}
