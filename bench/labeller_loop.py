"""N simulated labellers, each looping "get next pair, submit a judgement" over HTTP for a fixed time.

The app is served as in production: gunicorn with several workers, DJANGO_DEBUG=0, on the database
DATABASE_URL names (PostgreSQL, or the SQLite default when unset). The benchmark creates its own
dataset, labeller accounts and API tokens, runs, then checks the database: no pair may hold more
counted judgements than overlap_k.

    # PostgreSQL (creates the database if it is missing)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/arbiter_bench_labelling .venv/bin/python bench/labeller_loop.py
    # SQLite default (a file under ARBITER_VAR_DIR)
    ARBITER_VAR_DIR=/tmp/var-bench .venv/bin/python bench/labeller_loop.py
    # against an app that is already running
    .venv/bin/python bench/labeller_loop.py --url http://127.0.0.1:8000

Prints loops/s, p50/p95/p99 latency of each request, errors, pairs judged beyond overlap, and the
1-minute load average before and after (the machine may be shared).
"""
import argparse
import hashlib
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--labellers", type=int, default=32, help="simulated labellers, one thread and connection each")
    p.add_argument("--duration", type=float, default=20.0, help="seconds measured, after the warm-up")
    p.add_argument("--warmup", type=float, default=3.0, help="seconds run before measuring")
    p.add_argument("--pairs", type=int, default=6000, help="pairs in the benchmark's dataset")
    p.add_argument("--overlap-k", type=int, default=3)
    p.add_argument("--repeat-rate", type=float, default=0.05)
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes")
    p.add_argument("--threads", type=int, default=8, help="threads per gunicorn worker (gthread)")
    p.add_argument("--port", type=int, default=8765)
    p.add_argument("--url", default="", help="use an app already running there instead of starting gunicorn")
    p.add_argument("--cpu-per-loop", type=int, default=0, metavar="N",
                   help="also run N loops in this process (services alone, then the API through Django's test "
                        "client) and print the CPU time each loop costs, to see where a loop's time goes")
    return p.parse_args()


def database_url() -> str:
    from config import env

    return env.DATABASE_URL


def ensure_postgres_database(url: str) -> None:
    parts = urllib.parse.urlparse(url)
    name = parts.path.lstrip("/")
    import psycopg

    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone() is None:
            conn.execute(f'CREATE DATABASE "{name}"')


def set_up(args) -> tuple[int, list[str]]:
    """Migrates, then creates a dataset of args.pairs pairs and args.labellers labellers with tokens."""
    url = database_url()
    if url.startswith("postgres"):
        ensure_postgres_database(url)
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput", "-v0"], cwd=ROOT, check=True)
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from rest_framework.authtoken.models import Token

    from annotation.models import Dataset, Labeller, Pair, Prompt, Response
    from django.contrib.auth import get_user_model

    run = time.strftime("%Y%m%d-%H%M%S")
    dataset = Dataset.objects.create(name=f"bench-labeller-loop-{run}", overlap_k=args.overlap_k,
                                     repeat_rate=args.repeat_rate)

    def sha(text):
        return hashlib.sha256(text.encode()).hexdigest()

    prompts = Prompt.objects.bulk_create(
        Prompt(dataset=dataset, messages=[{"role": "user", "content": f"Question {i}: how do I sort a list?"}],
               content_hash=sha(f"{run}-{i}"))
        for i in range(args.pairs)
    )
    texts = [("Use `sorted(xs)`; it returns a new list.", "m1"), ("Call `xs.sort()` to sort in place.", "m2")]
    responses = Response.objects.bulk_create(
        Response(prompt=prompt, text=text, source=source, length_chars=len(text), content_hash=sha(text))
        for prompt in prompts for text, source in texts
    )
    Pair.objects.bulk_create(
        Pair(dataset=dataset, prompt=prompt, response_a=responses[2 * i], response_b=responses[2 * i + 1],
             content_hash=sha(f"pair-{run}-{i}"))
        for i, prompt in enumerate(prompts)
    )
    # Fresh planner statistics for the tables just filled, as autovacuum would gather soon after a
    # real import: without them PostgreSQL sorts every open pair instead of walking the queue index.
    # Not for the empty lease and judgement tables: statistics saying "empty" would make the plans
    # prepared in the first seconds scan them whole until autovacuum notices they grew.
    from django.db import connection

    with connection.cursor() as cursor:
        for model in (Dataset, Prompt, Response, Pair):
            cursor.execute(f"ANALYZE {model._meta.db_table}")
    tokens = []
    for i in range(args.labellers):
        user = get_user_model().objects.create_user(username=f"bench-{run}-{i}", password=None)
        dataset.labellers.add(Labeller.objects.create(user=user))
        tokens.append(Token.objects.create(user=user).key)
    return dataset.pk, tokens


def when_ready(server):
    """gunicorn hook (this module is also gunicorn's config, `-c python:bench.labeller_loop`): with
    --preload, import every URL module in the master before the workers fork, so that no measured
    request pays for the first import (several seconds here: some views import torch)."""
    from django.urls import get_resolver

    get_resolver().url_patterns


def start_gunicorn(args) -> subprocess.Popen:
    env = {**os.environ, "DJANGO_DEBUG": "0", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
           "DATABASE_URL": database_url(), "DJANGO_SETTINGS_MODULE": "config.settings"}
    proc = subprocess.Popen(
        [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{args.port}",
         "--config", "python:bench.labeller_loop", "--preload",
         "--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads),
         "--log-level", "warning", "--backlog", "256"],
        cwd=ROOT, env=env,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", args.port, timeout=2)
            conn.request("GET", "/accounts/login/")
            conn.getresponse().read()
            return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise SystemExit("gunicorn did not start within 120 s")


class HttpConnection:
    """A minimal HTTP/1.1 keep-alive client: the simulated labellers share the 2 cores with the
    server and the database, and http.client cost them about twice the CPU per request. It sends
    whole requests in one write and reads responses framed by Content-Length or chunked."""

    def __init__(self, host: str, port: int, headers: dict):
        self.host, self.port = host, port
        self.header_lines = "".join(f"{name}: {value}\r\n" for name, value in {"Host": f"{host}:{port}", **headers}.items())
        self.sock, self.buffer = None, b""

    def close(self):
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b""

    def _read_until(self, marker: bytes) -> bytes:
        while (end := self.buffer.find(marker)) < 0:
            self._fill()
        line, self.buffer = self.buffer[:end], self.buffer[end + len(marker):]
        return line

    def _read_exactly(self, n: int) -> bytes:
        while len(self.buffer) < n:
            self._fill()
        data, self.buffer = self.buffer[:n], self.buffer[n:]
        return data

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        self.buffer += chunk

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        if self.sock is None:
            self.sock = socket.create_connection((self.host, self.port), timeout=30)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(f"{method} {path} HTTP/1.1\r\n{self.header_lines}Content-Length: {len(body)}\r\n\r\n".encode()
                          + body)
        status_line, *header_lines = self._read_until(b"\r\n\r\n").decode("latin-1").split("\r\n")
        headers = {name.strip().lower(): value.strip() for name, value in (line.split(":", 1) for line in header_lines)}
        status = int(status_line.split(" ", 2)[1])
        if "content-length" in headers:
            data = self._read_exactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int(self._read_until(b"\r\n").split(b";")[0], 16):
                parts.append(self._read_exactly(size))
                self._read_until(b"\r\n")
            self._read_until(b"\r\n")
            data = b"".join(parts)
        else:
            data = b""  # 204 and 304 have no body
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, data


class Labeller(threading.Thread):
    """One simulated labeller on one keep-alive connection."""

    def __init__(self, host, port, dataset_id, token, seed, start_at, stop_at, measure_from):
        super().__init__(daemon=True)
        self.dataset_id = dataset_id
        self.conn = HttpConnection(host, port, {"Authorization": f"Token {token}", "Content-Type": "application/json"})
        self.rng = random.Random(seed)
        self.start_at, self.stop_at, self.measure_from = start_at, stop_at, measure_from
        self.latency = {"next": [], "submit": []}
        self.loops = self.loops_all = self.errors = self.empty = 0
        self.error_samples = []

    def call(self, path, body=None):
        t0 = time.perf_counter()
        status, data = self.conn.request("POST", path, json.dumps(body).encode() if body is not None else b"")
        return status, data, time.perf_counter() - t0, t0

    def run(self):
        while time.perf_counter() < self.start_at:
            time.sleep(0.001)
        while time.perf_counter() < self.stop_at:
            try:
                status, data, dt_next, t0 = self.call(f"/api/datasets/{self.dataset_id}/next/")
                if status == 204:
                    self.empty += 1
                    break
                if status != 200:
                    raise RuntimeError(f"next: HTTP {status} {data[:200]!r}")
                lease = json.loads(data)
                body = {"choice": self.rng.choice(["left", "right", "tie", "both_bad"]),
                        "time_ms": self.rng.randint(2000, 30000), "idempotency_key": f"bench-{lease['id']}"}
                status, data, dt_submit, _ = self.call(f"/api/assignments/{lease['id']}/judgement/", body)
                if status != 201:
                    raise RuntimeError(f"submit: HTTP {status} {data[:200]!r}")
            except (OSError, RuntimeError, ValueError) as exc:
                self.errors += 1
                if len(self.error_samples) < 3:
                    self.error_samples.append(str(exc))
                self.conn.close()
                continue
            self.loops_all += 1
            if t0 >= self.measure_from and time.perf_counter() <= self.stop_at:
                self.loops += 1
                self.latency["next"].append(dt_next)
                self.latency["submit"].append(dt_submit)
        self.conn.close()


def percentile(values, q):
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, int(round(q / 100 * (len(values) - 1))))]


def check_database(dataset_id):
    from django.db.models import Count, F, Q

    from annotation.models import Assignment, Judgement, Pair

    dataset_pairs = Pair.objects.filter(dataset_id=dataset_id).annotate(
        counted=Count("judgements", filter=Q(judgements__is_repeat=False, judgements__superseded=False))
    )
    k = dataset_pairs.values_list("dataset__overlap_k", flat=True).first()
    beyond = dataset_pairs.filter(counted__gt=k).count()
    drift = dataset_pairs.exclude(counted=F("n_judgements")).count()
    duplicates = (
        Judgement.objects.filter(pair__dataset_id=dataset_id, is_repeat=False, revision_of__isnull=True)
        .values("pair_id", "labeller_id").annotate(n=Count("id")).filter(n__gt=1).count()
    )
    judgements = Judgement.objects.filter(pair__dataset_id=dataset_id)
    return {
        "judgements": judgements.count(), "repeats": judgements.filter(is_repeat=True).count(),
        "pairs_beyond_overlap": beyond, "pairs_counter_drift": drift, "duplicate_first_judgements": duplicates,
        "active_leases": Assignment.objects.filter(pair__dataset_id=dataset_id, status="active").count(),
    }


def cpu_per_loop(dataset_id, n):
    """CPU milliseconds per loop spent in Python (this process) without HTTP or other processes."""
    from django.test import Client

    from annotation.labelling import services
    from annotation.models import Dataset

    dataset = Dataset.objects.get(pk=dataset_id)
    labellers = list(dataset.labellers.select_related("user__auth_token"))
    c0 = time.process_time()
    for i in range(n):  # what the API runs: lease, read what it shows, submit
        labeller = labellers[i % len(labellers)]
        lease_id = services.assignment_lease(labeller=labeller, dataset_id=dataset_id)["id"]
        services.judgement_submit(labeller=labeller, assignment_id=lease_id, choice="tie", idempotency_key=f"cpu-{lease_id}")
    in_services = (time.process_time() - c0) / n * 1000
    clients = [Client(HTTP_AUTHORIZATION=f"Token {lab.user.auth_token.key}") for lab in labellers]
    c0 = time.process_time()
    for i in range(n):
        client = clients[i % len(clients)]
        lease = client.post(f"/api/datasets/{dataset_id}/next/").json()
        client.post(f"/api/assignments/{lease['id']}/judgement/", {"choice": "tie", "idempotency_key": f"cpu-{lease['id']}"},
                    content_type="application/json")
    through_api = (time.process_time() - c0) / n * 1000
    print(f"CPU per loop in one process ({n} loops, load average {os.getloadavg()[0]:.2f}): services {in_services:.1f} ms; "
          f"API through Django's test client {through_api:.1f} ms (a database server's own CPU not included)")


def _proc_stat(pid) -> tuple[str, float] | None:
    """(command name, CPU seconds user + system used so far) of a process, None when it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return text[text.index("(") + 1:text.rindex(")")], (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_tree_cpu(pid: int) -> float:
    """CPU seconds used so far by a process and its children (gunicorn's workers)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return sum(stat[1] for p in [pid, *children] if (stat := _proc_stat(p)) is not None)


def processes_cpu(name: str) -> float:
    """CPU seconds used so far by the processes of this machine named `name` (PostgreSQL's
    backends are all "postgres"; one that exited during the run is not counted)."""
    stats = (_proc_stat(path.parent.name) for path in Path("/proc").glob("[0-9]*/stat"))
    return sum(stat[1] for stat in stats if stat is not None and stat[0] == name)


def reference_loop_ms() -> float:
    """CPU milliseconds of a fixed pure-Python loop (best of 3): how fast this machine is right
    now. Shared machines vary by a third from hour to hour; compare runs with this beside them."""
    def once():
        start, total = time.process_time(), 0
        for i in range(1_000_000):
            total += i * i % 7
        return time.process_time() - start

    return 1000 * min(once() for _ in range(3))


def machine_busy_cpu() -> float:
    """CPU seconds all processes on this machine have used (user, nice, system, irq, softirq)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(f) for f in fields[:7])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def main():
    args = parse_args()
    # This process measures (--cpu-per-loop) as the app runs in production: without DEBUG's query log.
    os.environ["DJANGO_DEBUG"] = "0"
    dataset_id, tokens = set_up(args)
    server = None if args.url else start_gunicorn(args)
    target = urllib.parse.urlparse(args.url or f"http://127.0.0.1:{args.port}")
    from django.db import connection

    vendor = connection.vendor
    connection.close()
    if args.cpu_per_loop:  # the same warm-up for this process
        from django.urls import get_resolver

        get_resolver().url_patterns
    load_before, reference_ms = os.getloadavg()[0], reference_loop_ms()
    now = time.perf_counter()
    start_at, measure_from = now + 0.5, now + 0.5 + args.warmup
    stop_at = measure_from + args.duration
    labellers = [Labeller(target.hostname, target.port, dataset_id, token, i, start_at, stop_at, measure_from)
                 for i, token in enumerate(tokens)]
    cpu_client0 = time.process_time()
    cpu_server0 = process_tree_cpu(server.pid) if server else 0.0
    cpu_machine0, cpu_postgres0 = machine_busy_cpu(), processes_cpu("postgres")
    try:
        for t in labellers:
            t.start()
        for t in labellers:
            t.join()
        cpu_client = time.process_time() - cpu_client0
        cpu_server = process_tree_cpu(server.pid) - cpu_server0 if server else 0.0
        cpu_machine, cpu_postgres = machine_busy_cpu() - cpu_machine0, processes_cpu("postgres") - cpu_postgres0
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
    load_after = os.getloadavg()[0]

    loops = sum(t.loops for t in labellers)
    errors = sum(t.errors for t in labellers)
    print(f"database: {vendor}; server: {'external ' + args.url if args.url else f'gunicorn {args.workers} workers x {args.threads} threads'}")
    print(f"labellers: {args.labellers}; measured {args.duration:.0f} s after {args.warmup:.0f} s warm-up; "
          f"pairs: {args.pairs}, overlap_k {args.overlap_k}, repeat_rate {args.repeat_rate}")
    print(f"loops/s: {loops / args.duration:.1f}  ({loops} loops measured, {sum(t.loops_all for t in labellers)} in all)")
    for kind in ("next", "submit"):
        values = [v for t in labellers for v in t.latency[kind]]
        print(f"{kind:>6} latency ms: p50 {1000 * percentile(values, 50):.1f}  p95 {1000 * percentile(values, 95):.1f}  "
              f"p99 {1000 * percentile(values, 99):.1f}")
    loops_all = max(1, sum(t.loops_all for t in labellers))
    print(f"CPU per loop (whole run, warm-up included): this client {1000 * cpu_client / loops_all:.2f} ms"
          + (f", gunicorn {1000 * cpu_server / loops_all:.2f} ms" if server else "")
          + (f", PostgreSQL on this machine {1000 * cpu_postgres / loops_all:.2f} ms" if cpu_postgres else "")
          + f"; the whole machine {1000 * cpu_machine / loops_all:.2f} ms")
    print(f"errors: {errors}  labellers who ran out of pairs: {sum(t.empty for t in labellers)}")
    for sample in {s for t in labellers for s in t.error_samples}:
        print(f"  e.g. {sample}")
    checks = check_database(dataset_id)
    print("database after: " + ", ".join(f"{k} {v}" for k, v in checks.items()))
    print(f"load average (1 min): {load_before:.2f} before, {load_after:.2f} after; cpus: {os.cpu_count()}; "
          f"reference loop {reference_ms:.0f} ms before (machine speed: lower is faster)")
    if args.cpu_per_loop:
        cpu_per_loop(dataset_id, args.cpu_per_loop)
    if checks["pairs_beyond_overlap"] or checks["duplicate_first_judgements"] or checks["pairs_counter_drift"]:
        raise SystemExit("FAILED: the queue broke its overlap invariant")


if __name__ == "__main__":
    main()
