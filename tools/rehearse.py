#!/usr/bin/env python3
"""`make rehearse`: Caretaker as deployed, under IAM, everything it does — and what it may do but never does.

Three runs of the local stack with IAM enforced (`tools/stack.py run --iam`), each deploying the
SAM-translated template into the three local accounts (tools/deploy_local.py) and running every
function as a Lambda process under the credentials of its own role:

  events    every events/ case, compared with events/expected.json (what `make check-events` does);
  demo      the demo's acts (tools/demo.py), its output kept in .rehearsal/demo.log;
  removal   for each function, one statement removed from its policy in a copy of the translated
            template and that copy's policy put on the role (as a stack update would): the case that
            needs the statement must fail with AccessDenied, and the function must say
            "permission denied", the IAM action and the role.

Then, from the IAM decisions tools/moto_iam.py logged in the events and demo runs, per function:
the calls it made, the IAM actions they needed, the AccessDenied it got (must be 0), and the
grants in its policies that no call used, each with the reason it stays (UNUSED_BUT_KEPT); a grant
that no call used and that has no reason fails the rehearsal: remove it, or say why it stays.

    tools/rehearse.py                    the whole rehearsal (what `make rehearse` runs)
    tools/rehearse.py inside SCENARIO    one run, inside `tools/stack.py run --iam`
"""
import copy
import fnmatch
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".rehearsal"
PYTHON = ROOT / ".venv" / "bin" / "python"

# Grants no rehearsal call uses, and why each stays. Keyed by (function, IAM action pattern as the
# policy writes it); a grant listed here that a call does use is fine, one missing here fails.
UNUSED_BUT_KEPT = {
    ("*", "kms:GenerateDataKey"): "SNS calls KMS with the publisher's identity for the encrypted alert topic "
                                  "(kms:ViaService); moto's SNS does not encrypt, so the call is never seen here",
    ("*", "kms:Decrypt"): "as kms:GenerateDataKey: SNS uses it on the publisher's behalf for the encrypted topic",
    ("*", "sqs:SendMessage"): "Lambda itself sends an asynchronous invocation that keeps failing to the on-failure "
                              "destination with the function's role (SAM's EventInvokeConfig policy)",
    ("dev-scheduler", "rds:StopDBCluster"): "Aurora clusters opted in to a schedule are stopped; the seed's dev "
                                            "account has none (the integration tests cover it)",
    ("dev-scheduler", "rds:StartDBCluster"): "as rds:StopDBCluster, for the morning",
    ("dev-scheduler", "rds:DescribeEvents"): "asked only for a database found away from its schedule (drift), to "
                                             "name the cause; the rehearsal has no drift",
    ("dev-scheduler", "pricing:GetProducts"): "the Price List API is served by the local stack's fixture endpoint "
                                              "(tools/pricing_fixture.py; moto has none), which evaluates no IAM",
    ("image-promoter", "ecr:StartImageScan"): "a push to a repository that does not scan on push starts the scan; "
                                              "the seed's repositories scan on push",
    ("image-promoter", "ecr:DescribeRepositories"): "a push event reads whether its repository scans on push; the "
                                                    "rehearsal's push case finds the scan already complete",
    ("secret-rotator", "rds:DescribeDBClusters"): "a secret of an Aurora cluster is checked to be up before a login; "
                                                  "the seed's dev database is an instance",
    ("budget-guard", "dynamodb:DeleteItem"): "gives a notice's once-only claim back when no sink took the message, "
                                             "so that Budgets' retry is sent; every sink takes it here",
    ("restore-tester", "rds:AddTagsToResource"): "AWS authorizes the tags given to RestoreDBInstanceFromDBSnapshot as "
                                                 "rds:AddTagsToResource (tag on create); moto does not ask",
    ("restore-tester", "secretsmanager:TagResource"): "AWS authorizes the tags given to CreateSecret as "
                                                      "secretsmanager:TagResource; moto does not ask",
}


# ---------------------------------------------------------------------------- inside a stack run
def role_policies(dep, role_arn):
    """(policy name, document, AWS-managed?) of every policy of a role, read as its account's admin."""
    account = role_arn.split(":")[4]
    env = next(e for e, a in dep.accounts.items() if a == account)
    iam = dep.admin("iam", env)
    name = role_arn.rsplit("/", 1)[1]
    for p in iam.list_role_policies(RoleName=name)["PolicyNames"]:
        yield p, iam.get_role_policy(RoleName=name, PolicyName=p)["PolicyDocument"], False
    for a in iam.list_attached_role_policies(RoleName=name)["AttachedPolicies"]:
        pol = iam.get_policy(PolicyArn=a["PolicyArn"])["Policy"]
        doc = iam.get_policy_version(PolicyArn=a["PolicyArn"], VersionId=pol["DefaultVersionId"])["PolicyVersion"]["Document"]
        yield pol["PolicyName"], doc if isinstance(doc, dict) else json.loads(doc), a["PolicyArn"].startswith("arn:aws:iam::aws:")


def summarize(dep, scenario):
    """What each function did under IAM in this run, from the decisions moto_iam.py logged."""
    entries = [json.loads(l) for l in Path(os.environ["CARETAKER_IAM_LOG"]).read_text().splitlines() if l]
    sessions = {f["functionName"]: name for name, f in dep.functions.items()}
    out = {}
    for name, f in dep.functions.items():
        mine = [e for e in entries if "assumed-role/" in e["principal"] and sessions.get(e["principal"].rsplit("/", 1)[1]) == name]
        roles = {f["role"]} | {e["resource"] for e in mine if e["action"] == "sts:AssumeRole" and e["allowed"]}
        grants = []
        for role in sorted(roles):
            for policy, doc, aws_managed in role_policies(dep, role):
                sts = doc.get("Statement", [])
                for i, st in enumerate(sts if isinstance(sts, list) else [sts]):
                    if st.get("Effect") != "Allow":
                        continue
                    actions = st.get("Action", [])
                    grants.append({"role": role, "policy": policy, "sid": st.get("Sid", f"#{i}"), "awsManaged": aws_managed,
                                   "actions": actions if isinstance(actions, list) else [actions]})
        places = {a: env for env, a in dep.accounts.items()}
        out[name] = {"calls": [{**{k: e[k] for k in ("action", "resource", "allowed", "by", "why") if k in e},
                                "place": places.get(e["account"], e["account"])} for e in mine],
                     "home": f["place"], "grants": grants}
    (OUT / f"{scenario}.json").write_text(json.dumps(out, indent=1))


def inside(scenario):
    sys.path.insert(0, str(ROOT / "tools"))
    if scenario == "events":
        import invoke
        dep = invoke.deploy()
        rc = invoke.check_all(dep)
    elif scenario == "demo":
        import demo
        rc = demo.main()
        from deployment import Deployment
        dep = Deployment()
    elif scenario == "removal":
        return removal()
    else:
        raise SystemExit(f"rehearse: unknown scenario {scenario}")
    summarize(dep, scenario)
    return rc


# ---------------------------------------------------------------------------- the removal test
# (function, Sid of the statement removed, the case that needs it, the IAM action it grants that the case calls)
REMOVALS = [
    ("dev-scheduler", "ReachDevAccounts", "status", "sts:AssumeRole"),
    ("image-promoter", "DecideAndRetagInScopeRepositories", "manual-frontend", "ecr:DescribeImages"),
    ("restore-tester", "ReadSourceAndSnapshots", "step-start", "rds:DescribeDBInstances"),
    ("budget-guard", "BudgetsInThisAccount", "reconcile", "budgets:ViewBudget"),
    ("secret-rotator", "RotateTheAppSecret", "create-secret", "secretsmanager:DescribeSecret"),
]


def sids(statement):
    """The Sids a template statement can stand for (both branches of an Fn::If)."""
    if "Fn::If" in statement:
        return {x for branch in statement["Fn::If"][1:] if isinstance(branch, dict) for x in sids(branch)}
    return {statement.get("Sid")}


def without_statement(template, role_logical, sid):
    """A copy of the translated template with the statement `sid` gone from the role's policies."""
    t = copy.deepcopy(template)
    removed = 0
    for pol in t["Resources"][role_logical]["Properties"].get("Policies", []):
        sts = pol["PolicyDocument"]["Statement"]
        kept = [st for st in sts if sid not in sids(st)]
        removed += len(sts) - len(kept)
        pol["PolicyDocument"]["Statement"] = kept
    if removed != 1:
        raise SystemExit(f"rehearse: {role_logical} has {removed} statements {sid}, expected exactly one")
    return t


def removal():
    import deploy_local
    import invoke
    from cfn_local import Stack, translate, versioned
    from demo import Watch

    dep = invoke.deploy()
    translated = translate(ROOT / "template.yaml")
    failures = []
    for function, sid, case, action in REMOVALS:
        f = dep.functions[function]
        place = dep.d["stacks"][f["place"]]
        role_logical = f"{f['logical']}Role"  # SAM's name for a function's generated role
        # The copy, resolved as CloudFormation would resolve it in that stack: its role's policies
        # are what an update of the stack with the copy would put on the role.
        stack = Stack(place["name"], without_statement(translated, role_logical, sid), place["params"], place["account"],
                      deploy_local.REGION, None)
        stack.physical = {k: v["physical"] for k, v in place["resources"].items()}
        props = stack.resolve(stack.t["Resources"][role_logical]["Properties"])
        role_name = place["resources"][role_logical]["physical"]["Ref"]
        iam = dep.admin("iam", f["place"])
        original = {p["PolicyName"]: iam.get_role_policy(RoleName=role_name, PolicyName=p["PolicyName"])["PolicyDocument"]
                    for p in props["Policies"]}
        for p in props["Policies"]:
            if p["PolicyDocument"]["Statement"]:
                iam.put_role_policy(RoleName=role_name, PolicyName=p["PolicyName"],
                                    PolicyDocument=json.dumps(versioned(p["PolicyDocument"])))
            else:  # IAM refuses a policy without statements: the update removes it
                iam.delete_role_policy(RoleName=role_name, PolicyName=p["PolicyName"])
        log_before = len(Path(os.environ["CARETAKER_IAM_LOG"]).read_text().splitlines())
        fn = invoke.FUNCTIONS[function](dep)
        watch = Watch(fn.env())
        try:
            path = fn.prepare(case, watch)
            answer, err = fn.start if path is None else watch.invoke(function, path)
        finally:
            watch.stop()
            fn.close()
            for name, doc in original.items():
                iam.put_role_policy(RoleName=role_name, PolicyName=name, PolicyDocument=json.dumps(doc))
        said = json.dumps(answer) if err is None else "".join(
            c for c in err.split("--- cargo lambda watch log")[0].split("Was this behavior unexpected?")[0] if c not in "│×╭╮╰╯─")
        # cargo lambda boxes an error over several lines, breaking words: compare without white space.
        flat = "".join(said.split())
        new = [json.loads(l) for l in Path(os.environ["CARETAKER_IAM_LOG"]).read_text().splitlines()[log_before:]]
        denied = [e for e in new if not e["allowed"] and e["action"].lower() == action.lower() and f["functionName"] in e["principal"]]
        missing = [w for w, ok in (("an AccessDenied for " + action, denied),
                                   ("'permission denied' in its answer", "permissiondenied" in flat),
                                   (f"the role {role_name}", role_name in flat),
                                   (f"the action {action}", action.split(":")[1].lower() in flat.lower()),
                                   ("errorType AccessDenied", err is None or invoke.verdict(answer, err) == "AccessDenied"))
                   if not ok]
        verdict = "as it should" if not missing else "WRONG: missing " + ", ".join(missing)
        print(f"  {function:<15} without {sid:<34} {case:<16} {verdict}")
        text = " ".join(said.split())
        line = re.search(r"permission denied: [^\"]*", text)
        print("    it said: " + (line.group(0) if line and not missing else text)[:300])
        if missing:
            failures.append(function)
    return 1 if failures else 0


# ---------------------------------------------------------------------------- the report
def matches(pattern, action):
    return fnmatch.fnmatchcase(action.lower(), pattern.lower())


def reason_for(function, action):
    return UNUSED_BUT_KEPT.get((function, action), UNUSED_BUT_KEPT.get(("*", action)))


def report(scenarios):
    runs = [json.loads((OUT / f"{s}.json").read_text()) for s in scenarios]
    bad = 0
    print(f"\n{'function':<15} {'calls':>6} {'denied':>7}  {'acts in':<10} IAM actions used (calls)")
    unused_rows = []
    for function in runs[0]:
        calls = [c for r in runs for c in r[function]["calls"]]
        denied = [c for c in calls if not c["allowed"]]
        actions = Counter(c["action"] for c in calls)
        used_by = defaultdict(set)  # (policy, sid) -> actions it granted
        for c in calls:
            for b in c.get("by", []):
                used_by[(b["policy"], b["sid"])].add(c["action"])
        acts_in = sorted({c["place"] for c in calls})
        print(f"{function:<15} {len(calls):>6} {len(denied):>7}  {'+'.join(acts_in):<10} "
              + ", ".join(f"{a} ({n})" for a, n in sorted(actions.items())))
        # Each function acts in its own account only; dev-scheduler also in the dev accounts, never in prod.
        allowed = {runs[0][function]["home"]} | ({"dev"} if function == "dev-scheduler" else set())
        for place in set(acts_in) - allowed:
            print(f"{'':<31}ACTS IN {place}: it may act only in {', '.join(sorted(allowed))}")
            bad += 1
        for c in denied:
            print(f"{'':<31}DENIED {c['action']} on {c['resource']}: {c.get('why', '')}")
        bad += len(denied)
        seen = set()
        for g in runs[0][function]["grants"]:
            if g["awsManaged"]:
                continue  # AWS's own (logs for Lambda, X-Ray): used by the Lambda service, not by the function's calls
            for pattern in g["actions"]:
                key = (g["policy"], g["sid"], pattern)
                if key in seen or any(matches(pattern, a) for a in used_by[(g["policy"], g["sid"])]):
                    continue
                seen.add(key)
                why = reason_for(function, pattern)
                unused_rows.append((function, pattern, f"{g['policy']}/{g['sid']}", why))
                bad += not why
    print("\ngrants no call used (each must be removed or have its reason in tools/rehearse.py):")
    for function, pattern, where, why in unused_rows:
        print(f"  {function:<15} {pattern:<36} {where:<48} {why or 'NO REASON: remove it or say why it stays'}")
    if not unused_rows:
        print("  none")
    managed = sorted({g["policy"] for r in runs for f in r.values() for g in f["grants"] if g["awsManaged"]})
    print(f"  (AWS managed policies, used by the Lambda service rather than by the function's calls: {', '.join(managed)})")
    return bad


def stack_run(scenario, quiet):
    log = OUT / f"{scenario}.log"
    cmd = [str(ROOT / "tools/stack.py"), "run", "--iam", "--", str(PYTHON), str(Path(__file__).resolve()), "inside", scenario]
    with open(log, "w") as f:
        p = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for line in p.stdout:
            f.write(line)
            if not quiet:
                print(line, end="", flush=True)
        return p.wait(), log


def main():
    if sys.argv[1:2] == ["inside"]:
        return inside(sys.argv[2])
    OUT.mkdir(exist_ok=True)
    failed = []
    for scenario, title, quiet in (("events", "every events/ case, each function under its own role", False),
                                   ("demo", "the demo's acts under the same roles (output: .rehearsal/demo.log)", True),
                                   ("removal", "one statement removed from each function's policy", False)):
        print(f"==> rehearsal: {title}", flush=True)
        rc, log = stack_run(scenario, quiet)
        if quiet:
            text = log.read_text()
            tail = text[text.rfind("=== what each function did"):] if "=== what each function did" in text else text[-3000:]
            print(tail.rstrip())
        if rc:
            failed.append(scenario)
    bad = report(["events", "demo"]) if (OUT / "events.json").exists() and (OUT / "demo.json").exists() else 1
    if failed or bad:
        print(f"\nrehearsal FAILED: {', '.join(failed + ([f'{bad} AccessDenied or unexplained grants'] if bad else []))}")
        return 1
    print("\nrehearsal passed: 0 AccessDenied, every unused grant explained, every removed statement refused")
    return 0


if __name__ == "__main__":
    sys.exit(main())
