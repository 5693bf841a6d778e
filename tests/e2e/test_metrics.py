"""Prometheus metrics (docs/metrics.md): TransportConfig MetricsBindings, GET /metrics.

What a user checks after setting it up: the scrape parses with the Prometheus
client's own parser (python3-prometheus-client), every family appears once, the
counts equal the mail sent, received, delivered, deferred and failed, the queue
gauge shows the message that waits, the commit histogram counted every commit,
the certificate's expiry is its notAfter. Off by default; switched on and off by
a reload; whatever reaches the port gets a clear answer or a closed connection,
and SMTP goes on meanwhile.

Mail goes to two next hops found in the DNS (unbound on loopback):
  b.test  A 127.0.0.1 -> a scripted SMTP server (no STARTTLS) that defers
          defer@b.test (451) and refuses bounce@b.test (550)
  c.test  A 127.0.0.1 -> a second postern instance (STARTTLS)
"""
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

import pki
from conftest import SLOW, client_context, free_port, message, wait_for
from peers import (ScriptedSMTP, Unbound, FAST_TIMERS, connect_refused, maildir,
                   receiver_instance, set_timers, stop_process)
from test_domain_security import make_a, make_b, submit_auth, tls_session

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PROMETHEUS = "/usr/bin/prometheus"


def fetch(port, path="/metrics", method="GET", data=None, timeout=10):
    """(status, headers, body) of one request; HTTP errors are answers too."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=data, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout * SLOW) as r:
            return r.status, r.headers, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read().decode()


def scrape(port):
    """The samples of one scrape: {(name, ((label, value), ...)): value}, after
    checking the answer's type and that every family is there once."""
    status, headers, text = fetch(port)
    assert status == 200, text
    assert headers["Content-Type"] == CONTENT_TYPE
    types = [line.split()[2] for line in text.splitlines() if line.startswith("# TYPE ")]
    assert len(types) == len(set(types)), "a family appears twice"
    samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0)


def total(samples, name, **labels):
    """The sum over every series of name whose labels include labels."""
    return sum(v for (n, ls), v in samples.items()
               if n == name and set(labels.items()) <= set(ls))


def raw_request(port, data, read_timeout=15):
    """Sends data as it is; returns everything the server wrote before it closed."""
    with socket.create_connection(("127.0.0.1", port), timeout=read_timeout * SLOW) as s:
        s.sendall(data)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            out += chunk
        return out


def status_of(answer):
    assert answer.startswith(b"HTTP/1.1 "), answer[:200]
    return int(answer.split(b" ", 2)[1])


def send(inst, sender, rcpt, tls=False):
    with inst.smtp() as c:
        c.ehlo("client.test")
        if tls:
            c.starttls(context=client_context())
            c.ehlo("client.test")
        c.sendmail(sender, [rcpt], message(sender=sender or "mailer-daemon@example.org", to=rcpt))


def cert_not_after(inst, thumbprint):
    """The certificate's notAfter as Python's ssl module reads it (not postern)."""
    path = os.path.join(inst.dir, "certs", thumbprint + ".pem")
    decoded = ssl._ssl._test_decode_cert(path)
    return ssl.cert_time_to_seconds(decoded["notAfter"])


@pytest.fixture
def dns(workdir):
    with Unbound(workdir, ["b.test. IN A 127.0.0.1", "c.test. IN A 127.0.0.1"]) as ub:
        yield ub


def replies(addr, n):
    if addr.startswith("defer@"):
        return "451 4.3.0 try again later"
    if addr.startswith("bounce@"):
        return "550 5.1.1 no such user"
    return "250 2.1.5 Ok"


def test_metrics_are_off_by_default(server):
    assert server.get("Get-TransportConfig")[0]["MetricsBindings"] == "{}"
    assert "listening on metrics" not in server.log()
    # nothing of the smtp process listens but the SMTP port
    smtp = server.children()["smtp"]
    inodes = {os.readlink(f"/proc/{smtp}/fd/{fd}")[8:-1]
              for fd in os.listdir(f"/proc/{smtp}/fd")
              if os.readlink(f"/proc/{smtp}/fd/{fd}").startswith("socket:[")}
    listening = []
    with open("/proc/net/tcp") as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                listening.append(int(fields[1].split(":")[1], 16))
    assert listening == [server.port]
    assert connect_refused("127.0.0.1", 9125)  # the documented example port


def test_scrape_counts_what_was_sent(instances, dns):
    b = receiver_instance(instances, "b", ["c.test"], ["user@c.test"])
    with ScriptedSMTP(rcpt_reply=replies) as peer:
        a = instances("a")
        a.cmdlet("New-AcceptedDomain", "-Name", "a.test", "-DomainName", "a.test")
        for d in ("b.test", "c.test"):
            a.cmdlet("New-AcceptedDomain", "-Name", d, "-DomainName", d, "-DomainType",
                     "ExternalRelay")
        a.cmdlet("New-SendConnector", "-Name", "ToB", "-AddressSpaces", "b.test",
                 "-DNSRoutingEnabled", "$true", "-Port", str(peer.port))
        a.cmdlet("New-SendConnector", "-Name", "ToC", "-AddressSpaces", "c.test",
                 "-DNSRoutingEnabled", "$true", "-Port", str(b.port))
        mport = free_port()
        a.cmdlet("Set-TransportConfig", "-ExternalDNSServers", dns.server,
                 "-UseExternalDNSServersEnabled", "$true", "-MetricsBindings",
                 f"127.0.0.1:{mport}")
        set_timers(a, **FAST_TIMERS)
        a.start()
        assert f"listening on metrics 127.0.0.1:{mport}" in a.log()

        send(a, "x@example.org", "ok@b.test")
        send(a, "x@example.org", "ok@b.test")
        send(a, "x@example.org", "ok@b.test", tls=True)
        send(a, "x@example.org", "defer@b.test")
        send(a, "", "bounce@b.test")  # a null sender: no report is committed
        send(a, "x@example.org", "user@c.test")


        def settled():
            s = scrape(mport)
            done = (value(s, "postern_deliveries_total", connector="ToB", result="delivered") == 3
                    and value(s, "postern_deliveries_total", connector="ToB", result="failed") == 1
                    and value(s, "postern_deliveries_total", connector="ToB", result="deferred")
                    and value(s, "postern_deliveries_total", connector="ToC", result="delivered")
                    and value(s, "postern_smtp_sessions_total", connector="Default mail",
                              result="quit") == 6)
            return s if done else None
        m = wait_for(settled, what="every delivery attempt and every session's end")
        assert len(peer.accepted()) == 3

    # received: every message, every session, the one STARTTLS
    assert value(m, "postern_messages_received_total", connector="Default mail") == 6
    assert total(m, "postern_smtp_sessions_total") == 6
    assert value(m, "postern_tls_handshakes_total", direction="inbound", version="TLSv1.3",
                 result="success") == 1
    assert total(m, "postern_tls_handshakes_total", direction="inbound", result="failure") == 0
    # delivered, deferred (at least once: it is retried every second), failed
    assert value(m, "postern_deliveries_total", connector="ToB", result="delivered") == 3
    assert value(m, "postern_deliveries_total", connector="ToB", result="failed") == 1
    assert value(m, "postern_deliveries_total", connector="ToB", result="deferred") >= 1
    assert value(m, "postern_deliveries_total", connector="ToC", result="delivered") == 1
    assert total(m, "postern_deliveries_total", connector="ToC") == 1
    # the deferred message waits in b.test's queue, and only there
    assert value(m, "postern_queue_messages", queue="b.test") == 1
    assert total(m, "postern_queue_messages") == 1
    assert 0 <= value(m, "postern_queue_oldest_message_age_seconds", queue="b.test") < 120
    assert value(m, "postern_queue_stored_messages") == 1
    # one commit per message received (no report: the failure had a null sender)
    assert value(m, "postern_queue_commit_duration_seconds_count") == 6
    assert value(m, "postern_queue_commit_duration_seconds_bucket", le="+Inf") == 6
    assert 0 < value(m, "postern_queue_commit_duration_seconds_sum") < 6 * 5
    # outbound TLS: c.test's postern took STARTTLS, b.test's peer offers none
    assert value(m, "postern_tls_handshakes_total", direction="outbound", version="TLSv1.3",
                 result="success") >= 1
    assert value(m, "postern_outbound_tls_policy_results_total", policy_type="no-policy-found",
                 result="success") >= 1
    assert value(m, "postern_outbound_tls_policy_results_total", policy_type="no-policy-found",
                 result="starttls-not-supported") >= 1
    assert value(m, "postern_mtasts_policies_total", result="none") >= 2
    # DNS: the MX questions of both domains; the histogram counts every question
    assert total(m, "postern_dns_lookups_total", type="MX") >= 2
    for t in ("MX", "A"):
        assert value(m, "postern_dns_lookup_duration_seconds_count", type=t) == total(
            m, "postern_dns_lookups_total", type=t) > 0
    # the certificate the smtp process serves, and when it expires
    cert = a.get("Get-ExchangeCertificate")[0]
    assert value(m, "postern_certificate_expiry_timestamp_seconds",
                 thumbprint=cert["Thumbprint"], subject=cert["Subject"]) == cert_not_after(
                     a, cert["Thumbprint"])
    assert value(m, "postern_metrics_queue_up") == 1
    assert value(m, "postern_build_info", version="0.1.0") == 1
    assert value(m, "postern_smtp_process_start_time_seconds") <= time.time()
    assert value(m, "postern_queue_process_start_time_seconds") <= time.time()


@pytest.fixture(scope="module")
def certs(pki_dir):
    return pki.TwoDomains(pki_dir)


def test_domain_security_is_counted(instances, certs):
    """A sends to its partner B over mutual TLS (docs/DESIGN.md, domain
    security); a client without a certificate claims a.test at B and is refused."""
    b = make_b(instances, certs)
    a = make_a(instances, certs, [("b.test", b.port)])
    ports = {}
    for inst in (a, b):
        ports[inst] = free_port()
        inst.cmdlet("Set-TransportConfig", "-MetricsBindings", f"127.0.0.1:{ports[inst]}")
    b.start()
    a.start()
    submit_auth(a, "alice@a.test", ["bob@b.test"],
                message(subject="secured", sender="alice@a.test", to="bob@b.test"))
    wait_for(lambda: maildir(b, "bob@b.test"), what="the message in bob's Maildir on B")
    with tls_session(b) as c:
        assert c.docmd("MAIL FROM:<carol@a.test>")[0] == 454
    mb, ma = scrape(ports[b]), scrape(ports[a])
    assert value(mb, "postern_domain_security_total", direction="inbound", domain="a.test",
                 result="success") == 1
    assert value(mb, "postern_domain_security_total", direction="inbound", domain="a.test",
                 result="NoCertificate") == 1
    assert value(ma, "postern_domain_security_total", direction="outbound", domain="b.test",
                 result="success") == 1
    assert total(ma, "postern_domain_security_total") == 1
    assert value(mb, "postern_messages_received_total", connector="Default mail") == 1


@pytest.fixture
def metered(server):
    """The server fixture with metrics switched on while it runs (a reload)."""
    server.metrics_port = free_port()
    assert connect_refused("127.0.0.1", server.metrics_port)
    server.cmdlet("Set-TransportConfig", "-MetricsBindings", f"127.0.0.1:{server.metrics_port}")
    wait_for(lambda: not connect_refused("127.0.0.1", server.metrics_port),
             what="the metrics port to open")
    # one real scrape, then a pause: the probes above are closed on the
    # server's side too and hold none of its 8 connection slots
    assert fetch(server.metrics_port)[0] == 200
    time.sleep(0.2 * SLOW)
    return server


def test_reload_switches_metrics_on_and_off(metered):
    port = metered.metrics_port
    assert value(scrape(port), "postern_metrics_requests_total", code="200") == 2  # + the fixture's
    # a new port: the old one closes, the new one serves, SMTP never paused
    port2 = free_port()
    metered.cmdlet("Set-TransportConfig", "-MetricsBindings", f"127.0.0.1:{port2}")
    assert connect_refused("127.0.0.1", port)
    assert value(scrape(port2), "postern_metrics_requests_total", code="200") == 3
    metered.cmdlet("Set-TransportConfig", "-MetricsBindings", "$null")
    assert connect_refused("127.0.0.1", port2)
    with metered.smtp() as c:
        assert c.ehlo()[0] == 250


def test_bindings_are_checked(server):
    # not loopback: allowed, with a warning
    r = server.cmdlet("Set-TransportConfig", "-MetricsBindings", f"0.0.0.0:{free_port()}")
    assert "MetricsBindings" in r.stderr + r.stdout and "not a loopback" in r.stderr + r.stdout
    r = server.cmdlet("Set-TransportConfig", "-MetricsBindings", f"[::1]:{free_port()}")
    assert "not a loopback" not in r.stderr + r.stdout
    # the port of a Receive connector: refused, nothing saved
    r = server.cmdlet("Set-TransportConfig", "-MetricsBindings", f"127.0.0.1:{server.port}",
                      check=False)
    assert r.returncode != 0 and "MetricsBindings" in r.stderr
    # nor the console's (2580 by default)
    r = server.cmdlet("Set-TransportConfig", "-MetricsBindings", "127.0.0.1:2580", check=False)
    assert r.returncode != 0 and "takes the port of ConsoleBindings" in r.stderr
    assert server.get("Get-TransportConfig")[0]["MetricsBindings"].startswith("{[::1]:")


def test_bad_requests_get_clear_answers(metered):
    port = metered.metrics_port
    assert fetch(port, method="POST", data=b"x=1")[0] == 405
    assert fetch(port, method="HEAD")[0] == 405
    assert fetch(port, "/")[0] == 404
    assert fetch(port, "/metrics/x")[0] == 404
    assert fetch(port, "/metrics?name[]=up")[0] == 200  # Prometheus's params
    assert status_of(raw_request(port, b"GET /" + b"a" * 9000 + b" HTTP/1.1\r\n\r\n")) == 414
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-A: " +
                                 b"a" * 9000 + b"\r\n\r\n")) == 431
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\r\n\r\n")) == 400  # no Host
    assert status_of(raw_request(port, b"GET /metrics HTTP/2.0\r\nHost: x\r\n\r\n")) == 505
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\nHost: x\n\n")) == 400
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                 b"Content-Length: 5\r\n\r\nhello")) == 400
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n"
                                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n")) == 400
    assert status_of(raw_request(port, b"\x00\x01\x02\r\n\r\n")) == 400
    assert raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n").endswith(b"\n")
    m = scrape(port)
    for code, n in (("405", 2), ("404", 2), ("414", 1), ("431", 1), ("400", 5), ("505", 1)):
        assert value(m, "postern_metrics_requests_total", code=code) == n, code
    with metered.smtp() as c:
        assert c.ehlo()[0] == 250


def test_slow_clients_are_cut_off_and_smtp_goes_on(metered):
    """Slowloris: a request that never ends gets 408 at the deadline (10 s), past the
    connection cap (8) a new one is refused at once with 503, and meanwhile
    SMTP sessions and the SMTP port do not notice."""
    port = metered.metrics_port
    slow = []
    for _ in range(8):
        s = socket.create_connection(("127.0.0.1", port), timeout=30 * SLOW)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # and never the empty line
        slow.append(s)
    started = time.monotonic()
    time.sleep(0.3)
    assert status_of(raw_request(port, b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")) == 503
    with metered.smtp() as c:
        c.ehlo()
        c.sendmail("bob@example.org", ["alice@a.test"], message())
    for s in slow:
        s.sendall(b"X-Slow: 1\r\n")  # still trickling
    answers = []
    for s in slow:
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        answers.append(data)
        s.close()
    assert all(status_of(a) == 408 for a in answers), answers
    assert 9 <= time.monotonic() - started < 20 * SLOW
    m = scrape(port)
    assert value(m, "postern_metrics_requests_total", code="408") == 8
    assert value(m, "postern_metrics_requests_total", code="503") == 1
    assert value(m, "postern_messages_received_total", connector="Default mail") == 1


@pytest.mark.skipif(not os.path.exists(PROMETHEUS), reason="Debian's prometheus is not installed")
def test_prometheus_scrapes_it(metered):
    """Debian's Prometheus itself, once: up is 1 and a postern series is stored."""
    work = tempfile.mkdtemp(prefix="postern-prom-", dir="/tmp")
    web = free_port()
    with open(os.path.join(work, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                "scrape_configs:\n  - job_name: postern\n    static_configs:\n"
                f"      - targets: ['127.0.0.1:{metered.metrics_port}']\n")
    out = open(os.path.join(work, "prometheus.log"), "wb")
    proc = subprocess.Popen([PROMETHEUS, "--config.file", os.path.join(work, "prometheus.yml"),
                             "--storage.tsdb.path", os.path.join(work, "data"),
                             "--web.listen-address", f"127.0.0.1:{web}"],
                            stdout=out, stderr=subprocess.STDOUT)
    try:
        def query(q):
            try:
                url = f"http://127.0.0.1:{web}/api/v1/query?query={q}"
                with urllib.request.urlopen(url, timeout=2) as r:
                    import json
                    result = json.load(r)["data"]["result"]
                    return result[0]["value"][1] if result else None
            except (OSError, ValueError, KeyError):
                return None
        assert wait_for(lambda: query("up") == "1", timeout=20, what="Prometheus to scrape")
        assert query("postern_metrics_queue_up") == "1"
    finally:
        stop_process(proc)
        out.close()
        shutil.rmtree(work, ignore_errors=True)
