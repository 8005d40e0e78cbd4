#!/usr/bin/env python3
"""dev-scheduler side by side with Cloud Custodian, one run, same moto, same machine.

Both stop N tagged dev RDS instances: Custodian 0.9.53 with a `stop` policy on `aws.rds`
(filters: tag env=dev, tag caretaker/schedule present), dev-scheduler's release binary as a
Lambda process (behind a minimal Runtime API) running its periodic `reconcile` at a night time,
with its DynamoDB memory, as deployed. Each side runs as its own process on a fresh set of N
instances; its CPU (user + system) and peak RSS come from wait4, the wall time from start to the
last stop. A run with no matching instance gives each side's fixed cost, so the per-stop CPU is
(CPU(N) - CPU(0)) / N. Then the same at a smaller N with a proxy adding latency to every AWS
call (AWS's round trip, locally), where the calls in flight decide the wall time.

    tools/stack.py run -- .venv-bench/bin/python tools/bench_custodian.py [--n 500] [--n-latency 200]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rotator import RuntimeApi, SlowProxy  # noqa: E402
from cargo_target import target_dir  # noqa: E402

NIGHT = "2026-11-30T21:00:00Z"  # a Monday, outside Mon-Fri 07:00-20:00 UTC
TAGS = [{"Key": "env", "Value": "dev"}, {"Key": "caretaker/schedule", "Value": "office-hours"},
        {"Key": "project", "Value": "innovate"}, {"Key": "cost_center", "Value": "engineering"}]
POLICY = """policies:
  - name: stop-dev-rds
    resource: aws.rds
    filters:
      - "tag:env": dev
      - "tag:caretaker/schedule": present
    actions:
      - stop
"""


def rds():
    return boto3.client("rds", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                        aws_access_key_id="testing", aws_secret_access_key="testing")


def seed(n):
    c, prefix = rds(), f"b-{uuid.uuid4().hex[:6]}"
    ids = [f"{prefix}-{i:04d}" for i in range(n)]
    for i in ids:
        c.create_db_instance(DBInstanceIdentifier=i, Engine="postgres", DBInstanceClass="db.t4g.micro",
                             AllocatedStorage=20, MasterUsername="app", MasterUserPassword="not-a-secret-1",
                             Tags=TAGS)
    return ids


def statuses(ids):
    c, out = rds(), {}
    for page in c.get_paginator("describe_db_instances").paginate():
        for d in page["DBInstances"]:
            if d["DBInstanceIdentifier"] in ids:
                out[d["DBInstanceIdentifier"]] = d["DBInstanceStatus"]
    return out


def delete(ids):
    c = rds()
    for i in ids:
        c.delete_db_instance(DBInstanceIdentifier=i, SkipFinalSnapshot=True)


def vm_hwm(pid):
    """The process's own peak RSS in MiB (wait4's ru_maxrss would include this Python parent's,
    which the child inherits at fork and keeps across exec)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    hwm = [l.split()[1] for l in status.splitlines() if l.startswith("VmHWM")]
    return int(hwm[0]) / 1024 if hwm else None  # a zombie has none


def measured(popen_args, env, until=None):
    """Run a process until it exits, or until `until()` says its work is done (then it is
    stopped). (wall s, CPU s from wait4, peak RSS MiB from VmHWM, polled every 20 ms)."""
    log = tempfile.TemporaryFile()
    t0 = time.perf_counter()
    proc = subprocess.Popen(popen_args, env=env, stdout=log, stderr=log)
    peak, done = [0.0], threading.Event()

    def poll():
        while not done.is_set():
            v = vm_hwm(proc.pid)
            if v:
                peak[0] = max(peak[0], v)
            time.sleep(0.02)
    threading.Thread(target=poll, daemon=True).start()
    if until:
        until()
        wall = time.perf_counter() - t0
        peak[0] = max(peak[0], vm_hwm(proc.pid) or 0)
        done.set()
        proc.terminate()
        _, status, ru = os.wait4(proc.pid, 0)
    else:
        _, status, ru = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        done.set()
        if status != 0:
            log.seek(0)
            raise SystemExit(f"{popen_args[0]} failed: {log.read().decode()[-2000:]}")
    proc.returncode = status
    return wall, ru.ru_utime + ru.ru_stime, peak[0]


def custodian(endpoint, work):
    policy = work / "policy.yml"
    policy.write_text(POLICY)
    env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
           "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}
    env.pop("AWS_SESSION_TOKEN", None)
    exe = str(Path(sys.executable).parent / "custodian")
    out = work / f"c7n-{uuid.uuid4().hex[:6]}"
    return measured([exe, "run", "-s", str(out), "--region", "us-east-1", "--cache-period", "0", str(policy)],
                    env)


def scheduler(binary, endpoint):
    table = f"bench-{uuid.uuid4().hex[:8]}"
    boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL"], region_name="us-east-1",
                 aws_access_key_id="testing", aws_secret_access_key="testing").create_table(
        TableName=table, BillingMode="PAY_PER_REQUEST",
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}])
    api = RuntimeApi()
    threading.Thread(target=api.serve_forever, daemon=True).start()
    env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
           "AWS_LAMBDA_FUNCTION_NAME": "dev-scheduler", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
           "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
           "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "RUST_LOG": "warn", "AWS_ENDPOINT_URL": endpoint,
           "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1",
           "SCHEDULES": json.dumps({"office-hours": "Mon-Fri 07:00-20:00 UTC"}), "STATE_TABLE": table}
    env.pop("AWS_SESSION_TOKEN", None)
    report = {}

    def until():
        api.events.put({"action": "reconcile", "at": NIGHT})
        _, ok, body = api.results.get(timeout=1800)
        if not ok:
            raise SystemExit(f"dev-scheduler failed: {body.decode()[:2000]}")
        report.update(json.loads(body))
    cmd = [str(binary)]
    if os.environ.get("PERF_OUT"):  # a profile of the function instead of clean figures
        cmd = ["perf", "record", "-e", "cpu-clock", "-F", "4000", "-g", "-o", os.environ["PERF_OUT"], *cmd]
    try:
        result = measured(cmd, env, until)
    finally:
        api.shutdown()
    if report["totals"]["failed"]:
        failed = [r for r in report["resources"] if r["outcome"] == "failed"]
        raise SystemExit(f"dev-scheduler: {report['summary']}: {json.dumps(failed)[:1500]}")
    return result


def side_by_side(n, binary, work, latency_ms):
    proxy = None
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    if latency_ms:
        proxy = SlowProxy(endpoint, latency_ms / 1000)
        threading.Thread(target=proxy.serve_forever, daemon=True).start()
        endpoint = f"http://127.0.0.1:{proxy.server_address[1]}"
    rows = {}
    for name, run in (("Cloud Custodian 0.9.53", lambda: custodian(endpoint, work)),
                      ("dev-scheduler", lambda: scheduler(binary, endpoint))):
        ids = seed(n)
        if proxy:
            proxy.calls.clear()
        wall, cpu, rss = run()
        calls = len(proxy.calls) if proxy else None
        left = [i for i, s in statuses(ids).items() if s not in ("stopped", "stopping")]
        delete(ids)
        if left:
            raise SystemExit(f"{name}: {len(left)} of {n} instances not stopped")
        rows[name] = (wall, cpu, rss, calls)
    if proxy:
        proxy.shutdown()
    return rows


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=500)
    ap.add_argument("--n-latency", type=int, default=200)
    ap.add_argument("--latency-ms", type=float, default=50.0)
    ap.add_argument("--binary", default=str(target_dir() / "release/dev-scheduler"))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-custodian-", dir=os.environ["CARETAKER_STACK_DIR"]))
    print("dev-scheduler vs Cloud Custodian: stop N tagged dev RDS instances (moto, this machine)")
    base = side_by_side(0, args.binary, work, 0)
    full = side_by_side(args.n, args.binary, work, 0)
    print(f"\n  N = {args.n}, no added latency")
    print(f"  {'':<24} {'wall':>8} {'CPU':>9} {'CPU per stop':>13} {'peak RSS':>10}")
    per = {}
    for name, (wall, cpu, rss, _) in full.items():
        per[name] = (cpu - base[name][1]) / args.n * 1000
        print(f"  {name:<24} {wall:>6.2f} s {cpu * 1000:>6.0f} ms {per[name]:>10.2f} ms {rss:>6.1f} MiB"
              f"   (at N = 0: {base[name][1] * 1000:.0f} ms CPU, {base[name][2]:.1f} MiB)")
    c, s = full["Cloud Custodian 0.9.53"], full["dev-scheduler"]
    print(f"  ratio dev-scheduler / Custodian: CPU per stop {per['dev-scheduler'] / per['Cloud Custodian 0.9.53']:.2f}x,"
          f" whole-process CPU {s[1] / c[1]:.2f}x, peak RSS {s[2] / c[2]:.2f}x, wall {s[0] / c[0]:.2f}x")
    lat = side_by_side(args.n_latency, args.binary, work, args.latency_ms)
    c, s = lat["Cloud Custodian 0.9.53"], lat["dev-scheduler"]
    print(f"\n  N = {args.n_latency}, {args.latency_ms:.0f} ms added to every AWS call (a proxy in front of moto)")
    for name, (wall, cpu, rss, calls) in lat.items():
        print(f"  {name:<24} {wall:>6.2f} s  {calls:>5} AWS calls")
    print(f"  dev-scheduler is {c[0] / s[0]:.1f}x faster (wall); AWS calls {s[3]} for {args.n_latency} stops"
          f" (stops + list pages + its memory's GetItem/PutItem)")


if __name__ == "__main__":
    main()
