"""The SAM-translated template, planned (resolved, nothing created) for each place it is deployed
in the rehearsal: the tests of AWS's rules that moto does not model read these."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfn_local import Stack, load_template, translate  # noqa: E402

REGION = "us-east-1"
MGMT, DEV, PROD = "111111111111", "222222222222", "333333333333"
APP_SECRET = f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:innovate/dev/app-db-AbCdEf"


@pytest.fixture(scope="session")
def translated():
    return translate(ROOT / "template.yaml")


def plan(template, params, account, name="caretaker"):
    return Stack(name, template, params, account, REGION, None).plan()


@pytest.fixture(scope="session")
def places(translated):
    """Each place the README deploys template.yaml to, as CloudFormation would resolve it there."""
    return {
        "mgmt": plan(translated, {"AllowedAccounts": DEV}, MGMT),
        "mgmt-with-slack": plan(translated, {"AllowedAccounts": DEV, "SlackWebhookSecretArn":
                                             f"arn:aws:secretsmanager:{REGION}:{MGMT}:secret:caretaker/slack-AbCdEf"}, MGMT),
        "dev": plan(translated, {"Environment": "dev", "AppSecretArn": APP_SECRET, "VpcId": "vpc-0abc",
                                 "PrivateSubnetIds": "subnet-1,subnet-2", "DatabaseSecurityGroupId": "sg-0db"}, DEV),
        "prod": plan(translated, {"Environment": "prod"}, PROD),
    }


@pytest.fixture(scope="session")
def spoke():
    return plan(load_template(ROOT / "deploy/spoke.yaml"), {"ManagementAccountId": MGMT}, DEV, "caretaker-spoke")
