"""A CloudFormation template into the local AWS, as CloudFormation would create it.

`translate` runs SAM's own translator (`aws-sam-translator`, what `sam deploy` has CloudFormation
run) over `template.yaml`; `Stack.deploy` resolves parameters, conditions and intrinsic functions
and creates each resource in dependency order from the translated template's own properties:
the same documents, the same names. moto's CloudFormation refuses SAM's translation (policies
without `Version`, `Fn::If`/`AWS::NoValue` in statement lists, `Fn::Split` in a `Resource`; see
docs/local-aws.md), so the resources are created through the service APIs instead. Types whose
resource is played by something else locally (the functions are Lambda processes, the state
machine runs in the local driver) are recorded as such, never silently dropped.
"""
import copy
import hashlib
import json
import re
import shlex
import tomllib
from pathlib import Path


ROOT = Path(__file__).resolve().parent.parent
PARTITION = "aws"


def load_template(path):
    """A template with CloudFormation's short forms (!Ref, !Sub, ...) in their long form."""
    from samtranslator.yaml_helper import yaml_parse

    return yaml_parse(Path(path).read_text())


def translate(path=ROOT / "template.yaml"):
    """The template as CloudFormation receives it after the SAM transform (offline)."""
    from samtranslator.translator.transform import transform

    class NoManagedPolicies:
        def load(self):
            return {}

    t = load_template(path)
    for r in t["Resources"].values():
        # The translator needs S3 locations for code and definitions; any will do here.
        if r["Type"] == "AWS::Serverless::Function":
            r["Properties"]["CodeUri"] = "s3://caretaker-artifacts/code.zip"
        if r["Type"] == "AWS::Serverless::StateMachine":
            r["Properties"]["DefinitionUri"] = "s3://caretaker-artifacts/statemachine.asl.json"
    return transform(t, {}, NoManagedPolicies())


def place_parameters(env):
    """The switches samconfig.toml's environment for a place sets (`default` is the hub): the
    rehearsal deploys exactly what `sam deploy --config-env <env>` deploys, ids added."""
    config = tomllib.loads((ROOT / "samconfig.toml").read_text())
    line = config[env]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in shlex.split(line))



class Unresolvable(Exception):
    pass


NO_VALUE = object()


class Stack:
    """One stack in one account: parameters → conditions → resources, resolved and created."""

    def __init__(self, name, template, params, account, region, session):
        self.name, self.t, self.account, self.region = name, template, account, region
        # CloudFormation's generated names end in a random suffix (bucket names are global).
        self.session, self.suffix = session, hashlib.sha256(f"{account}/{name}".encode()).hexdigest()[:12].upper()
        self.params = {}
        for k, p in template.get("Parameters", {}).items():
            v = params.get(k, p.get("Default", ""))
            if p["Type"] == "CommaDelimitedList" and isinstance(v, str):
                v = [x for x in v.split(",")] if v != "" else [""]
            self.params[k] = v
        unknown = set(params) - set(self.params)
        if unknown:
            raise SystemExit(f"{name}: unknown parameters {sorted(unknown)}")
        self.conditions = dict.fromkeys(template.get("Conditions", {}))
        for k in self.conditions:
            self._condition(k)
        self.physical = {}   # logical id -> {"Ref": ..., attrs...}
        self.created = {}    # logical id -> what was done
        self.resolved = {}   # logical id -> resolved properties

    # ------------------------------------------------------------------ resolution
    def _condition(self, name):
        if self.conditions.get(name) is None:
            self.conditions[name] = bool(self.resolve(self.t["Conditions"][name]))
        return self.conditions[name]

    def pseudo(self, name):
        return {"AWS::AccountId": self.account, "AWS::Region": self.region, "AWS::Partition": PARTITION,
                "AWS::StackName": self.name, "AWS::URLSuffix": "amazonaws.com",
                "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account}:stack/{self.name}/local",
                "AWS::NoValue": NO_VALUE}[name]

    def ref(self, name):
        if name.startswith("AWS::"):
            return self.pseudo(name)
        if name in self.params:
            return self.params[name]
        if name in self.physical:
            return self.physical[name]["Ref"]
        raise Unresolvable(name)

    def getatt(self, logical, attr):
        try:
            return self.physical[logical][attr]
        except KeyError:
            raise Unresolvable(f"{logical}.{attr}") from None

    def sub(self, text, variables):
        def repl(m):
            key = m.group(1)
            if key.startswith("!"):
                return "${" + key[1:] + "}"
            if key in variables:
                return str(variables[key])
            if "." in key:
                return str(self.getatt(*key.split(".", 1)))
            v = self.ref(key)
            return ",".join(v) if isinstance(v, list) else str(v)
        return re.sub(r"\$\{([^}]+)\}", repl, text)

    def resolve(self, node):
        if isinstance(node, list):
            out = [self.resolve(x) for x in node]
            return [x for x in out if x is not NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (k, v), = node.items()
            if k == "Ref":
                return self.ref(v)
            if k == "Condition" and isinstance(v, str) and v in self.conditions:
                return self._condition(v)
            if k == "Fn::GetAtt":
                logical, attr = v if isinstance(v, list) else v.split(".", 1)
                return self.getatt(logical, attr)
            if k == "Fn::Sub":
                if isinstance(v, str):
                    return self.sub(v, {})
                return self.sub(v[0], {n: self.resolve(x) for n, x in v[1].items()})
            if k == "Fn::Join":
                parts = self.resolve(v[1])
                return str(self.resolve(v[0])).join(str(p) for p in (parts if isinstance(parts, list) else [parts]))
            if k == "Fn::Split":
                return str(self.resolve(v[1])).split(str(self.resolve(v[0])))
            if k == "Fn::Select":
                return self.resolve(v[1])[int(self.resolve(v[0]))]
            if k == "Fn::If":
                return self.resolve(v[1] if self._condition(v[0]) else v[2])
            if k == "Fn::Equals":
                a, b = (self.resolve(x) for x in v)
                return (a if not isinstance(a, list) else ",".join(a)) == (b if not isinstance(b, list) else ",".join(b))
            if k == "Fn::Not":
                return not self.resolve(v[0])
            if k == "Fn::And":
                return all(self.resolve(x) for x in v)
            if k == "Fn::Or":
                return any(self.resolve(x) for x in v)
        out = {k: self.resolve(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not NO_VALUE}

    # ------------------------------------------------------------------ deployment
    def active(self):
        for k, r in self.t["Resources"].items():
            if "Condition" not in r or self._condition(r["Condition"]):
                yield k, r

    def dependencies(self, r):
        found = set(_list(r.get("DependsOn", [])))

        def walk(n):
            if isinstance(n, dict):
                for k, v in n.items():
                    if k == "Ref" and isinstance(v, str):
                        found.add(v)
                    elif k == "Fn::GetAtt":
                        found.add((v if isinstance(v, list) else v.split("."))[0])
                    elif k == "Fn::Sub":
                        text = v if isinstance(v, str) else v[0]
                        found.update(m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text))
                        walk(v)
                    else:
                        walk(v)
            elif isinstance(n, list):
                for x in n:
                    walk(x)
        walk(r.get("Properties", {}))
        return found & set(self.t["Resources"])

    def deploy(self, creators=None):
        """Create every active resource in dependency order (`creators`: type -> function; the
        local AWS's by default, `PLANNED` to resolve without creating anything)."""
        creators = CREATORS if creators is None else creators
        todo = dict(self.active())
        while todo:
            ready = [k for k, r in todo.items() if not (self.dependencies(r) & set(todo))]
            if not ready:
                raise SystemExit(f"{self.name}: dependency cycle among {sorted(todo)}")
            for k in sorted(ready):
                r = todo.pop(k)
                props = self.resolve(copy.deepcopy(r.get("Properties", {})))
                self.resolved[k] = props
                create = creators.get(r["Type"])
                if create is None:
                    self.physical[k] = {"Ref": self.generated_name(k)}
                    self.created[k] = ELSEWHERE.get(r["Type"], "not created locally")
                    continue
                self.physical[k], self.created[k] = create(self, k, props)
        return self

    def plan(self):
        """Every resource resolved as a deployment would resolve it, nothing created: names and
        ARNs of the form AWS gives them (for the tests of AWS's rules over the template)."""
        return self.deploy(PLANNED)

    def generated_name(self, logical, limit=64, lower=False):
        name = f"{self.name}-{logical}-{self.suffix}"[:limit]
        return name.lower() if lower else name

    def client(self, service):
        return self.session.client(service, region_name=self.region)

    def arn(self, service, rest, region=True):
        return f"arn:{PARTITION}:{service}:{self.region if region else ''}:{self.account}:{rest}"


def _list(v):
    return v if isinstance(v, list) else [v]


def versioned(doc):
    """moto's policy validator refuses documents without Version, which real IAM accepts and SAM's
    generated policies lack: the rehearsal adds it (the only change made to any document)."""
    return {"Version": "2012-10-17", **doc}


def _tags(props, key="Tags"):
    tags = props.get(key) or []
    if isinstance(tags, dict):
        return [{"Key": k, "Value": v} for k, v in tags.items()]
    return tags


# ---------------------------------------------------------------------- creators
def create_managed_policy(s, k, p):
    name = p.get("ManagedPolicyName") or s.generated_name(k, 128)
    path = p.get("Path", "/")
    out = s.client("iam").create_policy(PolicyName=name, Path=path, Description=p.get("Description", ""),
                                        PolicyDocument=json.dumps(versioned(p["PolicyDocument"])))
    arn = out["Policy"]["Arn"]
    return {"Ref": arn, "PolicyArn": arn}, f"managed policy {arn}"


def create_role(s, k, p):
    iam = s.client("iam")
    name = p.get("RoleName") or s.generated_name(k)
    path = p.get("Path", "/")
    out = iam.create_role(RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(p["AssumeRolePolicyDocument"]),
                          Description=p.get("Description", ""), MaxSessionDuration=int(p.get("MaxSessionDuration", 3600)),
                          Tags=_tags(p))
    for pol in p.get("Policies", []):
        iam.put_role_policy(RoleName=name, PolicyName=pol["PolicyName"],
                            PolicyDocument=json.dumps(versioned(pol["PolicyDocument"])))
    for arn in p.get("ManagedPolicyArns", []):
        iam.attach_role_policy(RoleName=name, PolicyArn=arn)
    arn = out["Role"]["Arn"]
    return {"Ref": name, "Arn": arn, "RoleId": out["Role"]["RoleId"]}, f"role {arn}"


def create_kms_key(s, k, p):
    kms = s.client("kms")
    out = kms.create_key(Description=p.get("Description", ""), Policy=json.dumps(p["KeyPolicy"]),
                         KeyUsage=p.get("KeyUsage", "ENCRYPT_DECRYPT"), Tags=[
                             {"TagKey": t["Key"], "TagValue": t["Value"]} for t in _tags(p)])
    key_id = out["KeyMetadata"]["KeyId"]
    if p.get("EnableKeyRotation"):
        kms.enable_key_rotation(KeyId=key_id)
    return {"Ref": key_id, "Arn": out["KeyMetadata"]["Arn"], "KeyId": key_id}, f"KMS key {key_id}" + (
        " (rotation on)" if p.get("EnableKeyRotation") else "")


def create_kms_alias(s, k, p):
    s.client("kms").create_alias(AliasName=p["AliasName"], TargetKeyId=p["TargetKeyId"])
    return {"Ref": p["AliasName"]}, f"alias {p['AliasName']}"


def create_topic(s, k, p):
    name = p.get("TopicName") or s.generated_name(k, 256)
    attrs = {}
    if p.get("KmsMasterKeyId"):
        attrs["KmsMasterKeyId"] = p["KmsMasterKeyId"]
    arn = s.client("sns").create_topic(Name=name, Attributes=attrs, Tags=_tags(p))["TopicArn"]
    return {"Ref": arn, "TopicArn": arn, "TopicName": name}, f"topic {arn}" + (
        f" (KMS {attrs['KmsMasterKeyId']})" if attrs else "")


def create_topic_policy(s, k, p):
    for topic in p["Topics"]:
        s.client("sns").set_topic_attributes(TopicArn=topic, AttributeName="Policy",
                                             AttributeValue=json.dumps(p["PolicyDocument"]))
    return {"Ref": s.generated_name(k)}, f"topic policy on {', '.join(p['Topics'])}"


def create_queue(s, k, p):
    name = p.get("QueueName") or s.generated_name(k, 80)
    attrs = {a: str(p[a]).lower() if isinstance(p[a], bool) else str(p[a])
             for a in ("MessageRetentionPeriod", "SqsManagedSseEnabled", "KmsMasterKeyId", "VisibilityTimeout") if a in p}
    sqs = s.client("sqs")
    url = sqs.create_queue(QueueName=name, Attributes=attrs)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return {"Ref": url, "Arn": arn, "QueueName": name, "QueueUrl": url}, f"queue {arn}"


def create_queue_policy(s, k, p):
    sqs = s.client("sqs")
    for url in p["Queues"]:
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": json.dumps(p["PolicyDocument"])})
    return {"Ref": s.generated_name(k)}, f"queue policy on {', '.join(p['Queues'])}"


def create_table(s, k, p):
    name = p.get("TableName") or s.generated_name(k, 255)
    kw = dict(TableName=name, AttributeDefinitions=p["AttributeDefinitions"], KeySchema=p["KeySchema"],
              BillingMode=p.get("BillingMode", "PROVISIONED"))
    if p.get("SSESpecification"):
        kw["SSESpecification"] = {"Enabled": bool(p["SSESpecification"].get("SSEEnabled"))}
    ddb = s.client("dynamodb")
    arn = ddb.create_table(**kw)["TableDescription"]["TableArn"]
    if p.get("TimeToLiveSpecification"):
        ttl = p["TimeToLiveSpecification"]
        ddb.update_time_to_live(TableName=name, TimeToLiveSpecification={
            "AttributeName": ttl["AttributeName"], "Enabled": bool(ttl["Enabled"])})
    return {"Ref": name, "Arn": arn}, f"table {name}"


def create_bucket(s, k, p):
    name = p.get("BucketName") or s.generated_name(k, 63, lower=True)
    s3 = s.client("s3")
    s3.create_bucket(Bucket=name)
    if p.get("BucketEncryption"):
        rules = [{("ApplyServerSideEncryptionByDefault" if k == "ServerSideEncryptionByDefault" else k): v
                  for k, v in rule.items()} for rule in p["BucketEncryption"]["ServerSideEncryptionConfiguration"]]
        s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": rules})
    if p.get("VersioningConfiguration"):
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": p["VersioningConfiguration"]["Status"]})
    if p.get("PublicAccessBlockConfiguration"):
        s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=p["PublicAccessBlockConfiguration"])
    return {"Ref": name, "Arn": f"arn:{PARTITION}:s3:::{name}", "DomainName": f"{name}.s3.amazonaws.com"}, f"bucket {name}"


def create_log_group(s, k, p):
    name = p.get("LogGroupName") or s.generated_name(k, 512)
    logs = s.client("logs")
    logs.create_log_group(logGroupName=name)
    if p.get("RetentionInDays"):
        logs.put_retention_policy(logGroupName=name, retentionInDays=int(p["RetentionInDays"]))
    return {"Ref": name, "Arn": s.arn("logs", f"log-group:{name}:*")}, f"log group {name}"


def create_alarm(s, k, p):
    name = p.get("AlarmName") or s.generated_name(k, 255)
    kw = {a: p[a] for a in ("AlarmDescription", "AlarmActions", "Namespace", "MetricName", "Dimensions", "Statistic",
                            "ComparisonOperator", "TreatMissingData") if a in p}
    for a in ("Period", "EvaluationPeriods"):
        if a in p:
            kw[a] = int(p[a])
    if "Threshold" in p:
        kw["Threshold"] = float(p["Threshold"])
    if "Metrics" in p:
        kw["Metrics"] = [{**m, **({"MetricStat": {**m["MetricStat"], "Period": int(m["MetricStat"]["Period"])}}
                                  if "MetricStat" in m else {})} for m in p["Metrics"]]
    s.client("cloudwatch").put_metric_alarm(AlarmName=name, **kw)
    return {"Ref": name, "Arn": s.arn("cloudwatch", f"alarm:{name}")}, f"alarm {name} → {', '.join(kw.get('AlarmActions', []))}"


def create_rule(s, k, p):
    name = p.get("Name") or s.generated_name(k)
    ev = s.client("events")
    arn = ev.put_rule(Name=name, EventPattern=json.dumps(p["EventPattern"]), State=p.get("State", "ENABLED"))["RuleArn"]
    # A Lambda target is a local process here (moto would try to run it and fail the PutEvents):
    # the rule is created with its pattern, its targets are named only.
    targets = [t["Arn"] for t in p.get("Targets", [])]
    return {"Ref": name, "Arn": arn}, f"rule {name} → {', '.join(targets)} (targets run locally)"


def create_schedule(s, k, p):
    name = p.get("Name") or s.generated_name(k)
    target = {key: p["Target"][key] for key in ("Arn", "RoleArn", "Input", "RetryPolicy", "DeadLetterConfig")
              if key in p["Target"]}
    zone = {"ScheduleExpressionTimezone": p["ScheduleExpressionTimezone"]} if p.get("ScheduleExpressionTimezone") else {}
    out = s.client("scheduler").create_schedule(Name=name, ScheduleExpression=p["ScheduleExpression"],
                                                FlexibleTimeWindow=p["FlexibleTimeWindow"], Target=target, **zone)
    return {"Ref": name, "Arn": out["ScheduleArn"]}, f"schedule {name} ({p['ScheduleExpression']})"


def lambda_function(s, k, p):
    """Not created in the emulator: the function runs as a Lambda process (`cargo lambda watch`)
    under its role; its name, role and environment are kept for that."""
    name = p.get("FunctionName") or s.generated_name(k)
    return ({"Ref": name, "Arn": s.arn("lambda", f"function:{name}")},
            "runs as a local Lambda process under its role")


def state_machine(s, k, p):
    name = p.get("StateMachineName") or s.generated_name(k)
    arn = s.arn("states", f"stateMachine:{name}")
    return {"Ref": arn, "Arn": arn, "Name": name}, "runs in the local driver (tests/sfn_driver.rs)"


CREATORS = {
    "AWS::IAM::ManagedPolicy": create_managed_policy,
    "AWS::IAM::Role": create_role,
    "AWS::KMS::Key": create_kms_key,
    "AWS::KMS::Alias": create_kms_alias,
    "AWS::SNS::Topic": create_topic,
    "AWS::SNS::TopicPolicy": create_topic_policy,
    "AWS::SQS::Queue": create_queue,
    "AWS::SQS::QueuePolicy": create_queue_policy,
    "AWS::DynamoDB::Table": create_table,
    "AWS::S3::Bucket": create_bucket,
    "AWS::Logs::LogGroup": create_log_group,
    "AWS::CloudWatch::Alarm": create_alarm,
    "AWS::Events::Rule": create_rule,
    "AWS::Scheduler::Schedule": create_schedule,
    "AWS::Lambda::Function": lambda_function,
    "AWS::StepFunctions::StateMachine": state_machine,
}

# What plays each type's part locally, for the types not created in the emulator.
ELSEWHERE = {
    "AWS::Lambda::Permission": "a resource policy on the function (tested statically: tests/aws_rules)",
    "AWS::Lambda::EventInvokeConfig": "asynchronous-invocation settings (tested statically)",
    "AWS::SNS::Subscription": "the function's subscription (its notice cases are invoked directly)",
    "AWS::SecretsManager::RotationSchedule": "the rotation's four steps are invoked as Secrets Manager would",
    "AWS::EKS::AccessEntry": "no EKS API here: the Kubernetes stand-in checks the token",
    "AWS::EC2::SecurityGroup": "no VPC networking here",
    "AWS::EC2::SecurityGroupIngress": "no VPC networking here",
}


class _Planned(dict):
    """A planned resource's attributes: the common ones of its type, any other as a placeholder."""

    def __missing__(self, attr):
        return f"{self['Ref']}.{attr}"


def _planned(arn_of, ref="name"):
    def create(s, k, p):
        names = {"AWS::SNS::Topic": "TopicName", "AWS::SQS::Queue": "QueueName", "AWS::Lambda::Function": "FunctionName",
                 "AWS::StepFunctions::StateMachine": "StateMachineName", "AWS::IAM::Role": "RoleName",
                 "AWS::DynamoDB::Table": "TableName", "AWS::S3::Bucket": "BucketName", "alarm": "AlarmName",
                 "rule or schedule": "Name", "AWS::Logs::LogGroup": "LogGroupName"}
        name = next((p[v] for v in names.values() if v in p), None) or s.generated_name(k)
        arn = arn_of(s, name, p)
        return _Planned(Ref=arn if ref == "arn" else name, Arn=arn, Name=name, QueueName=name, TopicName=name,
                        KeyId=name), "planned"
    return create


PLANNED = {
    "AWS::SNS::Topic": _planned(lambda s, n, p: s.arn("sns", n), ref="arn"),
    "AWS::SQS::Queue": _planned(lambda s, n, p: s.arn("sqs", n)),
    "AWS::Lambda::Function": _planned(lambda s, n, p: s.arn("lambda", f"function:{n}")),
    "AWS::StepFunctions::StateMachine": _planned(lambda s, n, p: s.arn("states", f"stateMachine:{n}"), ref="arn"),
    "AWS::IAM::Role": _planned(lambda s, n, p: f"arn:{PARTITION}:iam::{s.account}:role{p.get('Path', '/')}{n}"),
    "AWS::IAM::ManagedPolicy": _planned(lambda s, n, p: f"arn:{PARTITION}:iam::{s.account}:policy/{n}", ref="arn"),
    "AWS::KMS::Key": _planned(lambda s, n, p: s.arn("kms", f"key/{n}")),
    "AWS::DynamoDB::Table": _planned(lambda s, n, p: s.arn("dynamodb", f"table/{n}")),
    "AWS::S3::Bucket": _planned(lambda s, n, p: f"arn:{PARTITION}:s3:::{n.lower()}"),
    "AWS::Events::Rule": _planned(lambda s, n, p: s.arn("events", f"rule/{n}")),
    "AWS::Scheduler::Schedule": _planned(lambda s, n, p: s.arn("scheduler", f"schedule/default/{n}")),
    "AWS::CloudWatch::Alarm": _planned(lambda s, n, p: s.arn("cloudwatch", f"alarm:{n}")),
}
PLANNED = {t: PLANNED.get(t, _planned(lambda s, n, p: s.arn("other", n)))
           for t in {*CREATORS, *ELSEWHERE, *PLANNED}}
