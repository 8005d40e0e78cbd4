"""What tools/deploy_local.py deployed, for the demo, `make invoke` and the rehearsal: each
function's environment exactly as template.yaml gives it, the temporary credentials of its own
role, and the admins that set fixtures up (never the functions).

Only what no local run can have comes on top of the template's environment: the emulator's
endpoint, and where a real Kubernetes API, a restored instance or the RDS CA bundle would be.
"""
import json
import os
from pathlib import Path

import boto3

STACK = Path(os.environ["CARETAKER_STACK_DIR"])
ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = os.environ.get("AWS_REGION", "us-east-1")


def creds_env(c):
    """AWS_* variables for a set of credentials (an admin's keys, or a role's temporary ones)."""
    env = {"AWS_ACCESS_KEY_ID": c["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"]}
    if c.get("SessionToken"):
        env["AWS_SESSION_TOKEN"] = c["SessionToken"]
    return env


class Deployment:
    def __init__(self):
        self.d = json.loads((STACK / "deployment.json").read_text())
        self.accounts = self.d["accounts"]
        self.functions = self.d["functions"]

    def admin(self, service, env="mgmt"):
        """A client of `env`'s account as its admin: for fixtures and for reading the outcome."""
        k = self.d["admins"][env]
        return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                            aws_access_key_id=k["AccessKeyId"], aws_secret_access_key=k["SecretAccessKey"])

    def admin_env(self, env):
        return creds_env(self.d["admins"][env])

    def resource(self, place, logical):
        """The physical ids of a resource a stack created ({"Ref": ..., "Arn": ...})."""
        return self.d["stacks"][place]["resources"][logical]["physical"]

    def function_env(self, name, rust_log="warn", **local):
        """A function's Lambda environment: template.yaml's variables, its role's credentials, the
        local endpoint, and `local` (the stand-ins' addresses)."""
        f = self.functions[name]
        # moto has no Price List API: the local stack's fixture endpoint answers it.
        pricing = {"AWS_ENDPOINT_URL_PRICING": os.environ["AWS_ENDPOINT_URL_PRICING"]} \
            if os.environ.get("AWS_ENDPOINT_URL_PRICING") else {}
        return {**f["env"], "AWS_ENDPOINT_URL": ENDPOINT, "AWS_REGION": REGION, "RUST_LOG": rust_log,
                **pricing, **creds_env(f["credentials"]), **local}

    def role(self, name):
        return self.functions[name]["role"]
