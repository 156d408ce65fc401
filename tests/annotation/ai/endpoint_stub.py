"""A real HTTP server on a free local port that answers /v1/chat/completions as the test scripts
it: for servers whose behaviour `transformers serve` cannot show (log-probabilities, 429s, 5xx).
It records every request it gets, headers included."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def completion(text: str, top_logprobs: list[tuple[str, float]] | None = None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if top_logprobs is not None:
        choice["logprobs"] = {"content": [{"token": text, "logprob": top_logprobs[0][1],
                                           "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top_logprobs]}]}
    return {"id": "x", "object": "chat.completion", "model": "stub", "choices": [choice]}


class StubEndpoint:
    def __init__(self, answer):
        """`answer(body: dict, n: int) -> (status, payload: dict | str, headers: dict)`; n counts
        the requests from 0."""
        self.answer = answer
        self.requests: list[dict] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                status, payload, headers = stub.answer(body, len(stub.requests) - 1)
                data = (payload if isinstance(payload, str) else json.dumps(payload)).encode()
                self.send_response(status)
                for name, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def prompt_of(body: dict) -> str:
    return body["messages"][-1]["content"]
