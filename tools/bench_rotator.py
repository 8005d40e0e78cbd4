#!/usr/bin/env python3
"""Benchmark of secret-rotator as a real Lambda binary, against the local stack. Prints figures;
asserts nothing about time.

A minimal Lambda Runtime API (the protocol the binary speaks on Lambda) feeds it rotation steps:
- cold start: process start to first response, over several fresh processes;
- each step and a whole rotation (four steps), median and p95 over many rotations, one warm process;
- peak memory (VmHWM) of the warm process.

    tools/stack.py run -- .venv/bin/python tools/bench_rotator.py [--rotations N] [--binary PATH]
"""
import argparse
import hashlib
import http.server
import json
import signal
import sys
import os
import queue
import statistics
import subprocess
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cargo_target import target_dir  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
TARGET = target_dir()


class RuntimeApi(http.server.ThreadingHTTPServer):
    def __init__(self):
        super().__init__(("127.0.0.1", 0), Handler)
        self.events = queue.Queue()
        self.results = queue.Queue()


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *a):
        pass

    def do_GET(self):  # /2018-06-01/runtime/invocation/next
        event = self.server.events.get()
        body = json.dumps(event).encode()
        self.send_response(200)
        self.send_header("Lambda-Runtime-Aws-Request-Id", str(uuid.uuid4()))
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 30000))
        self.send_header("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:bench")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):  # .../response or .../error
        n = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(n)
        self.server.results.put((time.perf_counter(), self.path.endswith("/response"), body))
        self.send_response(202)
        self.end_headers()


class SlowProxy(http.server.ThreadingHTTPServer):
    """Forwards every AWS call to moto after `latency` seconds: AWS's round trip, locally."""

    def __init__(self, upstream, latency):
        super().__init__(("127.0.0.1", 0), ProxyHandler)
        self.upstream, self.latency = upstream, latency
        self.calls = []


class ProxyHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def do_POST(self):
        self.forward("POST")

    def do_GET(self):
        self.forward("GET")

    def do_PUT(self):
        self.forward("PUT")

    def do_DELETE(self):
        self.forward("DELETE")

    def forward(self, method):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.calls.append(self.headers.get("X-Amz-Target", self.path))
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        req = urllib.request.Request(self.server.upstream + self.path, data=body if body or method != "GET" else None,
                                     headers=headers, method=method)
        time.sleep(self.server.latency)
        try:
            with urllib.request.urlopen(req) as r:
                status, rbody, rheaders = r.status, r.read(), r.headers
        except urllib.error.HTTPError as e:
            status, rbody, rheaders = e.code, e.read(), e.headers
        self.send_response(status)
        for k, v in rheaders.items():
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(rbody)))
        self.end_headers()
        self.wfile.write(rbody)


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rotations", type=int, default=50)
    ap.add_argument("--cold-starts", type=int, default=10)
    ap.add_argument("--binary", default=None)
    ap.add_argument("--perf", default=None,
                    help="record a CPU profile (perf, cpu-clock) of the warm process into this file")
    ap.add_argument("--latency-ms", type=float, default=30.0,
                    help="added to every AWS call in the second warm run (0 to skip it)")
    args = ap.parse_args()
    binary = Path(args.binary).resolve() if args.binary else next(
        (p for p in (TARGET / "release/secret-rotator", TARGET / "debug/secret-rotator") if p.exists()), None)
    if not binary:
        raise SystemExit("build the function first: cargo build --release -p secret-rotator")

    # A role and its secret.
    user = "bench_" + uuid.uuid4().hex[:8]
    subprocess.run(["psql", "-q", "-h", os.environ["CARETAKER_PG_SOCKET_DIR"], "-p", os.environ["CARETAKER_PG_PORT"],
                    "-U", "postgres", "-c", f"CREATE ROLE {user} LOGIN PASSWORD 'Bench-initial-1'"], check=True)
    sm = boto3.client("secretsmanager", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    secret = {"engine": "postgres", "host": "localhost", "port": int(os.environ["CARETAKER_PG_PORT"]),
              "username": user, "password": "Bench-initial-1", "dbname": "postgres", "ssl": True}
    arn = sm.create_secret(Name=f"bench/{user}", SecretString=json.dumps(secret))["ARN"]

    # One Runtime API per process: a killed process leaves a pending /next behind.
    def start(api_env):
        api = RuntimeApi()
        threading.Thread(target=api.serve_forever, daemon=True).start()
        e = {**api_env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}"}
        cmd = [str(binary)]
        if e.pop("PERF_OUT", None):  # `--perf FILE`: a CPU profile of the warm process
            cmd = ["perf", "record", "-q", "-e", "cpu-clock", "-F", "4000", "-o", args.perf, *cmd]
        return api, subprocess.Popen(cmd, env=e, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    env = {**os.environ,
           "AWS_LAMBDA_FUNCTION_NAME": "secret-rotator", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
           "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "RDS_CA_BUNDLE": os.environ["CARETAKER_PG_CA"], "RUST_LOG": "warn"}

    def begin():
        token = str(uuid.uuid4())
        sm.put_secret_value(SecretId=arn, ClientRequestToken=token, SecretBinary=b"\0", VersionStages=["AWSPENDING"])
        return token

    def invoke(api, step, token):
        t0 = time.perf_counter()
        api.events.put({"Step": step, "SecretId": arn, "ClientRequestToken": token})
        t1, ok, body = api.results.get(timeout=60)
        if not ok:
            raise SystemExit(f"{step} failed: {body.decode()}")
        return t1 - t0

    # Cold starts: a fresh process per measurement, first event = a createSecret of a new rotation
    # (the replay of an already-AWSCURRENT token would be cheaper than real work).
    colds = []
    for _ in range(args.cold_starts):
        token = begin()
        t0 = time.perf_counter()
        api, proc = start(env)
        api.events.put({"Step": "createSecret", "SecretId": arn, "ClientRequestToken": token})
        t1, ok, body = api.results.get(timeout=60)
        colds.append(t1 - t0)
        for step in ("setSecret", "testSecret", "finishSecret"):
            invoke(api, step, token)
        proc.kill()
        proc.wait()
        api.shutdown()

    # Warm: one process, many rotations (client CPU of the process counted over them).
    def warm(run_env, rotations):
        api, proc = start(run_env)
        steps = {s: [] for s in ("createSecret", "setSecret", "testSecret", "finishSecret")}
        totals = []
        invoke(api, "createSecret", begin())  # the process's first event: init out of the count
        cpu0 = cpu_seconds(proc.pid)
        for _ in range(rotations):
            token = begin()
            total = 0.0
            for step in steps:
                d = invoke(api, step, token)
                steps[step].append(d)
                total += d
            totals.append(total)
        cpu = (cpu_seconds(proc.pid) - cpu0) / rotations
        status = Path(f"/proc/{proc.pid}/status").read_text()
        hwm = next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM"))
        if args.perf and "PERF_OUT" in run_env:
            proc.send_signal(signal.SIGINT)  # perf writes its data, then ends the function
        else:
            proc.kill()
        proc.wait()
        api.shutdown()
        return steps, totals, cpu, hwm

    steps, totals, cpu, hwm = warm({**env, **({"PERF_OUT": "1"} if args.perf else {})}, args.rotations)
    slow = None
    if args.latency_ms > 0:
        # Through the proxy twice, without and with the added latency: the difference divided by
        # the latency is the number of sequential rounds, whatever the proxy itself costs.
        n = max(5, args.rotations // 5)
        runs = []
        for latency in (0.0, args.latency_ms / 1000):
            proxy = SlowProxy(os.environ["AWS_ENDPOINT_URL"], latency)
            threading.Thread(target=proxy.serve_forever, daemon=True).start()
            runs.append(warm({**env, "AWS_ENDPOINT_URL": f"http://127.0.0.1:{proxy.server_address[1]}"}, n))
            proxy.shutdown()
        calls_per_rotation = (len(proxy.calls) - 3) / n
        base_steps, base_totals = runs[0][0], runs[0][1]
        slow = runs[1]
    # The floor of the work: the three PBKDF2-SHA256 derivations of 4096 iterations a rotation
    # needs (two SCRAM logins, one verifier), in OpenSSL's C through hashlib.
    t0 = time.process_time()
    for _ in range(30):
        for _ in range(3):
            hashlib.pbkdf2_hmac("sha256", b"Bench-password-32-characters-xx", os.urandom(16), 4096)
    floor = (time.process_time() - t0) / 30

    ms = lambda v: f"{v * 1000:7.1f} ms"
    print(f"secret-rotator benchmark ({binary}; local moto + PostgreSQL 15 with TLS;"
          f" {args.rotations} rotations, {args.cold_starts} cold starts)")
    print(f"  {'':<22}{'median':>10}{'p95':>11}")
    for step, v in steps.items():
        print(f"  {step:<22}{ms(statistics.median(v))}{ms(pct(v, 95)):>11}")
    print(f"  {'whole rotation':<22}{ms(statistics.median(totals))}{ms(pct(totals, 95)):>11}")
    print(f"  {'cold start (to 1st resp.)':<22}{ms(statistics.median(colds))}{ms(pct(colds, 95)):>11}")
    print(f"  peak memory (VmHWM) of the warm process after {args.rotations} rotations: {int(hwm) / 1024:.1f} MiB")
    print(f"  client CPU per rotation: {cpu * 1000:.1f} ms; PBKDF2 floor (3 x 4096 iterations): "
          f"{floor * 1000:.1f} ms; ratio {cpu / floor:.2f}x")
    if slow:
        s_steps, s_totals, _, _ = slow
        lat = args.latency_ms / 1000
        print(f"  with {args.latency_ms:.0f} ms added to every AWS call (a proxy in front of moto;"
              f" {calls_per_rotation:.1f} AWS calls a rotation):")
        for step, v in s_steps.items():
            rounds = (statistics.median(v) - statistics.median(base_steps[step])) / lat
            print(f"    {step:<20}{ms(statistics.median(v))}   ~{rounds:.1f} sequential AWS rounds")
        rounds = (statistics.median(s_totals) - statistics.median(base_totals)) / lat
        print(f"    {'whole rotation':<20}{ms(statistics.median(s_totals))}   ~{rounds:.1f} sequential AWS rounds")


if __name__ == "__main__":
    main()
