"""A dump mirror served over HTTP(S) on 127.0.0.1, with Range support and faults a test can inject."""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class MirrorServer:
    """Serves files under `root`; `faults` maps a file name to what goes wrong on its next requests.

    Faults: ("cut", n) sends only the first n bytes of the body once, then closes the connection;
    ("stall", n) sends the first n bytes once, then nothing (the connection stays open) until the server
    stops; ("status", code, times) answers `code` that many times; ("corrupt",) flips one byte in every
    answer. `requests` logs (path, Range header) of every request; `sent` counts the body bytes sent
    per file name. A folder answers an index page of
    links, as Wikimedia's mirrors do. With `tls=(cert, key)` (PEM files) it serves HTTPS.
    """

    def __init__(self, root: Path, tls: tuple[Path, Path] | None = None):
        self.root = Path(root)
        self.faults: dict[str, list] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.sent: dict[str, int] = {}
        self.overrides: dict[str, bytes] = {}
        self.stopping = threading.Event()  # ends stalls
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                server.requests.append((self.path, self.headers.get("Range")))
                name = self.path.rsplit("/", 1)[-1]
                if self.path in server.overrides:
                    body = server.overrides[self.path]
                else:
                    path = server.root / self.path.lstrip("/")
                    if ".." in self.path or not path.exists():
                        self.send_error(404)
                        return
                    if path.is_dir():
                        links = "".join(f'<a href="{entry.name}/">{entry.name}/</a>\n'
                                        for entry in sorted(path.iterdir()) if entry.is_dir())
                        body = f"<html><body><pre>\n{links}</pre></body></html>\n".encode()
                    else:
                        body = path.read_bytes()
                fault = server.faults.get(name)
                if fault and fault[0] == "status" and fault[2] > 0:
                    fault[2] -= 1
                    self.send_error(fault[1])
                    return
                if fault and fault[0] == "corrupt":
                    body = body[:-1] + bytes([body[-1] ^ 0xFF])
                start = 0
                if self.headers.get("Range", "").startswith("bytes="):
                    start = int(self.headers["Range"][6:].split("-")[0])
                    if start >= len(body):
                        self.send_response(416)
                        self.send_header("Content-Range", f"bytes */{len(body)}")
                        self.end_headers()
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                payload = body[start:]
                if fault and fault[0] in ("cut", "stall"):
                    server.faults.pop(name)
                    server.sent[name] = server.sent.get(name, 0) + len(payload[: fault[1]])
                    self.wfile.write(payload[: fault[1]])
                    self.wfile.flush()
                    if fault[0] == "stall":
                        server.stopping.wait()
                    self.close_connection = True
                    return
                server.sent[name] = server.sent.get(name, 0) + len(payload)
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        scheme = "http"
        if tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*map(str, tls))
            self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()
