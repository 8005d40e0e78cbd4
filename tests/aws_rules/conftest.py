"""The SAM-translated template, planned (resolved, nothing created) for each place it is deployed
in the rehearsal: the tests of AWS's rules that moto does not model read these."""
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tools"))
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

from cfn_local import Stack, load_template, place_parameters, translate  # noqa: E402

REGION = "us-east-1"
MGMT, DEV, PROD = "111111111111", "222222222222", "333333333333"
APP_SECRET = f"arn:aws:secretsmanager:{REGION}:{DEV}:secret:innovate/dev/app-db-AbCdEf"


@pytest.fixture(scope="session")
def translated():
    return translate(ROOT / "template.yaml")


def plan(template, params, account, name="caretaker"):
    return Stack(name, template, params, account, REGION, None).plan()


def place_stacks(template):
    """Each place the README deploys template.yaml to, with samconfig.toml's switches and ids."""
    return {
        "mgmt": plan(template, {**place_parameters("default"), "DevAccounts": DEV}, MGMT),
        "mgmt-with-slack": plan(template, {**place_parameters("default"), "DevAccounts": DEV, "SlackWebhookSecretArn":
                                           f"arn:aws:secretsmanager:{REGION}:{MGMT}:secret:caretaker/slack-AbCdEf"}, MGMT),
        "dev": plan(template, {**place_parameters("dev"), "AppSecretArn": APP_SECRET, "VpcId": "vpc-0abc",
                               "PrivateSubnetIds": "subnet-1,subnet-2", "DatabaseSecurityGroupId": "sg-0db"}, DEV),
        "prod": plan(template, {**place_parameters("prod"), "VpcId": "vpc-0prod", "PrivateSubnetIds": "subnet-p1,subnet-p2",
                                "RestoreSubnetGroup": "innovate-prod-restore", "RestoreSecurityGroups": "sg-0restore"}, PROD),
        # dev-scheduler in a dev account itself, in its VPC (a private EKS API endpoint).
        "dev-with-scheduler": plan(template, {**place_parameters("dev"), "DeployDevScheduler": "true",
                                              "DevClusterName": "innovate-dev", "SchedulerSubnetIds": "subnet-1,subnet-2",
                                              "SchedulerSecurityGroupIds": "sg-0sched"}, DEV),
    }


@pytest.fixture(scope="session")
def places(translated):
    return place_stacks(translated)


@pytest.fixture(scope="session")
def spoke():
    return plan(load_template(ROOT / "deploy/spoke.yaml"), {"ManagementAccountId": MGMT}, DEV, "caretaker-spoke")
