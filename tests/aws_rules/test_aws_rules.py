"""AWS's rules that moto does not model (it evaluates no KMS key policy, no topic or queue policy, no
Lambda resource policy, and delivers nothing), checked over the SAM-translated template as
CloudFormation resolves it in each place the rehearsal deploys it. Each test cites the AWS page it
encodes; a change to template.yaml that would make AWS drop an alarm, a budget notice or an
invocation fails here, before any deploy.
"""
import fnmatch
from collections import defaultdict

import pytest

from conftest import APP_SECRET, DEV, MGMT, place_parameters, plan

# Which services publish to a topic, and whether their requests to KMS carry aws:SourceAccount /
# aws:SourceArn. CloudWatch's do; for EventBridge AWS says they do not
# (https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services),
# and AWS documents none for Budgets' and Cost Anomaly Detection's: a condition there would drop
# every message, so their topic policy carries the conditions instead.
SOURCE_KEYS_ON_KMS = {"cloudwatch.amazonaws.com": True, "events.amazonaws.com": False,
                      "budgets.amazonaws.com": False, "costalerts.amazonaws.com": False}


def _list(v):
    return v if isinstance(v, list) else [v]


def resources(s, type_):
    return [(k, p) for k, p in s.resolved.items() if s.t["Resources"][k]["Type"] == type_]


def by_ref(s, type_, ref):
    """The logical id and properties of the resource of this type whose Ref is `ref`."""
    found = [(k, p) for k, p in resources(s, type_) if s.physical[k]["Ref"] == ref]
    assert len(found) == 1, f"no single {type_} with Ref {ref}: {found}"
    return found[0]


def by_arn(s, type_, arn):
    found = [(k, p) for k, p in resources(s, type_) if s.physical[k]["Arn"] == arn]
    assert len(found) == 1, f"no single {type_} with ARN {arn}"
    return found[0]


def function(s, name):
    """A function's resolved properties, or None where this place does not hold it."""
    return next((p for _, p in resources(s, "AWS::Lambda::Function") if p["FunctionName"] == f"caretaker-{name}"), None)


def role_statements(s, role_arn):
    _, role = by_arn(s, "AWS::IAM::Role", role_arn)
    return [st for pol in role.get("Policies", []) for st in _list(pol["PolicyDocument"]["Statement"])]


def cond(st, op, key):
    """A statement's condition value (None when it has none)."""
    return (st.get("Condition") or {}).get(op, {}).get(key)


def service_principals(st):
    return set(_list((st.get("Principal") or {}).get("Service", [])))


def publishers(s):
    """{topic ARN: the AWS services that publish to it} in this stack."""
    out = defaultdict(set)
    for _, alarm in resources(s, "AWS::CloudWatch::Alarm"):
        for topic in alarm.get("AlarmActions", []):
            out[topic].add("cloudwatch.amazonaws.com")
    # AWS Budgets and Cost Anomaly Detection publish to the topic budget-guard reads.
    for _, f in resources(s, "AWS::Lambda::Function"):
        topic = f.get("Environment", {}).get("Variables", {}).get("BUDGET_NOTICE_TOPIC_ARN")
        if topic:
            out[topic] |= {"budgets.amazonaws.com", "costalerts.amazonaws.com"}
    for _, rule in resources(s, "AWS::Events::Rule"):
        for target in rule.get("Targets", []):
            if ":sns:" in target["Arn"]:
                out[target["Arn"]].add("events.amazonaws.com")
    return out


def publishers_named(s, service):
    """Whether any key or topic policy of this stack lets `service` in."""
    docs = [p["KeyPolicy"] for _, p in resources(s, "AWS::KMS::Key")] + [
        p["PolicyDocument"] for _, p in resources(s, "AWS::SNS::TopicPolicy")]
    return any(service in service_principals(st) for d in docs for st in _list(d["Statement"]))


def test_topics_aws_services_publish_to_are_on_a_customer_managed_key_that_lets_exactly_them_in(places):
    # https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html#compatibility-with-aws-services
    # The AWS-managed key alias/aws/sns cannot be used by CloudWatch, Budgets, EventBridge, ...:
    # its policy cannot be changed, so their messages to a topic encrypted with it are dropped.
    for place, s in places.items():
        pubs = publishers(s)
        assert pubs, f"{place}: no topic any AWS service publishes to"
        by_key = defaultdict(set)
        for topic, services in pubs.items():
            _, props = by_ref(s, "AWS::SNS::Topic", topic)
            key = props.get("KmsMasterKeyId", "")
            assert key and not key.startswith("alias/aws/"), f"{place}: {topic} is not on a customer-managed key"
            key_logical, key_props = by_ref(s, "AWS::KMS::Key", key)
            # https://docs.aws.amazon.com/kms/latest/developerguide/rotate-keys.html
            assert key_props.get("EnableKeyRotation") is True, f"{place}: {key_logical} does not rotate"
            by_key[key_logical] |= services
        for key_logical, services in by_key.items():
            statements = _list(s.resolved[key_logical]["KeyPolicy"]["Statement"])
            granted = set().union(*(service_principals(st) for st in statements))
            assert granted == services, f"{place}: {key_logical} lets {sorted(granted)} in, its topics' publishers are {sorted(services)}"
            for st in statements:
                if not service_principals(st):
                    continue
                assert st["Effect"] == "Allow"
                assert set(_list(st["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}, st
                for svc in service_principals(st):
                    if SOURCE_KEYS_ON_KMS[svc]:
                        assert cond(st, "StringEquals", "aws:SourceAccount") == s.account, st
                        assert f":{s.account}:" in (cond(st, "ArnLike", "aws:SourceArn") or ""), st
                    else:
                        assert not st.get("Condition"), f"{place}: {svc} sends no source keys to KMS; the condition drops its messages: {st}"


def test_the_keys_source_condition_covers_every_alarm_that_publishes_through_it(places):
    # https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Notify_Users_Alarm_Changes.html
    # (an alarm's notification to an encrypted topic is dropped unless CloudWatch may use the key
    # for that alarm: the key policy's aws:SourceArn pattern must match every alarm's ARN).
    for place, s in places.items():
        for logical, alarm in resources(s, "AWS::CloudWatch::Alarm"):
            for topic in alarm["AlarmActions"]:
                _, t = by_ref(s, "AWS::SNS::Topic", topic)
                key_logical, _ = by_ref(s, "AWS::KMS::Key", t["KmsMasterKeyId"])
                patterns = [cond(st, "ArnLike", "aws:SourceArn") or ""
                            for st in s.resolved[key_logical]["KeyPolicy"]["Statement"]
                            if "cloudwatch.amazonaws.com" in service_principals(st)]
                arn = s.physical[logical]["Arn"]
                assert any(fnmatch.fnmatchcase(arn, p) for p in patterns), f"{place}: {arn} is outside {patterns}"


def test_topic_policies_let_each_publishing_service_publish_for_this_account_only(places):
    # https://docs.aws.amazon.com/sns/latest/dg/sns-access-policy-use-cases.html#source-account-versus-source-owner
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
    source_arn = {"cloudwatch.amazonaws.com": "arn:aws:cloudwatch:{region}:{account}:alarm:",
                  "budgets.amazonaws.com": "arn:aws:budgets::{account}:"}
    for place, s in places.items():
        policies = resources(s, "AWS::SNS::TopicPolicy")
        for topic, services in publishers(s).items():
            statements = [st for _, p in policies if topic in p["Topics"] for st in p["PolicyDocument"]["Statement"]]
            for st in statements:
                assert "AWS" not in (st.get("Principal") or {}) and st.get("Principal") != "*", f"{place}: {st}"
            for svc in services:
                mine = [st for st in statements if svc in service_principals(st)]
                assert mine, f"{place}: nothing lets {svc} publish to {topic}"
                for st in mine:
                    assert st["Effect"] == "Allow" and _list(st["Action"]) == ["sns:Publish"] and st["Resource"] == topic, st
                    assert cond(st, "StringEquals", "aws:SourceAccount") == s.account, st
                    if svc in source_arn:
                        want = source_arn[svc].format(region=s.region, account=s.account)
                        assert (cond(st, "ArnLike", "aws:SourceArn") or "").startswith(want), st


def test_budget_notices_go_to_a_topic_of_the_budgets_own_account(places):
    # https://docs.aws.amazon.com/cost-management/latest/userguide/budgets-sns-policy.html
    # A budget notifies only an SNS topic of its own account: budget-guard makes every budget in
    # the account it runs in (filtered by LinkedAccount), and its topic is of that account.
    for place, s in places.items():
        f = function(s, "budget-guard")
        if f is None:
            assert not publishers_named(s, "budgets.amazonaws.com"), f"{place}: Budgets let in without budget-guard"
            continue
        topic = f["Environment"]["Variables"]["BUDGET_NOTICE_TOPIC_ARN"]
        assert topic.split(":")[4] == s.account, f"{place}: the budget topic {topic} is not in {s.account}"
        statements = role_statements(s, f["Role"])
        budgets = [st for st in statements if any(a.startswith("budgets:") for a in _list(st["Action"]))]
        assert budgets and all(_list(st["Resource"]) == [f"arn:aws:budgets::{s.account}:budget/*"] for st in budgets), budgets
        assert not any("sts:AssumeRole" in _list(st["Action"]) for st in statements), "budget-guard needs no role elsewhere"


def test_only_secrets_manager_may_invoke_the_rotator_and_only_for_its_secret(places):
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotating-secrets-required-permissions-function.html
    dev = places["dev"]
    rotator = function(dev, "secret-rotator")
    arn = dev.physical[next(k for k, p in resources(dev, "AWS::Lambda::Function") if p is rotator)]["Arn"]
    perms = {p["Principal"]: p for _, p in resources(dev, "AWS::Lambda::Permission")
             if p["FunctionName"] in (arn, rotator["FunctionName"])}
    # Secrets Manager for its steps, EventBridge for the RotationFailed rule; nothing else.
    assert set(perms) == {"secretsmanager.amazonaws.com", "events.amazonaws.com"}, perms
    p = perms["secretsmanager.amazonaws.com"]
    assert p["Action"] == "lambda:InvokeFunction"
    assert p.get("SourceArn") == APP_SECRET and p.get("SourceAccount") == DEV
    [(rule_logical, _)] = [(k, r) for k, r in resources(dev, "AWS::Events::Rule")
                           if any(t["Arn"] == arn for t in r.get("Targets", []))]
    assert perms["events.amazonaws.com"]["SourceArn"] == dev.physical[rule_logical]["Arn"]
    [(_, schedule)] = resources(dev, "AWS::SecretsManager::RotationSchedule")
    assert schedule["RotationLambdaARN"] == arn and schedule["SecretId"] == APP_SECRET
    actions = {a for st in role_statements(dev, rotator["Role"]) for a in _list(st["Action"])}
    assert not any(a.startswith(("rds:Modify", "rds:Delete", "secretsmanager:Delete")) for a in actions), actions
    for place in ("mgmt", "dev-with-scheduler"):
        assert not resources(places[place], "AWS::SecretsManager::RotationSchedule"), place


def matches(pattern, event):
    """EventBridge's matching for the pattern forms the template uses: every key of the pattern
    is in the event, a list matches one of its values, a dict matches the nested object
    (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html)."""
    for key, want in pattern.items():
        if key not in event:
            return False
        if isinstance(want, dict):
            if not isinstance(event[key], dict) or not matches(want, event[key]):
                return False
        elif event[key] not in want:
            return False
    return True


def test_a_failed_rotation_reaches_the_rotator_as_secrets_managers_cloudtrail_event(places):
    # Secrets Manager sends RotationFailed through CloudTrail, with the detail-type
    # "AWS Service Event via CloudTrail" and the secret in additionalEventData.SecretId
    # (https://docs.aws.amazon.com/secretsmanager/latest/userguide/monitoring-eventbridge.html,
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/retrieve-ct-entries.html).
    import json
    import pathlib
    dev = places["dev"]
    rotator = function(dev, "secret-rotator")
    arn = dev.physical[next(k for k, p in resources(dev, "AWS::Lambda::Function") if p is rotator)]["Arn"]
    [rule] = [r for _, r in resources(dev, "AWS::Events::Rule") if any(t["Arn"] == arn for t in r["Targets"])]
    pattern = rule["EventPattern"]
    events = pathlib.Path(__file__).resolve().parents[2] / "events" / "secret-rotator"
    failed = json.loads((events / "rotation-failed.json").read_text())
    assert matches(pattern, failed)
    succeeded = {**failed, "detail": {**failed["detail"], "eventName": "RotationSucceeded"}}
    assert not matches(pattern, succeeded)
    assert not matches(pattern, {**failed, "source": "caretaker.budget-guard"})


def test_every_lambda_permission_names_its_source_in_this_account(places):
    # https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-services.html
    # (without SourceArn any rule, topic or secret of any account could invoke the function).
    for place, s in places.items():
        for logical, p in resources(s, "AWS::Lambda::Permission"):
            assert p["Principal"].endswith(".amazonaws.com"), f"{place} {logical}: {p['Principal']}"
            assert p.get("SourceArn"), f"{place} {logical} has no SourceArn"
            assert p["SourceArn"].split(":")[4] in (s.account, ""), f"{place} {logical}: {p['SourceArn']}"


def test_each_schedule_runs_as_a_role_that_invokes_only_its_target(places):
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/cross-service-confused-deputy-prevention.html
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/setting-up.html#setting-up-execution-role
    # https://docs.aws.amazon.com/scheduler/latest/UserGuide/configuring-schedule-dlq.html (the DLQ is
    # written with the execution role)
    for place, s in places.items():
        schedules = resources(s, "AWS::Scheduler::Schedule")
        for logical, sch in schedules:
            target = sch["Target"]
            _, role = by_arn(s, "AWS::IAM::Role", target["RoleArn"])
            [trust] = role["AssumeRolePolicyDocument"]["Statement"]
            assert trust["Principal"] == {"Service": "scheduler.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
            assert cond(trust, "StringEquals", "aws:SourceAccount") == s.account
            pattern = cond(trust, "ArnLike", "aws:SourceArn") or ""
            assert fnmatch.fnmatchcase(s.physical[logical]["Arn"], pattern), (pattern, s.physical[logical]["Arn"])
            for other_logical, other in schedules:
                if other["Target"]["Arn"] != target["Arn"]:
                    assert not fnmatch.fnmatchcase(s.physical[other_logical]["Arn"], pattern), f"{pattern} trusts {other_logical}"
            for st in role_statements(s, target["RoleArn"]):
                actions = set(_list(st["Action"]))
                if actions & {"lambda:InvokeFunction", "states:StartExecution"}:
                    assert _list(st["Resource"]) == [target["Arn"]], f"{place} {logical}: {st}"
                else:
                    assert actions == {"sqs:SendMessage"} and _list(st["Resource"]) == [target["DeadLetterConfig"]["Arn"]], st


def test_the_state_machine_role_is_trusted_for_this_state_machine_and_invokes_only_restore_tester(places):
    # https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html
    for place, s in places.items():
        if function(s, "restore-tester") is None:
            assert not resources(s, "AWS::StepFunctions::StateMachine"), place
            continue
        [(logical, sm)] = resources(s, "AWS::StepFunctions::StateMachine")
        _, role = by_arn(s, "AWS::IAM::Role", sm["RoleArn"])
        [trust] = role["AssumeRolePolicyDocument"]["Statement"]
        assert trust["Principal"] == {"Service": "states.amazonaws.com"}
        assert cond(trust, "StringEquals", "aws:SourceAccount") == s.account
        assert cond(trust, "ArnLike", "aws:SourceArn") == s.physical[logical]["Arn"]
        fn_arn = s.physical[next(k for k, p in resources(s, "AWS::Lambda::Function")
                                 if p["FunctionName"] == "caretaker-restore-tester")]["Arn"]
        for st in role_statements(s, sm["RoleArn"]):
            actions = set(_list(st["Action"]))
            if "lambda:InvokeFunction" in actions:
                assert actions == {"lambda:InvokeFunction"} and _list(st["Resource"]) == [fn_arn, f"{fn_arn}:*"], st
            else:
                assert all(a.startswith("xray:") for a in actions), st


def test_the_dead_letter_queue_takes_messages_only_from_this_accounts_caretaker_rules(places):
    # https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-dlq.html#eb-dlq-perms
    for place, s in places.items():
        [(q_logical, _)] = resources(s, "AWS::SQS::Queue")
        queue = s.physical[q_logical]["Arn"]
        [(_, policy)] = resources(s, "AWS::SQS::QueuePolicy")
        [st] = policy["PolicyDocument"]["Statement"]
        assert st["Principal"] == {"Service": "events.amazonaws.com"} and st["Action"] == "sqs:SendMessage"
        assert st["Resource"] == queue and cond(st, "StringEquals", "aws:SourceAccount") == s.account
        pattern = cond(st, "ArnLike", "aws:SourceArn") or ""
        assert pattern.startswith(f"arn:aws:events:{s.region}:{s.account}:rule/"), pattern
        for logical, rule in resources(s, "AWS::Events::Rule"):
            for target in rule["Targets"]:
                assert target.get("DeadLetterConfig", {}).get("Arn") == queue, f"{place} {logical} keeps no dead letters"
                assert fnmatch.fnmatchcase(s.physical[logical]["Arn"], pattern), f"{place}: {logical} is outside {pattern}"


def test_the_spoke_trusts_dev_scheduler_and_no_other_role_of_the_management_account(spoke, places):
    # https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-principalarn
    [(_, role)] = resources(spoke, "AWS::IAM::Role")
    [trust] = role["AssumeRolePolicyDocument"]["Statement"]
    assert trust["Principal"] == {"AWS": f"arn:aws:iam::{MGMT}:root"}
    pattern = cond(trust, "ArnLike", "aws:PrincipalArn") or ""
    s = places["mgmt"]
    scheduler = function(s, "dev-scheduler")["Role"]
    assert fnmatch.fnmatchcase(scheduler, pattern), f"dev-scheduler's role {scheduler} is outside {pattern}"
    for logical, _ in resources(s, "AWS::IAM::Role"):
        if s.physical[logical]["Arn"] != scheduler:
            assert not fnmatch.fnmatchcase(s.physical[logical]["Arn"], pattern), f"the spoke trusts {logical}"
    # and the hub's dev-scheduler may assume exactly the listed dev accounts' spoke role.
    assume = [st for st in role_statements(s, scheduler) if "sts:AssumeRole" in _list(st["Action"])]
    assert [_list(st["Resource"]) for st in assume] == [[f"arn:aws:iam::{DEV}:role/{spoke.physical['SpokeRole']['Ref']}"]]


# Which functions each place holds (README "Deploying"), from samconfig.toml's switches.
HOLDS = {"mgmt": {"dev-scheduler", "image-promoter", "budget-guard"},
         "mgmt-with-slack": {"dev-scheduler", "image-promoter", "budget-guard"},
         "dev": {"secret-rotator"}, "prod": {"restore-tester"},
         "dev-with-scheduler": {"dev-scheduler"}}


def test_each_place_holds_exactly_its_functions_and_their_resources(places):
    for place, s in places.items():
        held = {p["FunctionName"].removeprefix("caretaker-") for _, p in resources(s, "AWS::Lambda::Function")}
        assert held == HOLDS[place], place
        assert bool(resources(s, "AWS::StepFunctions::StateMachine")) == ("restore-tester" in held), place
        assert bool(resources(s, "AWS::S3::Bucket")) == ("restore-tester" in held), place
        tables = {k for k, _ in resources(s, "AWS::DynamoDB::Table")}
        assert ("SchedulerStateTable" in tables) == ("dev-scheduler" in held), place
        assert ("BudgetStateTable" in tables) == ("budget-guard" in held), place
        # Every alarm watches something this place holds.
        for logical, alarm in resources(s, "AWS::CloudWatch::Alarm"):
            for d in alarm.get("Dimensions", []):
                if d["Name"] == "FunctionName":
                    assert d["Value"].removeprefix("caretaker-") in held, f"{place}: {logical} watches {d['Value']}"


def test_dev_scheduler_acts_in_the_listed_dev_accounts_or_in_its_own_never_both(places):
    hub = function(places["mgmt"], "dev-scheduler")
    assert hub["Environment"]["Variables"]["ALLOWED_ACCOUNTS"] == DEV
    hub_actions = {a for st in role_statements(places["mgmt"], hub["Role"]) for a in _list(st["Action"])}
    assert not any(a.startswith(("rds:", "eks:")) for a in hub_actions), hub_actions
    local = function(places["dev-with-scheduler"], "dev-scheduler")
    assert local["Environment"]["Variables"]["ALLOWED_ACCOUNTS"] == ""
    local_actions = {a for st in role_statements(places["dev-with-scheduler"], local["Role"]) for a in _list(st["Action"])}
    assert "rds:StopDBInstance" in local_actions and "sts:AssumeRole" not in local_actions
    # In a VPC (a private EKS endpoint), with the subnets and groups given.
    assert local["VpcConfig"] == {"SubnetIds": ["subnet-1", "subnet-2"], "SecurityGroupIds": ["sg-0sched"]}
    assert "VpcConfig" not in hub
    # budget-guard is told the dev accounts it may ask a shutdown for; no other function of any.
    assert function(places["mgmt"], "budget-guard")["Environment"]["Variables"]["ALLOWED_ACCOUNTS"] == DEV
    for place, s in places.items():
        for _, f in resources(s, "AWS::Lambda::Function"):
            if f["FunctionName"] not in ("caretaker-dev-scheduler", "caretaker-budget-guard"):
                assert "ALLOWED_ACCOUNTS" not in f.get("Environment", {}).get("Variables", {}), f["FunctionName"]


SWITCHES = {"DeployDevScheduler": "dev-scheduler", "DeployImagePromoter": "image-promoter",
            "DeployBudgetGuard": "budget-guard", "DeployRestoreTester": "restore-tester"}


@pytest.mark.parametrize("switch", sorted(SWITCHES))
def test_each_switch_alone_brings_its_function_and_none_of_the_others_resources(translated, switch):
    s = plan(translated, {**{k: "false" for k in SWITCHES}, switch: "true"}, MGMT)
    held = {p["FunctionName"].removeprefix("caretaker-") for _, p in resources(s, "AWS::Lambda::Function")}
    assert held == {SWITCHES[switch]}
    # Roles: the function's own, its schedules' and (restore test) its state machine's; no other's.
    others = [w for w in SWITCHES.values() if w != SWITCHES[switch]]
    camel = {w: "".join(x.title() for x in w.split("-")) for w in SWITCHES.values()}
    for logical in s.resolved:
        for other in others:
            assert not logical.startswith(camel[other]), f"{switch} alone brings {logical}"
    shared = {"TopicKey", "TopicKeyAlias", "AlertTopic", "AlertTopicPolicy", "NotifyPolicy", "FailedDeliveries",
              "FailedDeliveriesPolicy", "FailedDeliveriesAlarm"}
    nothing = plan(translated, {k: "false" for k in SWITCHES}, MGMT)
    assert set(nothing.resolved) == shared, sorted(set(nothing.resolved) ^ shared)


def test_the_rotation_window_lies_inside_office_hours_in_winter_and_summer(places):
    # https://docs.aws.amazon.com/secretsmanager/latest/userguide/rotate-secrets_schedule.html
    # (a rate() window starts at midnight UTC: at night a scheduled dev database is stopped, and
    # the window must end the same UTC day)
    import re
    from datetime import datetime
    from zoneinfo import ZoneInfo

    dev = places["dev"]
    [(_, schedule)] = resources(dev, "AWS::SecretsManager::RotationSchedule")
    rules = schedule["RotationRules"]
    m = re.fullmatch(r"cron\((\d+) (\d+) \? ([\d,]+) (MON|TUE|WED|THU|FRI)#\d \*\)", rules["ScheduleExpression"])
    assert m, f"not a weekday cron: {rules['ScheduleExpression']}"
    start, hours = int(m.group(2)), int(rules["Duration"].rstrip("h"))
    assert start + hours <= 24, "the window must end the same UTC day"
    office = dev.t["Parameters"]["OfficeHours"]["Default"]  # "Mon-Fri 07:00-20:00 America/New_York"
    days, span, zone = office.split()
    begin, end = (int(x.split(":")[0]) for x in span.split("-"))
    for month in (1, 7):  # EST and EDT
        for h in (start, start + hours - 1):
            local = datetime(2027, month, 5, h, 30, tzinfo=ZoneInfo("UTC")).astimezone(ZoneInfo(zone))
            assert begin <= local.hour < end, f"{h}:30 UTC is {local:%H:%M} in {zone}, outside {span}"


ORG, OU = "o-a1b2c3d4e5", "ou-a1b2-c3d4e5f6"


def hub_with_ous(template):
    return plan(template, {**place_parameters("default"), "DevAccountsOu": OU, "OrganizationId": ORG}, MGMT)


def test_with_ous_the_hub_assumes_only_its_organizations_spoke_roles_and_lists_only_its_ous(translated):
    # An OU's accounts are found at run time, so the role ARN cannot name them: aws:ResourceOrgID
    # keeps sts:AssumeRole to roles of this organization
    # (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_condition-keys.html#condition-keys-resourceorgid);
    # ListAccountsForParent / ListOrganizationalUnitsForParent take the parent's ARN
    # (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsorganizations.html).
    s = hub_with_ous(translated)
    scheduler = function(s, "dev-scheduler")
    statements = role_statements(s, scheduler["Role"])
    assume = [st for st in statements if "sts:AssumeRole" in _list(st["Action"])]
    assert len(assume) == 1, assume
    [st] = assume
    assert _list(st["Resource"]) == [f"arn:aws:iam::*:role/{scheduler['Environment']['Variables']['TARGET_ROLE_NAME']}"]
    assert cond(st, "StringEquals", "aws:ResourceOrgID") == ORG
    listing = [st for st in statements if "organizations:ListAccountsForParent" in _list(st["Action"])]
    assert listing and all(f"/{ORG}/" in r for st in listing for r in _list(st["Resource"])), listing
    env = scheduler["Environment"]["Variables"]
    assert env["DEV_ACCOUNTS_OU"] == OU and env["ALLOWED_ACCOUNTS"] == ""
    # Acting in an OU's accounts is not acting in its own: no own-account grants.
    assert not any(st.get("Sid") == "DescribeInThisAccount" for st in statements)


def test_the_fan_out_runs_under_its_own_roles_and_the_function_schedule_is_off(translated):
    # With FanOut: step-functions the schedule starts the state machine, whose role invokes
    # dev-scheduler only; the function's own periodic schedule is disabled, so a run is never made
    # twice (https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html).
    s = plan(translated, {**place_parameters("default"), "DevAccounts": DEV, "FanOut": "step-functions"}, MGMT)
    test_each_schedule_runs_as_a_role_that_invokes_only_its_target({"mgmt-fan-out": s})
    [(logical, machine)] = resources(s, "AWS::StepFunctions::StateMachine")
    scheduler = s.physical[next(k for k, p in resources(s, "AWS::Lambda::Function")
                                if p["FunctionName"] == "caretaker-dev-scheduler")]["Arn"]
    [trust] = by_arn(s, "AWS::IAM::Role", machine["RoleArn"])[1]["AssumeRolePolicyDocument"]["Statement"]
    assert fnmatch.fnmatchcase(s.physical[logical]["Arn"], cond(trust, "ArnLike", "aws:SourceArn"))
    invoked = {r for st in role_statements(s, machine["RoleArn"]) if "lambda:InvokeFunction" in _list(st["Action"])
               for r in _list(st["Resource"])}
    assert invoked == {scheduler, f"{scheduler}:*"}, invoked
    states = {sch["Target"]["Arn"]: sch.get("State", "ENABLED") for _, sch in resources(s, "AWS::Scheduler::Schedule")}
    assert states[scheduler] == "DISABLED" and states[s.physical[logical]["Arn"]] == "ENABLED", states
