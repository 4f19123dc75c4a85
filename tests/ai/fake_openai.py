"""A fake OpenAI-compatible server: real HTTP on 127.0.0.1, real JSON, scripted per test.

It speaks POST /v1/chat/completions and /v1/embeddings. A test queues answers with `script()`;
each request takes the next one (the last repeats when the queue runs dry), and every request
is recorded (path, headers, JSON body) so tests can assert what was sent.

    fake.script(fake.chat({"category": "Billing", ...}))   # good JSON
    fake.script(fake.chat_text("not json"))                 # bad JSON
    fake.script(fake.status(429, headers={"Retry-After": "1"}), fake.chat(...))
    fake.script(fake.sleep(2.0))                            # past the client's timeout
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int = 200
    body: object = None  # dict -> JSON; str -> as is
    headers: dict = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Recorded:
    path: str
    headers: dict
    body: dict


class FakeOpenAI:
    def __init__(self):
        self.requests: list[Recorded] = []
        self._answers: list[Answer] = []
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                try:
                    body = json.loads(raw or b"{}")
                except ValueError:
                    body = {"_raw": raw.decode(errors="replace")}
                answer = fake._take(Recorded(path=self.path, headers=dict(self.headers.items()), body=body))
                if answer.delay:
                    time.sleep(answer.delay)
                payload = answer.body
                if payload is None and answer.status == 200:
                    payload = fake._default_for(self.path, body)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload or {}).encode()
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> "FakeOpenAI":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # ------------------------------------------------------------------ scripting

    def script(self, *answers: Answer) -> None:
        with self._lock:
            self._answers = list(answers)

    def _take(self, recorded: Recorded) -> Answer:
        with self._lock:
            self.requests.append(recorded)
            if not self._answers:
                return Answer()
            return self._answers.pop(0) if len(self._answers) > 1 else self._answers[0]

    @staticmethod
    def _default_for(path: str, body: dict) -> dict:
        if path.endswith("/embeddings"):
            inputs = body.get("input") or []
            return FakeOpenAI.embeddings_body(len(inputs) if isinstance(inputs, list) else 1)
        return FakeOpenAI.chat_body("Hello from the fake model.")

    @staticmethod
    def chat_body(content: str, *, usage: dict | None = {"prompt_tokens": 120, "completion_tokens": 30}) -> dict:
        body = {
            "id": "chatcmpl-fake", "object": "chat.completion", "model": "fake-model",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        }
        if usage is not None:
            body["usage"] = {**usage, "total_tokens": sum(usage.values())}
        return body

    @staticmethod
    def embeddings_body(count: int, *, dimensions: int = 8) -> dict:
        return {
            "object": "list", "model": "fake-embed",
            "data": [{"object": "embedding", "index": i, "embedding": [round(0.1 * (i + 1) + 0.01 * d, 4) for d in range(dimensions)]} for i in range(count)],
            "usage": {"prompt_tokens": 5 * count, "total_tokens": 5 * count},
        }

    @classmethod
    def chat(cls, answer: dict, **kwargs) -> Answer:
        return Answer(body=cls.chat_body(json.dumps(answer), **kwargs))

    @classmethod
    def chat_text(cls, content: str, **kwargs) -> Answer:
        return Answer(body=cls.chat_body(content, **kwargs))

    @staticmethod
    def status(code: int, *, body: object = None, headers: dict | None = None) -> Answer:
        return Answer(status=code, body=body if body is not None else {"error": {"message": f"fake {code}"}}, headers=headers or {})

    @staticmethod
    def sleep(seconds: float) -> Answer:
        return Answer(delay=seconds)


# ---------------------------------------------------------------------- fixtures (import them)

import pytest  # noqa: E402

KEY = "sk-test-Zq8xSECRETkey4417abcdEFGH"


@pytest.fixture(scope="session")
def fake_openai_server():
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture
def fake_openai(fake_openai_server):
    """The server, with no script and no recorded requests."""
    fake_openai_server.script()
    fake_openai_server.requests.clear()
    return fake_openai_server


def openai_configure(fake: FakeOpenAI, **overrides):
    """Point the current tenant's AI settings at the fake server (as an owner would in the admin)."""
    from ai.settings_store import ai_settings_api_key_set, ai_settings_get

    ai_settings = ai_settings_get()
    values = {
        "provider": "openai", "base_url": fake.base_url, "chat_model": "gpt-fake", "embedding_model": "embed-fake",
        "prices": {"gpt-fake": {"input": "0.5", "output": "1.5"}, "embed-fake": {"input": "0.1", "output": "0"}},
        "timeout_seconds": 1.0, "max_retries": 2,
    }
    values.update(overrides)
    for name, value in values.items():
        setattr(ai_settings, name, value)
    ai_settings_api_key_set(ai_settings=ai_settings, api_key=KEY)
    ai_settings.save()
    return ai_settings
