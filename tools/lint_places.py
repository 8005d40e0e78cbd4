#!/usr/bin/env python3
"""cfn-lint over template.yaml as each place deploys it: samconfig.toml's switches for the hub,
dev and prod (and dev-scheduler in a dev account's VPC), with sample ids where the README says
to add yours. cfn-lint with the defaults alone would never see the rotator, the restore test in a
VPC or dev-scheduler's VpcConfig."""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cfn_local import place_parameters  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SECRET = "arn:aws:secretsmanager:us-east-1:222222222222:secret:innovate/dev/app-db-AbCdEf"
VPC = {"VpcId": "vpc-0abc1234", "PrivateSubnetIds": "subnet-0abc1234,subnet-0def5678",
       "DatabaseSecurityGroupId": "sg-0abc1234"}
PLACES = {
    "hub": {**place_parameters("default"), "DevAccounts": "222222222222"},
    "dev": {**place_parameters("dev"), "AppSecretArn": SECRET, **VPC},
    "prod": {**place_parameters("prod"), "AppSecretArn": SECRET.replace("dev", "prod"), **VPC,
             "RestoreSubnetGroup": "innovate-prod-restore", "RestoreSecurityGroups": "sg-0restore1"},
    "dev with dev-scheduler in its VPC": {**place_parameters("dev"), "DeployDevScheduler": "true",
                                          "DevClusterName": "innovate-dev", "SchedulerSubnetIds": "subnet-0abc1234",
                                          "SchedulerSecurityGroupIds": "sg-0sched12"},
}

bad = 0
for place, params in PLACES.items():
    args = [f"{k}={v}" for k, v in params.items()]
    out = subprocess.run([str(ROOT / ".venv/bin/cfn-lint"), str(ROOT / "template.yaml"), "--parameters", *args],
                         capture_output=True, text=True)
    print(f"  cfn-lint template.yaml as deployed in {place}: {'clean' if out.returncode == 0 else 'FINDINGS'}")
    if out.returncode:
        print(out.stdout + out.stderr)
        bad += 1
sys.exit(1 if bad else 0)
