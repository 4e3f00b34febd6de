"""A dump mirror served over HTTP on 127.0.0.1, with Range support and faults a test can inject."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class MirrorServer:
    """Serves files under `root`; `faults` maps a file name to what goes wrong on its next requests.

    Faults: ("cut", n) sends only the first n bytes of the body once, then closes the connection;
    ("status", code, times) answers `code` that many times; ("corrupt",) flips one byte in every answer.
    `requests` logs (path, Range header) of every request.
    """

    def __init__(self, root: Path):
        self.root = Path(root)
        self.faults: dict[str, list] = {}
        self.requests: list[tuple[str, str | None]] = []
        self.overrides: dict[str, bytes] = {}
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
                    if ".." in self.path or not path.is_file():
                        self.send_error(404)
                        return
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
                if fault and fault[0] == "cut":
                    server.faults.pop(name)
                    self.wfile.write(payload[: fault[1]])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(payload)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def __enter__(self):
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
