#!/usr/bin/env python3
"""The deploy rehearsal's estate: Caretaker deployed as the README deploys it, into three local
accounts with IAM enforced (`tools/stack.py run --iam`), and the estate of tools/seed.py around it.

1. bootstrap: the organization with its dev and prod accounts, and an admin user in each account
   (the only calls moto lets through unsigned; then a probe proves that it enforces IAM);
2. `template.yaml`, through SAM's own translator, in the management account with samconfig.toml's
   hub switches (`DevAccounts` = dev; the seed's budgets as `BudgetsJson`), and
   `deploy/spoke.yaml` in dev;
3. the estate (tools/seed.py, each account by its own admin);
4. `template.yaml` again where a database lives, with samconfig.toml's switches for that place:
   in dev for its rotator (`AppSecretArn`), in prod for the restore test (in the seed's prod VPC,
   restoring into its isolated DB subnet group); each place is checked to hold exactly its
   functions;
5. each function's credentials as Lambda gets them: the function's own role, assumed by a
   stand-in for the Lambda service (the user `lambda.amazonaws.com`, which tools/moto_iam.py lets
   assume only roles that trust that service, in its own account).

Writes $CARETAKER_STACK_DIR/deployment.json (accounts, admins, stacks, each function's role,
environment and credentials) and estate.json; prints what it created where.
"""
import json
import os
import subprocess
import sys
from pathlib import Path

import boto3
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_local import Stack, load_template, place_parameters, translate  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
STACK = Path(os.environ["CARETAKER_STACK_DIR"])
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = os.environ.get("AWS_REGION", "us-east-1")
ADMIN = "caretaker-rehearsal-admin"
LAMBDA_SERVICE = "lambda.amazonaws.com"


# Where each function runs (README "Deploying"): the hub in management; the rotator next to the
# dev database; the restore test in prod, next to the database it restores.
PLACEMENT = {"dev-scheduler": "mgmt", "image-promoter": "mgmt", "budget-guard": "mgmt",
             "secret-rotator": "dev", "restore-tester": "prod"}


def session(keys=None):
    """A boto3 session whose clients always talk to the local AWS (the dummy keys by default)."""
    keys = keys or {"AccessKeyId": "testing", "SecretAccessKey": "testing"}
    s = boto3.Session(aws_access_key_id=keys["AccessKeyId"], aws_secret_access_key=keys["SecretAccessKey"],
                      aws_session_token=keys.get("SessionToken"), region_name=REGION)
    orig = s.client
    s.client = lambda service, **kw: orig(service, endpoint_url=ENDPOINT, **{"region_name": REGION, **kw})
    return s


def admin_user(iam):
    iam.create_user(UserName=ADMIN)
    iam.put_user_policy(UserName=ADMIN, PolicyName="everything", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
    k = iam.create_access_key(UserName=ADMIN)["AccessKey"]
    return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}


def bootstrap():
    """The calls moto lets through before it enforces IAM (tools/stack.py IAM_FREE_CALLS)."""
    free = int(os.environ.get("CARETAKER_IAM_FREE_CALLS", "0"))
    if not free:
        raise SystemExit("deploy_local: the local AWS must enforce IAM: run inside `tools/stack.py run --iam`")
    calls = 0
    dummy = session()
    org = dummy.client("organizations")
    org.create_organization(FeatureSet="ALL")
    accounts = {"mgmt": "123456789012"}  # moto's default account: the management account
    for env in ("dev", "prod"):
        accounts[env] = org.create_account(Email=f"aws-{env}@innovate.example", AccountName=f"innovate-{env}",
                                           Tags=[{"Key": "env", "Value": env}])["CreateAccountStatus"]["AccountId"]
    calls += 3
    admins = {"mgmt": admin_user(dummy.client("iam"))}
    calls += 3
    for env in ("dev", "prod"):
        # What Organizations gives the management account in a new member account.
        c = dummy.client("sts").assume_role(RoleArn=f"arn:aws:iam::{accounts[env]}:role/OrganizationAccountAccessRole",
                                            RoleSessionName="caretaker-rehearsal")["Credentials"]
        admins[env] = admin_user(session(c).client("iam"))
        calls += 4
    assert calls == free, f"bootstrap made {calls} unsigned calls, stack.py lets {free} through"
    try:
        dummy.client("sts").get_caller_identity()
        raise SystemExit("deploy_local: the local AWS accepted the dummy keys: IAM is NOT enforced")
    except ClientError as e:
        assert e.response["Error"]["Code"] == "InvalidClientTokenId", e
    return accounts, admins


def lambda_service(iam):
    """The stand-in for the Lambda service in one account (see tools/moto_iam.py)."""
    iam.create_user(UserName=LAMBDA_SERVICE, Path="/service-standin/")
    iam.put_user_policy(UserName=LAMBDA_SERVICE, PolicyName="assume-function-roles", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole", "Resource": "*"}]}))
    k = iam.create_access_key(UserName=LAMBDA_SERVICE)["AccessKey"]
    return {"AccessKeyId": k["AccessKeyId"], "SecretAccessKey": k["SecretAccessKey"]}


def functions_of(stack):
    """{binary: (logical id, resolved properties)} for the Lambda functions a stack deployed."""
    out = {}
    for logical, r in stack.t["Resources"].items():
        if r["Type"] == "AWS::Lambda::Function" and logical in stack.resolved:
            binary = r.get("Metadata", {}).get("BuildProperties", {}).get("Binary")
            out[binary] = (logical, stack.resolved[logical])
    return out


def deploy(name, template, params, account, keys, print_to=sys.stdout):
    s = Stack(name, template, params, account, REGION, session(keys)).deploy()
    print(f"  stack {name} in account {account}: {len(s.created)} resources", file=print_to)
    return s


def describe(stack):
    return {k: {"type": stack.t["Resources"][k]["Type"], "physical": stack.physical[k], "created": stack.created[k]}
            for k in stack.created}


def main():
    print("Deploying Caretaker into three local accounts, IAM enforced:")
    accounts, admins = bootstrap()
    sessions = {env: session(admins[env]) for env in admins}
    services = {env: lambda_service(sessions[env].client("iam")) for env in admins}
    print(f"  accounts: management {accounts['mgmt']}, dev {accounts['dev']}, prod {accounts['prod']}"
          " (moto enforces IAM from here on: the dummy keys are refused)")

    translated = translate(ROOT / "template.yaml")
    spoke = load_template(ROOT / "deploy/spoke.yaml")
    budgets = [
        {"account": accounts["mgmt"], "env": "mgmt", "name": "innovate-mgmt-monthly", "limit": "150", "tags": {"env": "mgmt"}},
        {"account": accounts["dev"], "env": "dev", "name": "innovate-dev-monthly", "limit": "400", "tags": {"env": "dev"},
         "shutdownAt": {"basis": "forecast", "percent": 100}},
        {"account": accounts["prod"], "env": "prod", "name": "innovate-prod-monthly", "limit": "2000", "tags": {"env": "prod"}},
    ]
    stacks = {"mgmt": deploy("caretaker", translated, {
        **place_parameters("default"), "DevAccounts": accounts["dev"],
        "BudgetsJson": json.dumps(budgets)}, accounts["mgmt"], admins["mgmt"])}
    stacks["spoke-dev"] = deploy("caretaker-spoke", spoke, {
        "ManagementAccountId": accounts["mgmt"], "Environment": "dev"}, accounts["dev"], admins["dev"])

    seed_env = {**os.environ, "CARETAKER_ADMINS": json.dumps(admins), "CARETAKER_ACCOUNTS": json.dumps(accounts)}
    subprocess.run([sys.executable, str(ROOT / "tools/seed.py")], check=True, env=seed_env)
    estate = json.loads((STACK / "estate.json").read_text())

    stacks["dev"] = deploy("caretaker", translated, {
        **place_parameters("dev"), "AppSecretArn": estate["devAppSecretArn"]}, accounts["dev"], admins["dev"])
    prod = estate["prod"]  # the restore test in the prod VPC, restoring into the isolated subnet group
    stacks["prod"] = deploy("caretaker", translated, {
        **place_parameters("prod"), "VpcId": prod["vpcId"], "PrivateSubnetIds": ",".join(prod["subnets"]),
        "RestoreSubnetGroup": prod["restoreSubnetGroup"], "RestoreSecurityGroups": prod["restoreSecurityGroup"]},
        accounts["prod"], admins["prod"])
    # Each place holds exactly its functions, and the spoke exactly dev-scheduler's role.
    for place, stack in stacks.items():
        held = sorted(functions_of(stack))
        assert held == sorted(b for b, p in PLACEMENT.items() if p == place), f"{place} holds {held}"

    functions = {}
    for binary, place in PLACEMENT.items():
        stack = stacks[place]
        logical, props = functions_of(stack)[binary]
        role_arn = props["Role"]
        creds = session(services[place]).client("sts").assume_role(
            RoleArn=role_arn, RoleSessionName=props["FunctionName"])["Credentials"]
        functions[binary] = {
            "place": place, "account": accounts[place], "logical": logical, "functionName": props["FunctionName"],
            "role": role_arn, "env": props.get("Environment", {}).get("Variables", {}),
            "credentials": {k: creds[k] for k in ("AccessKeyId", "SecretAccessKey", "SessionToken")}}
    deployment = {"accounts": accounts, "admins": admins, "functions": functions,
                  "stacks": {k: {"account": s.account, "name": s.name, "params": s.params, "resources": describe(s)}
                             for k, s in stacks.items()}}
    (STACK / "deployment.json").write_text(json.dumps(deployment, indent=2, default=str))
    (STACK / "translated-template.json").write_text(json.dumps(translated, indent=1, default=str))
    print("  each function runs under its own role:")
    for binary, f in functions.items():
        print(f"    {binary:<15} {f['place']:<5} {f['role']}")


if __name__ == "__main__":
    sys.exit(main())
