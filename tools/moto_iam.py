#!/usr/bin/env python3
"""moto server with IAM enforced the way AWS decides, for the deploy rehearsal.

    moto_iam.py -H 127.0.0.1 -p PORT        (started by `tools/stack.py up --iam`)

moto 5.2.1 enforces IAM when `INITIAL_NO_AUTH_ACTION_COUNT` is set, but its evaluator does not
know the resource of most calls (it passes "*", which no scoped `Resource` matches) and fails
every statement that has a `Condition`, so a least-privilege role would be refused everything;
and it does not evaluate the trust policy of a role in *another* account. This launcher replaces
that one decision (`IAMRequestBase.check_action_permitted`) with AWS's order of evaluation
(https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html):
an explicit Deny wins, else an Allow whose action (case-insensitive wildcards) and resource match;
a resource moto does not know ("*") matches any `Resource`; conditions of identity policies are
not evaluated (moto has no request context for them) and each such grant is logged as
"conditional"; `sts:AssumeRole` must also be allowed by the target role's trust policy, in its own
account, with `aws:PrincipalArn` conditions evaluated
(https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_create_for-user.html).

Every decision is appended as one JSON line to $CARETAKER_IAM_LOG: principal, action, resource,
allowed, and the statements that granted it (policy name and Sid), which is how the rehearsal
counts calls, AccessDenied and grants that no call used.
"""
import fnmatch
import json
import os
import re
import sys
import threading
import time

from moto.core.exceptions import AccessDeniedError, _RESTError
from moto.iam import access_control as ac
from moto.iam.models import iam_backends

LOG_PATH = os.environ.get("CARETAKER_IAM_LOG")

# moto names the action after the operation (`budgets:DescribeBudgets`); where IAM's action has
# another name, it is IAM's that a policy grants
# (https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsbudgetservice.html).
IAM_ACTION = {
    "budgets:DescribeBudgets": "budgets:ViewBudget",
    "budgets:DescribeBudget": "budgets:ViewBudget",
    "budgets:DescribeNotificationsForBudget": "budgets:ViewBudget",
    "budgets:DescribeSubscribersForNotification": "budgets:ViewBudget",
    "budgets:CreateBudget": "budgets:ModifyBudget",
    "budgets:UpdateBudget": "budgets:ModifyBudget",
    "budgets:DeleteBudget": "budgets:ModifyBudget",
    "budgets:CreateNotification": "budgets:ModifyBudget",
    "budgets:UpdateNotification": "budgets:ModifyBudget",
    "budgets:DeleteNotification": "budgets:ModifyBudget",
    "budgets:CreateSubscriber": "budgets:ModifyBudget",
}
_lock = threading.Lock()


def _log(entry):
    if not LOG_PATH:
        return
    with _lock, open(LOG_PATH, "a") as f:
        f.write(json.dumps(entry) + "\n")


def _list(v):
    return v if isinstance(v, list) else [v]


def _match(pattern, value, case_insensitive=False):
    rx = fnmatch.translate(pattern)  # * and ? as in IAM
    return re.match(rx, value, re.IGNORECASE if case_insensitive else 0) is not None


def _doc(policy):
    if isinstance(policy, str):
        return json.loads(policy)
    if isinstance(policy, dict):
        return policy
    version = next(v for v in policy.versions if v.is_default)
    return json.loads(version.document) if isinstance(version.document, str) else version.document


def identity_policies(key):
    """(policy name, document) of every identity-based policy of the caller."""
    b = key.backend
    if isinstance(key, ac.AssumedRoleAccessKey):
        role = key._owner_role_name
        for name in b.list_role_policies(role):
            _, doc = b.get_role_policy(role, name)
            yield name, _doc(doc)
        for p in b.get_role(role).managed_policies.values():
            yield p.name, _doc(p)
    else:
        user = key._owner_user_name
        for name in b.list_user_policies(user):
            yield name, _doc(b.get_user_policy(user, name)["policy_document"])
        for p in b.get_user(user).managed_policies.values():
            yield p.name, _doc(p)


def statement_matches(st, action, resource):
    if "NotAction" in st:
        acted = not any(_match(a, action, True) for a in _list(st["NotAction"]))
    else:
        acted = any(_match(a, action, True) for a in _list(st.get("Action", [])))
    if not acted:
        return False
    if resource == "*":
        return True  # moto does not know the resource: any Resource element applies
    if "NotResource" in st:
        return not any(_match(r, resource) for r in _list(st["NotResource"]))
    return any(_match(r, resource) for r in _list(st.get("Resource", "*")))


def principal_arn(key):
    """aws:PrincipalArn: for an assumed role, the role's ARN (with its path), not the session's."""
    if isinstance(key, ac.AssumedRoleAccessKey):
        try:
            return key.backend.get_role(key._owner_role_name).arn
        except Exception:
            return key.arn
    return key.arn


def service_standin(key):
    """The AWS service a caller stands in for: an IAM user named after the service's principal
    (lambda.amazonaws.com) under the path /service-standin/, made by the rehearsal; else None."""
    if isinstance(key, ac.AssumedRoleAccessKey):
        return None
    try:
        user = key.backend.get_user(key._owner_user_name)
    except Exception:
        return None
    return user.name if user.path == "/service-standin/" else None


def trust_allows(caller_account, caller_principal, role_arn, service=None):
    """Whether the target role's trust policy lets this principal assume it. A service stand-in
    may assume only roles of its own account whose trust names that service."""
    account = role_arn.split(":")[4]
    try:
        role = iam_backends[account]["aws"].get_role_by_arn(role_arn)
    except Exception:
        return None, "the role does not exist"
    policy = _doc(role.assume_role_policy_document)
    for st in _list(policy.get("Statement", [])):
        if st.get("Effect") != "Allow" or not any(_match(a, "sts:AssumeRole", True) for a in _list(st.get("Action", []))):
            continue
        if service:
            if account == caller_account and service in _list((st.get("Principal") or {}).get("Service", [])):
                return True, st.get("Sid", "")
            continue
        aws = _list((st.get("Principal") or {}).get("AWS", []))
        if not any(p == "*" or p == caller_principal or p == f"arn:aws:iam::{caller_account}:root" or p == caller_account
                   for p in aws):
            continue
        ok = True
        for op, conds in (st.get("Condition") or {}).items():
            for k, wanted in conds.items():
                if k.lower() != "aws:principalarn" or op not in ("ArnLike", "ArnEquals", "StringEquals", "StringLike"):
                    ok = False  # a condition this evaluator cannot decide: not trusted
                elif not any(_match(w, caller_principal) if op in ("ArnLike", "StringLike") else w == caller_principal
                             for w in _list(wanted)):
                    ok = False
        if ok:
            return True, st.get("Sid", "")
    return False, "its trust policy does not name this principal"


def check_action_permitted(self, resource):
    self._action = IAM_ACTION.get(self._action, self._action)
    key = self._access_key
    entry = {"t": round(time.time(), 3), "account": self.account_id, "principal": key.arn,
             "action": self._action, "resource": resource}
    if self._action == "sts:GetCallerIdentity":  # always allowed, as in AWS
        _log({**entry, "allowed": True, "by": []})
        return
    by, denied_by = [], None
    for name, doc in identity_policies(key):
        for i, st in enumerate(_list(doc.get("Statement", []))):
            if not statement_matches(st, self._action, resource):
                continue
            ref = {"policy": name, "sid": st.get("Sid", f"#{i}"), "conditional": bool(st.get("Condition"))}
            if st.get("Effect") == "Deny":
                denied_by = ref
            else:
                by.append(ref)
    why = ""
    if service_standin(key) and self._action.lower() != "sts:assumerole":
        why = "a service stand-in only assumes roles"
    elif denied_by:
        why = f"explicitly denied by {denied_by['policy']}/{denied_by['sid']}"
    elif not by:
        why = f"no identity-based policy allows the {self._action} action"
    elif self._action.lower() == "sts:assumerole" and resource.startswith("arn:"):
        trusted, detail = trust_allows(self.account_id, principal_arn(key), resource, service_standin(key))
        if not trusted:
            why = f"the role {resource} does not trust it: {detail}"
    allowed = not why
    _log({**entry, "allowed": allowed, "by": by, **({} if allowed else {"why": why})})
    if not allowed:
        headers = {k.lower(): v for k, v in (self._headers or {}).items()}
        raise Denied(key.arn, self._action, resource, why, headers.get("content-type", ""))


class Denied(AccessDeniedError):
    """AWS's AccessDenied, worded as AWS words it (who, which action, on what, and why) and in the
    shape of the service's protocol, as an SDK parses it: moto's own denial is EC2's
    `<ErrorResponse><Errors>`, in which the SDKs of the query services (STS, RDS, SNS, IAM) find no
    error code (https://smithy.io/2.0/aws/protocols/aws-query-protocol.html#operation-error-serialization)."""

    def __init__(self, user_arn, action, resource, why, content_type=""):
        on = f" on resource: {resource}" if resource != "*" else ""
        message = f"User: {user_arn} is not authorized to perform: {action}{on} because {why}"
        _RESTError.__init__(self, "AccessDenied", message)
        if content_type.startswith("application/x-www-form-urlencoded"):  # awsQuery
            from xmltodict import unparse
            self.description = unparse({"ErrorResponse": {
                "Error": {"Type": "Sender", "Code": "AccessDenied", "Message": message},
                "RequestId": "caretaker-rehearsal"}}, full_document=True)
        elif "json" in content_type:  # awsJson1_0/1_1 and restJson1: the code is in X-Amzn-ErrorType
            self.error_type = "AccessDeniedException"
            self.description = json.dumps({"__type": self.error_type, "message": message})
            self.content_type = "application/json"


ac.IAMRequestBase.check_action_permitted = check_action_permitted
# moto recomputes each request's SigV4 signature from the body as it re-encodes it, which differs
# from the Rust SDK's for some bodies (an SNS message with non-ASCII text is refused with 403).
# The rehearsal is about authorization: the access key and session token are still checked (an
# unknown or expired one is InvalidClientTokenId); the signature over the body is not.
ac.IAMRequestBase.check_signature = lambda self: None

if __name__ == "__main__":
    from moto.server import main

    sys.exit(main(sys.argv[1:]))
