#!/usr/bin/env python3
"""Seed the local stack with the estate of docs/estate.md (Innovate Inc.):
AWS Organizations with management, dev and prod accounts (made by tools/deploy_local.py, each
seeded by its own admin: $CARETAKER_ACCOUNTS, $CARETAKER_ADMINS), EKS
`innovate-dev` with Fargate profiles and an add-on node group, RDS PostgreSQL in dev and prod,
central ECR repositories, the app database secret, monthly budgets; and the app's database in the
local PostgreSQL. Writes the facts to $CARETAKER_STACK_DIR/estate.json and prints them readably.
"""
import json
import os
import uuid
import random
import subprocess
import sys

import boto3

ENDPOINT = os.environ["AWS_ENDPOINT_URL"]
REGION = os.environ["AWS_REGION"]
ADMINS = json.loads(os.environ["CARETAKER_ADMINS"])
ACCOUNTS = json.loads(os.environ["CARETAKER_ACCOUNTS"])
TAGS = lambda env: {"project": "innovate", "env": env, "cost_center": "engineering" if env != "mgmt" else "platform"}


def client(service, env="mgmt"):
    """A client of `env`'s account, as its admin."""
    return boto3.client(service, endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id=ADMINS[env]["AccessKeyId"],
                        aws_secret_access_key=ADMINS[env]["SecretAccessKey"])


def taglist(d, key="Key", value="Value"):
    return [{key: k, value: v} for k, v in d.items()]


def psql(sql, db="postgres"):
    subprocess.run(["psql", "-v", "ON_ERROR_STOP=1", "-q", "-h", os.environ["CARETAKER_PG_SOCKET_DIR"],
                    "-p", os.environ["CARETAKER_PG_PORT"], "-U", "postgres", "-d", db],
                   input=sql, text=True, check=True, stdout=subprocess.DEVNULL)


def seed_database(app_password):
    psql(f"CREATE ROLE innovate_app LOGIN PASSWORD '{app_password}';"
         "CREATE ROLE innovate_admin LOGIN PASSWORD NULL IN ROLE innovate_app;")
    psql("CREATE DATABASE innovate OWNER innovate_app;")
    psql("""
SET ROLE innovate_app;
CREATE TABLE customers (id bigserial PRIMARY KEY, email text NOT NULL UNIQUE, name text NOT NULL,
                        created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
CREATE TABLE orders (id bigserial PRIMARY KEY, customer_id bigint NOT NULL REFERENCES customers(id),
                     total_cents integer NOT NULL CHECK (total_cents >= 0), status text NOT NULL,
                     created_at timestamptz NOT NULL DEFAULT now(), updated_at timestamptz NOT NULL DEFAULT now());
INSERT INTO customers (email, name, created_at, updated_at)
  SELECT 'customer' || g || '@example.com', 'Customer ' || g, now() - (g || ' hours')::interval, now() - (g || ' minutes')::interval
  FROM generate_series(1, 500) g;
INSERT INTO orders (customer_id, total_cents, status, created_at, updated_at)
  SELECT 1 + (g % 500), 500 + (g * 37) % 20000, (ARRAY['paid','shipped','refunded'])[1 + g % 3],
         now() - (g || ' minutes')::interval, now() - (g || ' seconds')::interval
  FROM generate_series(1, 2000) g;
""", db="innovate")


def manifest(kind, name, namespace=None, annotations=None, labels=None, spec=None):
    api = {"Namespace": "v1", "Deployment": "apps/v1", "StatefulSet": "apps/v1", "CronJob": "batch/v1",
           "HorizontalPodAutoscaler": "autoscaling/v2"}[kind]
    meta = {"name": name, "uid": str(uuid.uuid4()), "labels": {"app.kubernetes.io/part-of": "innovate", **(labels or {})}}
    if namespace:
        meta["namespace"] = namespace
    if annotations:
        meta["annotations"] = annotations
    m = {"apiVersion": api, "kind": kind, "metadata": meta}
    if spec is not None:
        m["spec"] = spec
    return m


def pods(app, image, cpu="250m", memory="512Mi"):
    return {"metadata": {"labels": {"app": app}},
            "spec": {"containers": [{"name": app, "image": image, "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}


def seed_kubernetes(add):
    """The dev cluster's workloads, as manifests for the Kubernetes API stand-in (no API server can
    run here): the app namespace opts into office hours; kube-system does not."""
    ecr = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
    def workload(kind, name, replicas, image, **requests):
        spec = {"replicas": replicas, "selector": {"matchLabels": {"app": name}}, "template": pods(name, image, **requests)}
        if kind == "StatefulSet":
            spec["serviceName"] = name
        return manifest(kind, name, "innovate", spec=spec)
    items = [
        # The app needs its database and the add-on nodes: in the morning it comes up after them.
        manifest("Namespace", "innovate", annotations={"caretaker/schedule": "office-hours",
                                                       "caretaker/needs": "rds:innovate-dev-db, nodegroup:innovate-dev/addons"},
                 labels={"env": "dev"}),
        manifest("Namespace", "kube-system"),
        workload("Deployment", "backend", 3, f"{ecr}/backend:v1.4.2", cpu="500m", memory="1Gi"),
        workload("Deployment", "frontend", 2, f"{ecr}/frontend:v2.0.1"),
        workload("StatefulSet", "redis", 1, "public.ecr.aws/docker/library/redis:7.2"),
        manifest("HorizontalPodAutoscaler", "backend", "innovate", spec={
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "backend"},
            "minReplicas": 2, "maxReplicas": 6,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]}),
        manifest("CronJob", "nightly-report", "innovate", spec={
            "schedule": "0 2 * * *", "suspend": False,
            "jobTemplate": {"spec": {"template": {**pods("nightly-report", f"{ecr}/backend:v1.4.2"),
                                                  "spec": {**pods("nightly-report", f"{ecr}/backend:v1.4.2")["spec"], "restartPolicy": "OnFailure"}}}}}),
        manifest("Deployment", "coredns", "kube-system", spec={
            "replicas": 2, "selector": {"matchLabels": {"app": "coredns"}}, "template": pods("coredns", "coredns:1.11")}),
    ]
    path = os.path.join(os.environ["CARETAKER_STACK_DIR"], "kubernetes.json")
    with open(path, "w") as f:
        json.dump(items, f, indent=2)
    for m in items:
        if m["kind"] in ("Deployment", "StatefulSet"):
            add("dev", f"k8s-{m['kind'].lower()}", f"{m['metadata']['namespace']}/{m['metadata']['name']}",
                replicas=m["spec"]["replicas"])
        elif m["kind"] == "CronJob":
            add("dev", "k8s-cronjob", f"innovate/{m['metadata']['name']}", schedule=m["spec"]["schedule"])


def main():
    random.seed(7)
    accounts = ACCOUNTS
    estate = {"accounts": accounts, "resources": []}
    add = lambda env, kind, name, **facts: estate["resources"].append(
        {"env": env, "account": accounts[env], "kind": kind, "name": name, **facts})

    # Management: central ECR, budgets.
    ecr = client("ecr")
    for repo in ("backend", "frontend"):
        ecr.create_repository(repositoryName=repo, imageScanningConfiguration={"scanOnPush": True},
                              imageTagMutability="MUTABLE", tags=taglist(TAGS("mgmt")))
        add("mgmt", "ecr-repository", repo, scanOnPush=True)

    # Dev: EKS with Fargate + add-on node group, single-AZ RDS, the app secret.
    eks = client("eks", "dev")
    vpc = {"subnetIds": ["subnet-0dev0000000000001"], "securityGroupIds": ["sg-0dev000000000001"]}
    eks.create_cluster(name="innovate-dev", version="1.30", roleArn=f"arn:aws:iam::{accounts['dev']}:role/eks-cluster",
                       resourcesVpcConfig=vpc, tags=TAGS("dev"))
    add("dev", "eks-cluster", "innovate-dev", version="1.30")
    for name, ns in (("app", "innovate"), ("system", "kube-system")):
        eks.create_fargate_profile(fargateProfileName=name, clusterName="innovate-dev",
                                   podExecutionRoleArn=f"arn:aws:iam::{accounts['dev']}:role/eks-fargate",
                                   subnets=vpc["subnetIds"], selectors=[{"namespace": ns}], tags=TAGS("dev"))
        add("dev", "eks-fargate-profile", f"innovate-dev/{name}", namespace=ns)
    eks.create_nodegroup(clusterName="innovate-dev", nodegroupName="addons", instanceTypes=["t3.small"],
                         scalingConfig={"minSize": 2, "maxSize": 3, "desiredSize": 2}, subnets=vpc["subnetIds"],
                         nodeRole=f"arn:aws:iam::{accounts['dev']}:role/eks-node",
                         tags={**TAGS("dev"), "caretaker/schedule": "office-hours"})
    add("dev", "eks-nodegroup", "innovate-dev/addons", instanceType="t3.small", size="2 (min 2, max 3)")
    # What keeps billing while dev is off: its single-AZ VPC's NAT gateway and the Secrets Manager
    # interface endpoint the rotator reaches it through.
    ec2d = client("ec2", "dev")
    dvpc = ec2d.create_vpc(CidrBlock="10.10.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": taglist({**TAGS("dev"), "Name": "innovate-dev"})}])["Vpc"]["VpcId"]
    dsub = ec2d.create_subnet(VpcId=dvpc, CidrBlock="10.10.1.0/24", AvailabilityZone="us-east-1a", TagSpecifications=[
        {"ResourceType": "subnet", "Tags": taglist(TAGS("dev"))}])["Subnet"]["SubnetId"]
    nat = ec2d.create_nat_gateway(SubnetId=dsub, AllocationId=ec2d.allocate_address(Domain="vpc")["AllocationId"],
                                  TagSpecifications=[{"ResourceType": "natgateway", "Tags": taglist(TAGS("dev"))}]
                                  )["NatGateway"]["NatGatewayId"]
    ec2d.create_vpc_endpoint(VpcId=dvpc, ServiceName="com.amazonaws.us-east-1.secretsmanager",
                             VpcEndpointType="Interface", SubnetIds=[dsub])
    add("dev", "nat-gateway", nat, subnet=dsub)
    add("dev", "vpc-endpoint", "secretsmanager (interface)", subnet=dsub)
    seed_kubernetes(add)

    # Prod: a VPC with private subnets in two AZs (multi-AZ), the database's security group, and an
    # isolated DB subnet group and security group for the restore test's throwaway instances.
    ec2 = client("ec2", "prod")
    vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16", TagSpecifications=[
        {"ResourceType": "vpc", "Tags": taglist({**TAGS("prod"), "Name": "innovate-prod"})}])["Vpc"]["VpcId"]
    subnets = [ec2.create_subnet(VpcId=vpc_id, CidrBlock=f"10.20.{i}.0/24", AvailabilityZone=f"us-east-1{az}",
                                 TagSpecifications=[{"ResourceType": "subnet", "Tags": taglist(
                                     {**TAGS("prod"), "Name": f"innovate-prod-private-{az}"})}])["Subnet"]["SubnetId"]
               for i, az in ((1, "a"), (2, "b"))]
    groups = {name: ec2.create_security_group(GroupName=name, Description=desc, VpcId=vpc_id)["GroupId"]
              for name, desc in (("innovate-prod-db", "innovate prod database"),
                                 ("innovate-prod-restore-test", "restored instances: no route from the app"))}
    for name, desc in (("innovate-prod-db", "the production database"),
                       ("innovate-prod-restore", "isolated: restore tests only")):
        client("rds", "prod").create_db_subnet_group(DBSubnetGroupName=name, DBSubnetGroupDescription=desc,
                                                     SubnetIds=subnets, Tags=taglist(TAGS("prod")))
    add("prod", "vpc", "innovate-prod", subnets=" ".join(subnets))
    add("prod", "db-subnet-group", "innovate-prod-restore", securityGroup=groups["innovate-prod-restore-test"])
    estate["prod"] = {"vpcId": vpc_id, "subnets": subnets, "restoreSubnetGroup": "innovate-prod-restore",
                      "restoreSecurityGroup": groups["innovate-prod-restore-test"], "dbSecurityGroup": groups["innovate-prod-db"]}

    for env, multi_az, retention, klass in (("dev", False, 1, "db.t4g.small"), ("prod", True, 7, "db.t4g.small")):
        rds = client("rds", env)
        rds.create_db_instance(DBInstanceIdentifier=f"innovate-{env}-db", Engine="postgres", EngineVersion="15.7",
                               DBInstanceClass=klass, AllocatedStorage=20, MasterUsername="innovate_admin",
                               MasterUserPassword="seed-" + os.urandom(8).hex(), MultiAZ=multi_az,
                               BackupRetentionPeriod=retention, StorageEncrypted=True, DBName="innovate",
                               **({"DBSubnetGroupName": "innovate-prod-db",
                                   "VpcSecurityGroupIds": [estate["prod"]["dbSecurityGroup"]]} if env == "prod" else {}),
                               Tags=taglist({**TAGS(env), **({"caretaker/schedule": "office-hours"} if env == "dev" else {})}))
        snaps = rds.describe_db_snapshots(DBInstanceIdentifier=f"innovate-{env}-db", SnapshotType="automated")
        add(env, "rds-instance", f"innovate-{env}-db", cls=klass, multiAZ=multi_az,
            backupRetentionDays=retention, automatedSnapshots=len(snaps["DBSnapshots"]))

    # The app's database secret (dev): points at the local PostgreSQL, TLS verified.
    app_password = "Seed-" + os.urandom(12).hex()
    seed_database(app_password)
    sm = client("secretsmanager", "dev")
    secret = {"engine": "postgres", "host": os.environ["CARETAKER_PG_HOST"], "port": int(os.environ["CARETAKER_PG_PORT"]),
              # As the secrets RDS creates name it: the rotator checks the instance is up first.
              "dbInstanceIdentifier": "innovate-dev-db",
              "username": "innovate_app", "password": app_password, "dbname": "innovate", "ssl": True}
    arn = sm.create_secret(Name="innovate/dev/app-db", SecretString=json.dumps(secret),
                           Tags=taglist(TAGS("dev")))["ARN"]
    add("dev", "secret", "innovate/dev/app-db", user="innovate_app", rotation="every 90 days")
    estate["devAppSecretArn"] = arn

    # Budgets, as AWS Organizations has them: every one in the management account, filtered by
    # the member account it watches, with this month's spend staged.
    bud = client("budgets")
    for env, limit, actual, forecast in (("mgmt", "150", "61.20", "118.00"), ("dev", "400", "251.35", "436.90"),
                                         ("prod", "2000", "1104.80", "1890.00")):
        bud.create_budget(AccountId=accounts["mgmt"], Budget={
            "BudgetName": f"innovate-{env}-monthly", "BudgetType": "COST", "TimeUnit": "MONTHLY",
            "BudgetLimit": {"Amount": limit, "Unit": "USD"},
            "CostFilters": {"LinkedAccount": [accounts[env]], "TagKeyValue": [f"user:env${env}"]},
            "CalculatedSpend": {"ActualSpend": {"Amount": actual, "Unit": "USD"},
                                "ForecastedSpend": {"Amount": forecast, "Unit": "USD"}}})
        add("mgmt", "budget", f"innovate-{env}-monthly", watches=f"{env} {accounts[env]}", limit=f"${limit}",
            actual=f"${actual}", forecast=f"${forecast}")

    estate["admins"] = ADMINS
    path = os.path.join(os.environ["CARETAKER_STACK_DIR"], "estate.json")
    with open(path, "w") as f:
        json.dump(estate, f, default=str, indent=2)

    print("Seeded estate (Innovate Inc.):")
    for env in ("mgmt", "dev", "prod"):
        print(f"  {env:<5} account {accounts[env]}")
        for r in estate["resources"]:
            if r["env"] == env:
                facts = ", ".join(f"{k}={v}" for k, v in r.items() if k not in ("env", "account", "kind", "name"))
                print(f"        {r['kind']:<20} {r['name']:<26} {facts}")
    print("  database innovate (local PostgreSQL 15, TLS): customers 500 rows, orders 2000 rows")


if __name__ == "__main__":
    sys.exit(main())
