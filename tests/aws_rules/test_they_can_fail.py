"""Each rule of test_aws_rules.py fails on the defect it is there to catch: the translated template
with that one defect put in (the AWS-managed key that started this, a condition that drops every
notice, a permission without its source, ...) must be refused. A rule that passes anything is no test.
"""
import copy

import pytest

import test_aws_rules as rules
from conftest import DEV, MGMT, ROOT, load_template, place_parameters, place_stacks, plan


def res(t, logical):
    return t["Resources"][logical]["Properties"]


def statement(t, logical, sid):
    for pol in res(t, logical).get("Policies", []):
        for st in pol["PolicyDocument"]["Statement"]:
            if isinstance(st, dict) and st.get("Sid") == sid:
                return st
    for key in ("KeyPolicy", "PolicyDocument"):
        for st in res(t, logical).get(key, {}).get("Statement", []):
            for branch in st["Fn::If"][1:] if "Fn::If" in st else [st]:
                if isinstance(branch, dict) and branch.get("Sid") == sid:
                    return branch
    raise KeyError(f"{logical}/{sid}")


def set_env(t, logical, name, value):
    res(t, logical)["Environment"]["Variables"][name] = value


MUTATIONS = {
    "a topic on the AWS-managed key alias/aws/sns":
        (rules.test_topics_aws_services_publish_to_are_on_a_customer_managed_key_that_lets_exactly_them_in,
         lambda t: res(t, "AlertTopic").__setitem__("KmsMasterKeyId", "alias/aws/sns")),
    "a source condition on Budgets' use of the key (Budgets sends none: every notice dropped)":
        (rules.test_topics_aws_services_publish_to_are_on_a_customer_managed_key_that_lets_exactly_them_in,
         lambda t: statement(t, "TopicKey", "BudgetsAndCostAnomalyDetectionPublish").__setitem__(
             "Condition", {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}})),
    "a key that lets EventBridge in though no rule publishes":
        (rules.test_topics_aws_services_publish_to_are_on_a_customer_managed_key_that_lets_exactly_them_in,
         lambda t: statement(t, "TopicKey", "BudgetsAndCostAnomalyDetectionPublish")["Principal"]["Service"].append(
             "events.amazonaws.com")),
    "an alarm named outside the key's caretaker-* condition":
        (rules.test_the_keys_source_condition_covers_every_alarm_that_publishes_through_it,
         lambda t: res(t, "FailedDeliveriesAlarm").__setitem__("AlarmName", "ops-failed-deliveries")),
    "a topic policy without aws:SourceAccount":
        (rules.test_topic_policies_let_each_publishing_service_publish_for_this_account_only,
         lambda t: statement(t, "AlertTopicPolicy", "CaretakerAlarmsPublish").pop("Condition")),
    "budget notices to a topic of another account":
        (rules.test_budget_notices_go_to_a_topic_of_the_budgets_own_account,
         lambda t: set_env(t, "BudgetGuardFunction", "BUDGET_NOTICE_TOPIC_ARN",
                           "arn:aws:sns:us-east-1:999999999999:caretaker-budget-notices")),
    "a rotation permission without its secret":
        (rules.test_only_secrets_manager_may_invoke_the_rotator_and_only_for_its_secret,
         lambda t: res(t, "SecretRotatorInvokePermission").pop("SourceArn")),
    "RotationFailed taken from the wrong detail-type (CloudTrail's is the one AWS sends)":
        (rules.test_a_failed_rotation_reaches_the_rotator_as_secrets_managers_cloudtrail_event,
         lambda t: next(r for k, r in t["Resources"].items() if k == "SecretRotatorFunctionRotationFailures")[
             "Properties"]["EventPattern"].__setitem__("detail-type", ["Secrets Manager Rotation Failed"])),
    "the rotator invocable by EventBridge for any rule":
        (rules.test_only_secrets_manager_may_invoke_the_rotator_and_only_for_its_secret,
         lambda t: res(t, "SecretRotatorFunctionRotationFailuresPermission").__setitem__(
             "SourceArn", {"Fn::Sub": "arn:aws:events:${AWS::Region}:${AWS::AccountId}:rule/*"})),
    "an EventBridge permission for any rule":
        (rules.test_every_lambda_permission_names_its_source_in_this_account,
         lambda t: res(t, "DevSchedulerFunctionBudgetShutdownRequestsPermission").pop("SourceArn")),
    "a schedule role that may invoke every function":
        (rules.test_each_schedule_runs_as_a_role_that_invokes_only_its_target,
         lambda t: statement(t, "DevSchedulerSchedulesRole", "InvokeTheTarget").__setitem__("Resource", "*")),
    "a schedule role trusted by every schedule of the account":
        (rules.test_each_schedule_runs_as_a_role_that_invokes_only_its_target,
         lambda t: res(t, "DevSchedulerSchedulesRole")["AssumeRolePolicyDocument"]["Statement"][0]["Condition"][
             "ArnLike"].__setitem__("aws:SourceArn", {"Fn::Sub": "arn:aws:scheduler:${AWS::Region}:${AWS::AccountId}:schedule/*"})),
    "a state machine role trusted without a source":
        (rules.test_the_state_machine_role_is_trusted_for_this_state_machine_and_invokes_only_restore_tester,
         lambda t: res(t, "RestoreTestStateMachineRole")["AssumeRolePolicyDocument"]["Statement"][0].pop("Condition")),
    "Scheduler named in the dead-letter queue's policy (it writes with its role)":
        (rules.test_the_dead_letter_queue_takes_messages_only_from_this_accounts_caretaker_rules,
         lambda t: statement(t, "FailedDeliveriesPolicy", "DeadLettersFromThisAccountsRules").__setitem__(
             "Principal", {"Service": ["events.amazonaws.com", "scheduler.amazonaws.com"]})),
}


@pytest.mark.parametrize("defect", sorted(MUTATIONS))
def test_the_rule_refuses(defect, translated):
    rule, mutate = MUTATIONS[defect]
    t = copy.deepcopy(translated)
    mutate(t)
    places = place_stacks(t)
    with pytest.raises(AssertionError):
        rule(places)


def test_the_spoke_rule_refuses_a_trust_of_every_caretaker_role(places):
    t = load_template(ROOT / "deploy/spoke.yaml")
    t["Resources"]["SpokeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0]["Condition"]["ArnLike"][
        "aws:PrincipalArn"] = {"Fn::Sub": "arn:${AWS::Partition}:iam::${ManagementAccountId}:role/caretaker/*"}
    with pytest.raises(AssertionError):
        rules.test_the_spoke_trusts_dev_scheduler_and_no_other_role_of_the_management_account(
            plan(t, {"ManagementAccountId": MGMT}, DEV, "caretaker-spoke"), places)


def test_the_ou_rule_refuses_an_assume_of_any_accounts_role(translated):
    t = copy.deepcopy(translated)
    for pol in res(t, "DevSchedulerFunctionRole")["Policies"]:
        for st in pol["PolicyDocument"]["Statement"]:
            for branch in st["Fn::If"][1:] if isinstance(st, dict) and "Fn::If" in st else [st]:
                if isinstance(branch, dict) and branch.get("Sid") == "ReachOuAccounts":
                    branch.pop("Condition")
    with pytest.raises(AssertionError):
        rules.test_with_ous_the_hub_assumes_only_its_organizations_spoke_roles_and_lists_only_its_ous(t)


def test_the_placement_rule_refuses_a_hub_that_also_runs_the_restore_test(translated):
    t = copy.deepcopy(translated)
    places = place_stacks(t)
    places["mgmt"] = plan(t, {**place_parameters("default"), "DevAccounts": DEV, "DeployRestoreTester": "true"}, MGMT)
    with pytest.raises(AssertionError):
        rules.test_each_place_holds_exactly_its_functions_and_their_resources(places)
