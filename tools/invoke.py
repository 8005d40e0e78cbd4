#!/usr/bin/env python3
"""`make invoke FN=<function> CASE=<case>` and `make check-events`: one `events/` case, or all of
them, run the way the README's "Invoking a function locally" describes (`cargo lambda watch` +
`cargo lambda invoke --data-file events/<function>/<case>.json`), with what each case needs set
up first: Caretaker deployed into three local accounts with IAM enforced and the estate seeded
(tools/deploy_local.py), the function's environment as template.yaml gives it with the credentials
of its own role, and the case's fixtures (a rotation in progress, images whose digests the promoter events name, a started
restore test). The state machine's inputs (`events/restore-tester/state-machine/`) go through
the local driver instead, as Step Functions would run them.

Runs inside `tools/stack.py run --iam` (the Makefile does that), which starts and stops moto and
PostgreSQL. With `--all`, each answer is compared with `events/expected.json` and the command
fails on any difference.

    tools/stack.py run --iam -- .venv/bin/python tools/invoke.py secret-rotator set-secret
    tools/stack.py run --iam -- .venv/bin/python tools/invoke.py --all
"""
import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from demo import (ROOT, STACK, TARGET, KubeStandin, Watch, deploy, dev_scheduler_env,  # noqa: E402
                  push_image, queue_month_costs, restore_tester_env, rotator_env)

EVENTS = ROOT / "events"
EXPECTED = json.loads((EVENTS / "expected.json").read_text())
# The digest the promoter's sample events name; the fixture image's real digest replaces it.
SAMPLE_DIGEST = "sha256:7f5b2640fe6fb4f46592dfd3410c4a79dac4f89e4782432e0378abcd1234ef01"
ROTATION_TOKEN = "c0ffee00-0000-4000-8000-000000000001"


def rewritten(case, text):
    """A copy of a case with the emulator's ids in place of the sample's."""
    path = STACK / f"case-{case.replace('/', '-')}.json"
    path.write_text(text)
    return path


class Function:
    """One function's local set-up: its environment, and what each case needs first."""
    name = ""

    def __init__(self, dep):
        self.dep = dep
        self.done = set()

    def env(self):
        return self.dep.function_env(self.name)

    def prepare(self, case, watch):
        """The data file to invoke for `case`, after any steps it needs."""
        return EVENTS / self.name / f"{case}.json"

    def close(self):
        pass


class SecretRotator(Function):
    name = "secret-rotator"
    ORDER = ["create-secret", "set-secret", "test-secret", "finish-secret"]

    def env(self):
        return {**rotator_env(self.dep), "RUST_LOG": "warn"}

    def prepare(self, case, watch):
        sm = self.dep.admin("secretsmanager", "dev")
        if case.startswith("create-secret") and "rotation" not in self.done:
            # What Secrets Manager does when a rotation starts: the token becomes AWSPENDING (the
            # emulator's RotateSecret runs no rotation and keeps no value-less version).
            sm.put_secret_value(SecretId="innovate/dev/app-db", ClientRequestToken=ROTATION_TOKEN,
                                SecretBinary=b"\0", VersionStages=["AWSPENDING"])
            self.done.add("rotation")
        if case in self.ORDER:
            for step in self.ORDER[:self.ORDER.index(case)]:
                if step not in self.done:
                    self.prepare(step, watch)
                    _, err = watch.invoke(self.name, EVENTS / self.name / f"{step}.json")
                    print(f"  (first {step}: {'failed: ' + err[:300] if err else 'done'})")
                    self.done.add(step)
            self.done.add(case)
        return EVENTS / self.name / f"{case}.json"


class ImagePromoter(Function):
    name = "image-promoter"

    def __init__(self, dep):
        super().__init__(dep)
        self.ecr = dep.admin("ecr")
        # Every read of the findings pops one queued result: queue plenty.
        self.backend = push_image(self.ecr, "backend", "sha-4f2a9c1",
                                  [("CVE-2026-0001", "MEDIUM", "libxml2", "2.9.14")], reads=20)
        push_image(self.ecr, "frontend", "sha-9c0ffee", [("CVE-2026-31337", "CRITICAL", "openssl", "3.0.11")], reads=20)

    def prepare(self, case, watch):
        path = super().prepare(case, watch)
        text = path.read_text()
        if SAMPLE_DIGEST in text:
            return rewritten(f"{self.name}/{case}", text.replace(SAMPLE_DIGEST, self.backend))
        return path


class RestoreTester(Function):
    name = "restore-tester"
    ORDER = ["step-start", "step-poll", "step-cleanup"]

    def env(self):
        return restore_tester_env(self.dep)

    def prepare(self, case, watch):
        if case in ("step-poll", "step-cleanup") and "step-start" not in self.done:
            self.start = watch.invoke(self.name, EVENTS / self.name / "step-start.json")
            print(f"  (first step-start: {'failed: ' + self.start[1][:300] if self.start[1] else 'done'})")
            self.done.add("step-start")
        path = super().prepare(case, watch)
        if case == "step-start":
            self.start = watch.invoke(self.name, path)
            self.done.add(case)
            return None
        if case == "step-poll" and self.start[0]:
            # The run the Start step returned, as the state machine passes it on.
            data = json.loads(path.read_text())
            data["run"] = self.start[0]
            return rewritten(f"{self.name}/{case}", json.dumps(data))
        return path

    def state_machine(self, case, watch):
        """A state machine input, through the local driver: (answer, error)."""
        path = EVENTS / self.name / "state-machine" / f"{case}.json"
        data = json.loads(path.read_text())
        if "snapshot" in data:
            # The sample names a snapshot of its own day: take the emulator's latest instead.
            snaps = self.dep.admin("rds", "prod").describe_db_snapshots(DBInstanceIdentifier=data["sourceInstance"])
            data["snapshot"] = max(snaps["DBSnapshots"], key=lambda s: s["SnapshotCreateTime"])["DBSnapshotIdentifier"]
            path = rewritten(f"{self.name}/{case}", json.dumps(data))
        out = subprocess.run([str(TARGET / "debug/local-driver"), str(watch.port), str(path), "--emulate-rds-password"],
                             cwd=ROOT, env={**os.environ, **self.dep.admin_env("prod")}, capture_output=True, text=True)
        text = (out.stdout + out.stderr).strip()
        return ({"driver": text[-1500:]}, None) if out.returncode == 0 else (None, text[-1500:])


class BudgetGuard(Function):
    name = "budget-guard"

    def prepare(self, case, watch):
        queue_month_costs()
        return super().prepare(case, watch)


class DevScheduler(Function):
    name = "dev-scheduler"
    # The periodic run at fixed times first; then the cases that act "now" each right after a
    # forced action, whose hold makes their answer the same at any time of day.
    ORDER = ["periodic-run-night", "periodic-run-night-later", "periodic-run-warm-up", "periodic-run-morning", "shutdown-dry-run",
             "shutdown", "status", "reconcile", "startup", "budget-shutdown-request"]

    def __init__(self, dep):
        super().__init__(dep)
        self.kube = KubeStandin()

    def env(self):
        return dev_scheduler_env(self.dep, self.kube)

    def prepare(self, case, watch):
        path = super().prepare(case, watch)
        data = json.loads(path.read_text())
        if case == "budget-shutdown-request":
            # The request names the dev account: the emulator's.
            data["detail"]["account"] = self.dep.accounts["dev"]
            return rewritten(f"{self.name}/{case}", json.dumps(data))
        return path

    def close(self):
        self.kube.stop()


FUNCTIONS = {f.name: f for f in (SecretRotator, ImagePromoter, RestoreTester, BudgetGuard, DevScheduler)}


def cases(function):
    lambda_cases = sorted(p.stem for p in (EVENTS / function).glob("*.json") if p.name != "expected.json")
    order = getattr(FUNCTIONS[function], "ORDER", [])  # steps in their order, then the rest
    lambda_cases.sort(key=lambda c: (order.index(c) if c in order else len(order), c))
    sm = sorted(f"state-machine/{p.stem}" for p in (EVENTS / function / "state-machine").glob("*.json"))
    return lambda_cases + sm


def verdict(answer, err):
    """What a case did, in the words of events/expected.json: "ok", "ok with failures" or an errorType."""
    if err is not None:
        # The function's own answer, not the watch log after it (which holds earlier cases).
        text = err.split("--- cargo lambda watch log")[0]
        for kind in ("AccessDenied", "InvalidInput", "PolicyViolation", "Retryable", "NotFound", "Internal", "Leftovers"):
            if kind in text:
                return kind
        return "error"
    if "driver" in answer:
        return "ok: " + ("SUCCEEDED" if "SUCCEEDED" in answer["driver"] else "not succeeded")
    t = answer.get("totals")
    if not t:
        return "ok"
    changed = "would change" if answer.get("dryRun") else "changed"
    return f"ok: {changed} {t['changed']}, unchanged {t['unchanged']}, skipped {t['skipped']}, failed {t['failed']}"


def said(answer, err):
    """One line of what the function answered: the report's summary, or the error."""
    if err is not None:
        text = err.split("--- cargo lambda watch log")[0].split("Was this behavior unexpected?")[0]
        text = " ".join("".join(c for c in text if c not in "×│╭╮╰╯─").replace("Error:", "").split())
    elif "driver" in answer:
        text = " ".join(l for l in answer["driver"].splitlines() if "verdict" in l.lower() or "execution" in l.lower())
    else:
        text = answer.get("summary", json.dumps(answer))
    return text[:110]


def run(function, selected, dep):
    fn = FUNCTIONS[function](dep)
    watch = Watch(fn.env())
    results = []
    try:
        for case in selected:
            if case.startswith("state-machine/"):
                answer, err = fn.state_machine(case.split("/", 1)[1], watch)
            else:
                path = fn.prepare(case, watch)
                answer, err = fn.start if path is None else watch.invoke(function, path)
            results.append((case, answer, err))
    finally:
        watch.stop()
        fn.close()
    return results


def check_all(dep, write_expected=False):
    """Every case of every function, each compared with events/expected.json; 1 on any difference."""
    bad, rows = 0, []
    for function in FUNCTIONS:
        for case, answer, err in run(function, cases(function), dep):
            got, want = verdict(answer, err), EXPECTED.get(f"{function}/{case}", "(none)")
            bad += got != want
            rows.append((f"{function}/{case}", want, got, said(answer, err)))
    width = max(len(r[0]) for r in rows)
    print(f"{'case':<{width}}  {'expected':<16} {'got':<16}    what it said")
    for name, want, got, text in rows:
        print(f"{name:<{width}}  {want:<16} {got:<16} {'✔' if got == want else '✘'}  {text}")
    print(f"{len(rows) - bad} of {len(rows)} cases behave as expected")
    if write_expected:
        (EVENTS / "expected.json").write_text(json.dumps({r[0]: r[2] for r in rows}, indent=2) + "\n")
    return 1 if bad else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("function", nargs="?")
    ap.add_argument("case", nargs="?")
    ap.add_argument("--all", action="store_true", help="every case of every function, checked against events/expected.json")
    ap.add_argument("--write-expected", action="store_true", help="with --all: record what each case did as expected")
    ap.add_argument("--release", action="store_true", help="run the release (optimised) binaries, as sam build ships them")
    args = ap.parse_args()
    if args.release:
        Watch.release = True
    if args.all:
        return check_all(deploy(), args.write_expected)
    if args.function not in FUNCTIONS or not args.case or args.case not in cases(args.function):
        known = "\n".join(f"  {f}: {' '.join(cases(f))}" for f in FUNCTIONS)
        raise SystemExit(f"usage: make invoke FN=<function> CASE=<case>; the cases are:\n{known}")
    [(case, answer, err)] = run(args.function, [args.case], deploy())
    print(json.dumps(answer, indent=2) if err is None else err)
    print(f"\n{args.function}/{case}: {verdict(answer, err)} (make check-events, running every case in order, expects: "
          f"{EXPECTED.get(f'{args.function}/{case}', '?')})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
