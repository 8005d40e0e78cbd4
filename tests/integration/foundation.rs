//! The shared crate against the local stack: notification sinks, cross-account roles, and the
//! stack itself leaving nothing behind.

use std::path::Path;
use std::process::Command;

use caretaker_shared::aws::Accounts;
use caretaker_shared::notify::{Notification, Notifier, Notifiers, Severity, SnsSink, WebhookSink};

use crate::support::*;

/// A fresh account with an alert topic and an SQS queue capturing what is published to it.
async fn alert_topic_in_fresh_account()
-> (aws_config::SdkConfig, aws_sdk_sns::Client, String, String) {
    let config = config_in(&fresh_account()).await;
    let (sns, topic, queue) = alert_topic(&config).await;
    (config, sns, topic, queue)
}

fn sample() -> Notification {
    Notification::new(Severity::Warning, "Dev budget at 82% of $500.00")
        .fact("Account", "dev (222222222222)")
        .action("Look at the top cost drivers.")
}

#[tokio::test]
async fn sns_sink_delivers_the_readable_message_to_a_subscriber() {
    let (config, sns, topic, queue) = alert_topic_in_fresh_account().await;

    let failures = Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))])
        .send(&sample())
        .await
        .failures;

    assert!(failures.is_empty(), "{failures:?}");
    let got = drain(&config, &queue).await;
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(
        got[0].starts_with("[WARNING] Dev budget at 82% of $500.00"),
        "{}",
        got[0]
    );
    assert!(got[0].contains("What to do: Look at the top cost drivers."));
}

#[tokio::test]
async fn webhook_sink_posts_slack_json_with_the_url_read_from_secrets_manager() {
    let config = config_in(&fresh_account()).await;
    let rx = receiver(200).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    let arn = sm
        .create_secret()
        .name("caretaker/slack-webhook")
        .secret_string(serde_json::json!({ "url": rx.url }).to_string())
        .send()
        .await
        .unwrap()
        .arn
        .unwrap();

    let sink = WebhookSink::from_secret(&sm, &arn).await.unwrap();
    sink.send(&sample()).await.unwrap();

    let bodies = rx.bodies.lock().unwrap().clone();
    assert_eq!(bodies.len(), 1);
    let v: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    assert!(v["text"].as_str().unwrap().contains("Dev budget at 82%"));
    assert!(
        v["blocks"][0]["text"]["text"]
            .as_str()
            .unwrap()
            .contains("*What to do:*")
    );
}

#[tokio::test]
async fn one_failing_sink_does_not_stop_the_other_and_the_error_hides_the_url() {
    let (config, sns, topic, queue) = alert_topic_in_fresh_account().await;
    let broken = receiver(500).await;
    let webhook = WebhookSink::new(broken.url.clone().into(), "slack").unwrap();

    let delivery = Notifiers::new(vec![Box::new(webhook), Box::new(SnsSink::new(sns, &topic))])
        .send(&sample())
        .await;
    assert_eq!(delivery.delivered(), 1, "the other sink still took it");
    let failures = delivery.failures;

    assert_eq!(failures.len(), 1, "{failures:?}");
    assert!(failures[0].contains("HTTP 500"), "{failures:?}");
    assert!(
        !failures[0].contains("secret-token"),
        "the webhook URL leaked: {failures:?}"
    );
    assert_eq!(drain(&config, &queue).await.len(), 1);
}

#[tokio::test]
async fn webhook_secret_without_url_is_a_clear_error() {
    let config = config_in(&fresh_account()).await;
    let sm = aws_sdk_secretsmanager::Client::new(&config);
    sm.create_secret()
        .name("hook")
        .secret_string(r#"{"token":"x"}"#)
        .send()
        .await
        .unwrap();
    let err = WebhookSink::from_secret(&sm, "hook").await.unwrap_err();
    assert!(err.to_string().contains("no \"url\" key"), "{err}");
}

#[tokio::test]
async fn assumed_role_acts_in_the_target_account_and_is_cached() {
    let base = base_config().await;
    let home = caretaker_shared::aws::account_id(&base).await.unwrap();
    let accounts = Accounts::new(base, home.clone(), Some("caretaker-spoke".into()), "test");
    let target = fresh_account();

    let cfg = accounts.config_for(&target).await.unwrap();
    assert_eq!(
        caretaker_shared::aws::account_id(&cfg).await.unwrap(),
        target
    );
    // Home account: no role assumed.
    let home_cfg = accounts.config_for(&home).await.unwrap();
    assert_eq!(
        caretaker_shared::aws::account_id(&home_cfg).await.unwrap(),
        home
    );

    let no_role = Accounts::new(base_config().await, home, None, "test");
    let err = no_role.config_for(&target).await.unwrap_err();
    assert!(caretaker_shared::error::chain(&err).contains("TARGET_ROLE_NAME"));
}

/// `tools/stack.py run` must leave no process and no folder behind, even when the command fails.
#[test]
fn local_stack_leaves_nothing_running() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(root.join("tools/stack.py"))
        .args([
            "run",
            "--",
            "sh",
            "-c",
            "cat \"$CARETAKER_STACK_DIR/pids.json\"; echo; echo \"$CARETAKER_STACK_DIR\"; exit 3",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "the command's exit code is passed through"
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut lines = stdout.lines();
    let pids: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    let dir = lines.next().unwrap();
    assert!(!Path::new(dir).exists(), "{dir} was left behind");
    for name in ["moto", "postgres"] {
        let pid = pids[name].as_u64().unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let running = !stat.is_empty()
            && !stat
                .rsplit(')')
                .next()
                .unwrap()
                .trim_start()
                .starts_with('Z');
        assert!(!running, "{name} (pid {pid}) is still running");
    }
}

/// The dev shutdown request is defined once (caretaker_shared::contract): the rule that routes
/// it to dev-scheduler in template.yaml matches exactly that source, detail-type and action.
#[test]
fn the_template_routes_the_shutdown_request_the_contract_defines() {
    use caretaker_shared::contract::{SHUTDOWN_ACTION, SHUTDOWN_DETAIL_TYPE, SHUTDOWN_SOURCE};
    let t: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap();
    let rule = &t["Resources"]["DevSchedulerFunction"]["Properties"]["Events"]["BudgetShutdownRequests"]
        ["Properties"]["Pattern"];
    let one = |v: &serde_yaml_ng::Value| -> Vec<String> {
        v.as_sequence()
            .unwrap_or_else(|| panic!("{v:?}"))
            .iter()
            .map(|x| x.as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(one(&rule["source"]), [SHUTDOWN_SOURCE]);
    assert_eq!(one(&rule["detail-type"]), [SHUTDOWN_DETAIL_TYPE]);
    assert_eq!(one(&rule["detail"]["action"]), [SHUTDOWN_ACTION]);
    // budget-guard may put only that event.
    let statements =
        t["Resources"]["BudgetGuardFunction"]["Properties"]["Policies"][0]["Statement"]
            .as_sequence()
            .unwrap();
    let put = statements
        .iter()
        .find(|s| s["Action"] == "events:PutEvents")
        .unwrap();
    assert_eq!(
        put["Condition"]["StringEquals"]["events:source"],
        SHUTDOWN_SOURCE
    );
    assert_eq!(
        put["Condition"]["StringEquals"]["events:detail-type"],
        SHUTDOWN_DETAIL_TYPE
    );
}

/// `!Ref X` / `!GetAtt X.Y` as the logical id they name, whatever the tag.
fn names(v: &serde_yaml_ng::Value) -> Option<String> {
    match v {
        serde_yaml_ng::Value::Tagged(t) => t
            .value
            .as_str()
            .map(|s| s.split('.').next().unwrap().to_owned()),
        _ => None,
    }
}

/// A broken function tells someone: every function has an Errors alarm and a log group with a
/// retention, the state machine alarms on failed / timed-out / aborted executions, every
/// schedule and rule has a bounded retry and a dead-letter queue, asynchronous invocations have
/// an on-failure destination, and the dead letters alarm — all to the alert topic.
#[test]
fn the_template_alarms_on_every_failure_keeps_logs_bounded_and_retries_boundedly() {
    let t: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap();
    let resources = t["Resources"].as_mapping().unwrap();
    let of_type = |ty: &str| -> Vec<(String, &serde_yaml_ng::Value)> {
        resources
            .iter()
            .filter(|(_, r)| r["Type"] == ty)
            .map(|(k, r)| (k.as_str().unwrap().to_owned(), r))
            .collect()
    };
    let alarms = of_type("AWS::CloudWatch::Alarm");
    let alerting = |a: &serde_yaml_ng::Value| {
        let action = &a["Properties"]["AlarmActions"][0];
        format!("{action:?}").contains("AlertTopic")
    };
    let functions = of_type("AWS::Serverless::Function");
    assert_eq!(functions.len(), 5);
    for (id, f) in &functions {
        let alarm = alarms.iter().find(|(_, a)| {
            a["Properties"]["MetricName"] == "Errors"
                && names(&a["Properties"]["Dimensions"][0]["Value"]).as_deref() == Some(id.as_str())
        });
        let (_, alarm) = alarm.unwrap_or_else(|| panic!("{id} has no Errors alarm"));
        assert!(alerting(alarm), "{id}'s alarm goes to the alert topic");
        assert_eq!(alarm["Properties"]["TreatMissingData"], "notBreaching");
        let name = f["Properties"]["FunctionName"].as_str().unwrap();
        let group = of_type("AWS::Logs::LogGroup")
            .into_iter()
            .find(|(_, g)| {
                g["Properties"]["LogGroupName"] == format!("/aws/lambda/{name}").as_str()
            })
            .unwrap_or_else(|| panic!("{name} has no log group"));
        assert_eq!(
            names(&group.1["Properties"]["RetentionInDays"]).as_deref(),
            Some("LogRetentionDays")
        );
        assert_eq!(
            f.get("Condition"),
            group.1.get("Condition"),
            "{name}: created together"
        );
        for (event, e) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            let p = &e["Properties"];
            if e["Type"] == "ScheduleV2" || e["Type"] == "EventBridgeRule" {
                let retries = p["RetryPolicy"]["MaximumRetryAttempts"].as_u64();
                assert!(
                    retries.is_some_and(|n| n <= 3),
                    "{id}.{event:?}: bounded retry"
                );
                assert_eq!(
                    names(&p["DeadLetterConfig"]["Arn"]).as_deref(),
                    Some("FailedDeliveries"),
                    "{id}.{event:?}"
                );
            }
        }
    }
    let sm = &t["Resources"]["RestoreTestStateMachine"]["Properties"]["Events"];
    for (event, e) in sm.as_mapping().unwrap() {
        assert_eq!(
            names(&e["Properties"]["DeadLetterConfig"]["Arn"]).as_deref(),
            Some("FailedDeliveries"),
            "{event:?}"
        );
    }
    let on_failure =
        &t["Globals"]["Function"]["EventInvokeConfig"]["DestinationConfig"]["OnFailure"];
    assert_eq!(
        names(&on_failure["Destination"]).as_deref(),
        Some("FailedDeliveries")
    );
    assert!(
        t["Globals"]["Function"]["EventInvokeConfig"]["MaximumRetryAttempts"]
            .as_u64()
            .unwrap()
            <= 2
    );
    let (_, dlq) = alarms
        .iter()
        .find(|(_, a)| {
            names(&a["Properties"]["Dimensions"][0]["Value"]).as_deref() == Some("FailedDeliveries")
        })
        .expect("the dead letters alarm");
    assert!(alerting(dlq));
    let (_, sfn) = alarms
        .iter()
        .find(|(_, a)| {
            format!("{:?}", a["Properties"]["Metrics"]).contains("RestoreTestStateMachine")
        })
        .expect("the state machine's alarm");
    let text = format!("{:?}", sfn["Properties"]["Metrics"]);
    for m in [
        "ExecutionsFailed",
        "ExecutionsTimedOut",
        "ExecutionsAborted",
    ] {
        assert!(text.contains(m), "{m}");
    }
    assert!(alerting(sfn));
}

/// cfn-lint does not read `DefinitionUri`: the state machine is checked here. Every state it
/// names exists, every Lambda task retries Lambda's transient errors and ends in Cleanup on
/// anything else (Cleanup and Report excepted, which catch to Report and Failed).
#[test]
fn the_state_machine_definition_is_well_formed_and_retries_lambdas_transient_errors() {
    let d: serde_json::Value = serde_json::from_str(include_str!(
        "../../functions/restore-tester/statemachine.asl.json"
    ))
    .unwrap();
    let states = d["States"].as_object().unwrap();
    assert!(states.contains_key(d["StartAt"].as_str().unwrap()));
    let mut targets = Vec::new();
    for (name, s) in states {
        targets.extend(s["Next"].as_str());
        targets.extend(s["Default"].as_str());
        for c in s["Choices"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(s["Catch"].as_array().into_iter().flatten())
        {
            targets.extend(c["Next"].as_str());
        }
        if s["Type"] != "Task" {
            continue;
        }
        let retried: Vec<&str> = s["Retry"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|r| {
                r["ErrorEquals"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| e.as_str().unwrap())
            })
            .collect();
        for e in [
            "Lambda.ServiceException",
            "Lambda.AWSLambdaException",
            "Lambda.SdkClientException",
            "Lambda.TooManyRequestsException",
        ] {
            assert!(
                retried.contains(&e) || retried.contains(&"States.ALL"),
                "{name} does not retry {e}"
            );
        }
        let caught = s["Catch"][0]["Next"].as_str().unwrap();
        let expected = match name.as_str() {
            "Cleanup" => "Report",
            "Report" => "Failed",
            _ => "Cleanup",
        };
        assert_eq!(caught, expected, "{name}");
    }
    for t in targets {
        assert!(states.contains_key(t), "{t} is named but not defined");
    }
}

/// No stack-name trap, and dev-scheduler's role alone: SAM names function roles
/// `<StackName>-<Fn>Role-<id>`, so the spoke trusts the path dev-scheduler's role is created
/// under (its own), not a name prefix; every other function's role is outside that path.
#[test]
fn the_spoke_trusts_dev_scheduler_s_role_whatever_the_stack_is_called() {
    let t: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../template.yaml")).unwrap();
    let global = t["Globals"]["Function"]["RolePath"].as_str().unwrap();
    assert_eq!(global, "/caretaker/");
    let scheduler = t["Resources"]["DevSchedulerFunction"]["Properties"]["RolePath"]
        .as_str()
        .unwrap();
    assert_eq!(scheduler, "/caretaker/dev-scheduler/");
    let spoke: serde_yaml_ng::Value =
        serde_yaml_ng::from_str(include_str!("../../deploy/spoke.yaml")).unwrap();
    let trust =
        &spoke["Resources"]["SpokeRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    let arn = match &trust["Condition"]["ArnLike"]["aws:PrincipalArn"] {
        serde_yaml_ng::Value::Tagged(t) => t.value.as_str().unwrap().to_owned(),
        other => panic!("{other:?}"),
    };
    assert!(arn.ends_with(&format!(":role{scheduler}*")), "{arn}");
    for (id, r) in t["Resources"].as_mapping().unwrap() {
        if r["Type"] == "AWS::Serverless::Function" {
            assert!(
                r["Properties"].get("Role").is_none(),
                "{id:?}: its own role, under the path"
            );
            let own = id.as_str() == Some("DevSchedulerFunction");
            let path = r["Properties"]["RolePath"].as_str().unwrap_or(global);
            assert_eq!(path == scheduler, own, "{id:?}: {path}");
        }
    }
}
