"""A small HTTP(S) server on loopback whose answers a test scripts, per Host.

    with PolicyServer("127.0.2.1", 443, cert=leaf.cert, key=leaf.key) as web:
        web.answer("mta-sts.a.test", body=b"version: STSv1\\r\\n...")
        web.answer("mta-sts.b.test", status=301, headers={"Location": "https://x/"})
        web.requests   # [(host, method, path, body, fields)] in the order they came;
                       # fields: the request's header fields, names in lower case

Used for MTA-STS policies (RFC 8461 3.3: GET /.well-known/mta-sts.txt) and
TLS reports POSTed over HTTPS (RFC 8460 5.2, test_tlsrpt_https.py). Without
cert it speaks plain HTTP on the port (a policy served without TLS must not
count).
Answers carry Content-Length and "Connection: close". A host with no
scripted answer gets 404.
Must never: listen beyond loopback (LoopbackServer refuses it).
"""
import ssl

from peers import LoopbackServer


class PolicyServer(LoopbackServer):
    def __init__(self, host, port, cert=None, key=None):
        super().__init__(host, port)
        self.answers = {}
        self.requests = []
        self.context = None
        if cert:
            self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self.context.load_cert_chain(cert, key)

    def answer(self, host, body=b"", status=200, content_type="text/plain", headers=None):
        """What a request for host gets from now on."""
        hdrs = {"Content-Type": content_type} if content_type else {}
        hdrs.update(headers or {})
        with self.lock:
            self.answers[host.lower()] = (status, hdrs, body)

    def requests_for(self, host):
        with self.lock:
            return [r for r in self.requests if r[0] == host.lower()]

    def serve(self, conn):
        conn.settimeout(10)
        if self.context:
            conn = self.track(self.context.wrap_socket(conn, server_side=True))
        data = b""
        while b"\r\n\r\n" not in data and len(data) < 65536:
            chunk = conn.recv(4096)
            if not chunk:
                return
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, path = lines[0].split(" ")[:2]
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        length = int(fields.get("content-length", "0") or 0)
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                break
            rest += chunk
        host = fields.get("host", "").lower()
        with self.lock:
            self.requests.append((host, method, path, rest, fields))
            status, hdrs, body = self.answers.get(host, (404, {"Content-Type": "text/plain"},
                                                         b"not found\n"))
        reply = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
        reply += [f"{k}: {v}" for k, v in hdrs.items()]
        conn.sendall(("\r\n".join(reply) + "\r\n\r\n").encode() + body)
