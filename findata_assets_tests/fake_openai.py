"""A fake OpenAI-compatible chat server for tests (and the sample report), on loopback.

    with FakeOpenAI() as llm:                 # llm.base_url = "http://127.0.0.1:PORT/v1"
        llm.fail_next(429, 429)               # the next two requests answer 429, then normal
        llm.set_failure(500)                  # every request answers 500 until set_failure(None)
        llm.set_delay(2.0)                    # answer slowly (client timeouts)
        llm.echo_auth = True                  # error bodies quote the Authorization header, as
                                              # careless providers do: redaction must hold
        llm.requests                          # [RecordedRequest(path, headers, body)], thread-safe

POST /v1/chat/completions and /chat/completions return the real response shape (id, object,
created, model, choices[].message, finish_reason, usage with prompt/completion/total tokens).
Error answers carry `retry-after-ms` (default 10 ms) so retry tests stay fast. Anything else: 404.
`python -m findata_assets_tests.fake_openai --port 8099` serves it for manual runs.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

PATHS = ("/v1/chat/completions", "/chat/completions")
ERRORS = {429: ("Rate limit reached, slow down", "rate_limit_error"),
          500: ("The server had an error while processing your request", "server_error"),
          502: ("Bad gateway", "server_error"), 503: ("Service unavailable", "server_error"),
          401: ("Authentication Fails, Your api key is invalid", "authentication_error")}


@dataclass(frozen=True)
class RecordedRequest:
    path: str
    headers: dict[str, str]
    body: dict
    status: int  # what the fake answered


def narrative_for(body: dict) -> str:
    """A deterministic answer that names the digest it was given (tests can check the link)."""
    user = next((m["content"] for m in body.get("messages", []) if m.get("role") == "user"), "")
    tag = hashlib.sha256(user.encode()).hexdigest()[:12]
    return ("### 市场概览\n今日全市场主力资金整体流向见摘要数据（假模型输出）。\n\n"
            "### 板块轮动\n行业与概念板块分化。\n\n"
            f"### 风险提示\n仅供测试。digest-tag: {tag}")


class FakeOpenAI:
    def __init__(self, host: str = "127.0.0.1", port: int = 0, model: Optional[str] = None,
                 retry_after_ms: Optional[int] = 10) -> None:
        self.model = model  # None: echo the requested model
        self.retry_after_ms = retry_after_ms
        self.echo_auth = False
        self.requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._script: list[int] = []
        self._failure: Optional[int] = None
        self._delay_s = 0.0
        self._server = ThreadingHTTPServer((host, port), self._handler())
        self._server.daemon_threads = True
        self._thread: Optional[threading.Thread] = None

    # -- control ---------------------------------------------------------------------------------
    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._script.extend(statuses)

    def set_failure(self, status: Optional[int]) -> None:
        with self._lock:
            self._failure = status

    def set_delay(self, seconds: float) -> None:
        with self._lock:
            self._delay_s = seconds

    @property
    def completions(self) -> list[RecordedRequest]:
        """The requests answered successfully."""
        with self._lock:
            return [r for r in self.requests if r.status == 200]

    def start(self) -> "FakeOpenAI":
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True, name="fake-openai")  # quick shutdown
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeOpenAI":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------------------
    def _next_status(self) -> int:
        with self._lock:
            if self._script:
                return self._script.pop(0)
            return self._failure or 200

    def _handler(self):
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet: pytest captures enough
                pass

            def _send(self, status: int, payload: dict, headers: dict = {}) -> None:
                data = json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client timed out and left
                    pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] not in PATHS:
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_unparsable": raw.decode("utf-8", "replace")}
                status = fake._next_status()
                with fake._lock:
                    delay = fake._delay_s
                    fake.requests.append(RecordedRequest(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, body, status))
                if delay:
                    time.sleep(delay)
                if status != 200:
                    message, kind = ERRORS.get(status, ("error", "server_error"))
                    if fake.echo_auth:
                        message += f" (request had Authorization: {self.headers.get('Authorization')})"
                    extra = ({"retry-after-ms": str(fake.retry_after_ms)}
                             if fake.retry_after_ms is not None else {})
                    self._send(status, {"error": {"message": message, "type": kind,
                                                  "code": str(status)}}, extra)
                    return
                content = narrative_for(body)
                prompt_chars = sum(len(m.get("content", "")) for m in body.get("messages", []))
                prompt_tokens, completion_tokens = max(1, prompt_chars // 2), max(1, len(content) // 2)
                self._send(200, {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": fake.model or body.get("model", "fake-model"),
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                 "logprobs": None, "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                              "total_tokens": prompt_tokens + completion_tokens},
                    "system_fingerprint": "fp_fake",
                })

        return Handler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    with FakeOpenAI(args.host, args.port) as fake:
        print(f"fake OpenAI-compatible server at {fake.base_url} (Ctrl-C to stop)", flush=True)
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    main()
