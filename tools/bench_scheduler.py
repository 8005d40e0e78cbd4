#!/usr/bin/env python3
"""Benchmark of dev-scheduler as a real Lambda binary (what the 128 MB function runs), against moto
and the Kubernetes API stand-in as its own process. Prints figures; asserts only correctness.

Estate in moto's default account: one EKS cluster tagged env=dev with N/100 node groups, N/100 RDS
instances; N workloads in the stand-in (80 % Deployments, 10 % StatefulSets, 10 % CronJobs, 50 per
opted-in namespace). For each N: a fresh process, cold start to the first response (a shutdown),
then warm: a second shutdown (nothing to do), a startup; the process's peak memory (VmHWM).

    tools/stack.py run -- .venv/bin/python tools/bench_scheduler.py [--sizes 10,100,1000]
"""
import argparse
import json
import sys
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cargo_target import target_dir  # noqa: E402

from bench_rotator import RuntimeApi

ROOT = Path(__file__).resolve().parent.parent
TARGET = target_dir()
TAGS = {"env": "dev", "project": "innovate", "cost_center": "engineering"}


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def manifests(n):
    items = []
    for i in range(n):
        ns = f"team-{i // 50}"
        if i % 50 == 0:
            items.append({"apiVersion": "v1", "kind": "Namespace",
                          "metadata": {"name": ns, "annotations": {"caretaker/schedule": "office-hours"}}})
        name = f"w-{i}"
        meta = {"name": name, "namespace": ns, "uid": str(uuid.uuid4())}
        pod = {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": name, "image": "app:v1"}]}}
        if i % 10 == 1:
            items.append({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": meta,
                          "spec": {"schedule": "0 * * * *", "suspend": False, "jobTemplate": {"spec": {"template": pod}}}})
        else:
            kind = "StatefulSet" if i % 10 == 0 else "Deployment"
            items.append({"apiVersion": "apps/v1", "kind": kind, "metadata": meta,
                          "spec": {"replicas": 1 + i % 3, "selector": {"matchLabels": {"app": name}}, "template": pod}})
    return items


def seed_aws(prefix, groups):
    kw = dict(endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    eks, rds = boto3.client("eks", **kw), boto3.client("rds", **kw)
    cluster = f"{prefix}-dev"
    eks.create_cluster(name=cluster, roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]}, tags=TAGS)
    for g in range(groups):
        eks.create_nodegroup(clusterName=cluster, nodegroupName=f"ng-{g}", nodeRole="arn:aws:iam::123456789012:role/n",
                             subnets=["subnet-1"], scalingConfig={"minSize": 1, "maxSize": 3, "desiredSize": 2},
                             tags={**TAGS, "caretaker/schedule": "office-hours"})
        rds.create_db_instance(DBInstanceIdentifier=f"{prefix}-db-{g}", Engine="postgres", DBInstanceClass="db.t4g.small",
                               AllocatedStorage=20, MasterUsername="m", MasterUserPassword="password123",
                               Tags=[{"Key": k, "Value": v} for k, v in {**TAGS, "caretaker/schedule": "office-hours"}.items()])
    return eks, rds, cluster


def cleanup_aws(eks, rds, cluster, groups, prefix):
    for g in range(groups):
        eks.delete_nodegroup(clusterName=cluster, nodegroupName=f"ng-{g}")
        rds.delete_db_instance(DBInstanceIdentifier=f"{prefix}-db-{g}", SkipFinalSnapshot=True)
    eks.delete_cluster(name=cluster)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10,100,1000")
    ap.add_argument("--binary", default=str(TARGET / "release/dev-scheduler"))
    ap.add_argument("--standin", default=str(TARGET / "release/kube-standin"))
    args = ap.parse_args()
    binary = Path(args.binary)
    print(f"dev-scheduler benchmark ({binary} as a Lambda process; moto + the Kubernetes"
          " stand-in process over TLS)")
    print(f"  {'workloads':>9} {'NGs/DBs':>8}  {'cold start + shutdown':>22}  {'shutdown again':>15}  {'startup':>9}"
          f"  {'peak memory':>12}")
    work = Path(tempfile.mkdtemp(prefix="bench-scheduler-", dir=os.environ["CARETAKER_STACK_DIR"]))
    for n in (int(x) for x in args.sizes.split(",")):
        groups = max(1, n // 100)
        prefix = f"b{n}-{uuid.uuid4().hex[:4]}"
        eks, rds, cluster = seed_aws(prefix, groups)
        seed = work / f"kube-{n}.json"
        seed.write_text(json.dumps(manifests(n)))
        port = free_port()
        standin = subprocess.Popen(
            [args.standin, "--port", str(port), "--cert", os.environ["CARETAKER_TLS_CERT"],
             "--key", os.environ["CARETAKER_TLS_KEY"], "--ca", os.environ["CARETAKER_TLS_CA"], "--seed", str(seed)],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
        standin.stderr.readline()  # "listening on ..."
        api = RuntimeApi()
        threading.Thread(target=api.serve_forever, daemon=True).start()
        env = {**os.environ, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_address[1]}",
               "AWS_LAMBDA_FUNCTION_NAME": "dev-scheduler", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
               "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
               "AWS_LAMBDA_LOG_GROUP_NAME": "bench", "RUST_LOG": "warn",
               "SCHEDULES": json.dumps({"office-hours": "Mon-Fri 07:00-20:00 UTC"}),
               "KUBE_ENDPOINT_OVERRIDE": f"https://localhost:{port}", "KUBE_CA_FILE": os.environ["CARETAKER_TLS_CA"]}
        t0 = time.perf_counter()
        proc = subprocess.Popen([str(binary)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times = []
        try:
            for action in ("shutdown", "shutdown", "startup"):
                start = t0 if not times else time.perf_counter()
                api.events.put({"action": action})
                t1, ok, body = api.results.get(timeout=120)
                report = json.loads(body)
                if not ok or report["totals"]["failed"]:
                    raise SystemExit(f"{action} failed: {body.decode()[:2000]}")
                # Only this run's cluster counts: other sizes' clusters were deleted.
                expected = 0 if len(times) == 1 else n + 2 * groups
                if report["totals"]["changed"] != expected:
                    raise SystemExit(f"{action}: changed {report['totals']['changed']}, expected {expected}")
                times.append((t1 - start) * 1000)
            status = Path(f"/proc/{proc.pid}/status").read_text()
            hwm = int(next(l.split()[1] for l in status.splitlines() if l.startswith("VmHWM"))) / 1024
        finally:
            proc.kill()
            proc.wait()
            api.shutdown()
            os.killpg(standin.pid, signal.SIGTERM)
            standin.wait()
            cleanup_aws(eks, rds, cluster, groups, prefix)
        print(f"  {n:>9} {groups:>8}  {times[0]:>19.0f} ms  {times[1]:>12.0f} ms  {times[2]:>6.0f} ms  {hwm:>8.1f} MiB")


if __name__ == "__main__":
    main()
