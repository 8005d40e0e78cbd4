//! image-promoter against moto's ECR, with scan findings queued per digest through moto's API
//! (moto does not simulate scan on push, and its digests are not sha256 of the manifest).

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration, ImageTagMutability};
use caretaker_shared::notify::{Notifiers, SnsSink};
use caretaker_shared::report::{Outcome, RunReport};
use chrono::Utc;
use image_promoter::event::{Command, ImageRef};
use image_promoter::handler::run;
use image_promoter::{Deps, PromoterConfig};

use std::sync::{Arc, Mutex};

use crate::support::*;

const DOCKER_V2: &str = "application/vnd.docker.distribution.manifest.v2+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";

pub struct Fx {
    pub account: String,
    pub sdk: aws_config::SdkConfig,
    pub ecr: aws_sdk_ecr::Client,
    pub deps: Deps,
    pub queue: String,
}

impl Fx {
    pub async fn new(policy_file: Option<&str>) -> Self {
        let account = fresh_account();
        let sdk = config_in(&account).await;
        let (sns, topic, queue) = alert_topic(&sdk).await;
        let vars: &[(&str, &str)] = &[];
        let mut config = PromoterConfig::from_env(&vars).unwrap();
        config.policy_file = policy_file.map(str::to_owned);
        let notifiers = Notifiers::new(vec![Box::new(SnsSink::new(sns, &topic))]);
        let deps = Deps::new(&sdk, config, notifiers);
        Fx {
            account,
            ecr: aws_sdk_ecr::Client::new(&sdk),
            sdk,
            deps,
            queue,
        }
    }

    pub async fn repo(&self, name: &str, scan_on_push: bool, immutable: bool) {
        self.ecr
            .create_repository()
            .repository_name(name)
            .image_scanning_configuration(
                ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push)
                    .build(),
            )
            .image_tag_mutability(if immutable {
                ImageTagMutability::Immutable
            } else {
                ImageTagMutability::Mutable
            })
            .send()
            .await
            .unwrap();
    }

    /// Push a manifest with a tag; returns the digest ECR gave it.
    pub async fn push(&self, repo: &str, tag: &str, media_type: &str) -> String {
        let salt = uuid::Uuid::new_v4().simple().to_string();
        let manifest = if media_type == OCI_INDEX {
            serde_json::json!({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1000, "digest": format!("sha256:{salt}{salt}"), "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "size": 1001, "digest": format!("sha256:{salt}{salt}"), "platform": {"architecture": "arm64", "os": "linux"}}]})
        } else {
            serde_json::json!({"schemaVersion": 2, "mediaType": media_type,
                "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023, "digest": format!("sha256:{salt}{salt}")},
                "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654, "digest": format!("sha256:{salt}{salt}")}]})
        };
        let out = self
            .ecr
            .put_image()
            .repository_name(repo)
            .image_manifest(manifest.to_string())
            .image_manifest_media_type(media_type)
            .image_tag(tag)
            .send()
            .await
            .unwrap();
        out.image.unwrap().image_id.unwrap().image_digest.unwrap()
    }

    /// What ECR's scanner would report for this digest.
    pub async fn findings(
        &self,
        repo: &str,
        digest: &str,
        status: &str,
        findings: serde_json::Value,
    ) {
        self.ecr
            .start_image_scan()
            .repository_name(repo)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .unwrap();
        let result = serde_json::json!({
            "registryId": self.account, "repositoryName": repo, "imageId": {"imageDigest": digest},
            "imageScanStatus": {"status": status, "description": "queued by the test"},
            "imageScanFindings": findings,
        });
        let url = format!(
            "{}/moto-api/static/ecr/scan-finding-results",
            stack_var("AWS_ENDPOINT_URL")
        );
        let resp = reqwest::Client::new()
            .post(url)
            .json(&serde_json::json!({"results": [result], "account_id": self.account, "region": "us-east-1"}))
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success());
    }

    pub async fn tags_of(&self, repo: &str, digest: &str) -> Vec<String> {
        let out = self
            .ecr
            .describe_images()
            .repository_name(repo)
            .image_ids(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .unwrap();
        let mut tags = out.image_details.unwrap()[0]
            .image_tags
            .clone()
            .unwrap_or_default();
        tags.sort();
        tags
    }

    pub async fn evaluate(&self, repo: &str, digest: &str) -> RunReport {
        let cmd = Command::Evaluate {
            repository: repo.into(),
            image: ImageRef::Digest(digest.into()),
            tags: Vec::new(),
            trigger: "basic scan",
            dry_run: false,
        };
        run(&self.deps, cmd, Utc::now()).await
    }

    /// A repository that scans on push, and an image in it with a complete basic scan.
    pub async fn scanned(&self, tag: &str, findings: &[(&str, &str, &str)]) -> String {
        self.repo("backend", true, false).await;
        let digest = self.push("backend", tag, DOCKER_V2).await;
        self.findings("backend", &digest, "COMPLETE", basic(findings))
            .await;
        digest
    }

    pub async fn messages(&self) -> Vec<String> {
        drain(&self.sdk, &self.queue).await
    }
}

pub fn basic(findings: &[(&str, &str, &str)]) -> serde_json::Value {
    serde_json::json!({
        "findings": findings.iter().map(|(cve, sev, pkg)| serde_json::json!({
            "name": cve, "severity": sev,
            "attributes": [{"key": "package_name", "value": pkg}, {"key": "package_version", "value": "1.2.3"}]
        })).collect::<Vec<_>>(),
    })
}

fn enhanced(cve: &str, sev: &str, pkg: &str, fixed: &str) -> serde_json::Value {
    serde_json::json!({"enhancedFindings": [{
        "awsAccountId": "123456789012", "severity": sev, "status": "ACTIVE", "fixAvailable": "YES",
        "firstObservedAt": "2026-11-01T00:00:00Z", "title": format!("{cve} - {pkg}"),
        "packageVulnerabilityDetails": {"vulnerabilityId": cve, "source": "NVD",
            "vulnerablePackages": [{"name": pkg, "version": "1.0.0", "fixedInVersion": fixed}]}
    }]})
}

fn outcome(r: &RunReport) -> &Outcome {
    &r.resources[0].outcome
}

#[tokio::test]
async fn clean_image_is_promoted_and_a_replay_changes_nothing() {
    let fx = Fx::new(None).await;
    fx.repo("backend", true, false).await;
    let digest = fx.push("backend", "sha-4f2a9c1", DOCKER_V2).await;
    fx.findings(
        "backend",
        &digest,
        "COMPLETE",
        basic(&[("CVE-2026-0001", "MEDIUM", "libxml2")]),
    )
    .await;

    let r = fx.evaluate("backend", &digest).await;
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-4f2a9c1"),
        "{r:?}"
    );
    assert_eq!(
        fx.tags_of("backend", &digest).await,
        vec!["prod-4f2a9c1", "sha-4f2a9c1"]
    );
    let msgs = fx.messages().await;
    assert_eq!(msgs.len(), 1);
    assert!(
        msgs[0].contains("Promoted backend:sha-4f2a9c1 to prod-4f2a9c1"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("Policy: 2026-11-28.1"));

    let again = fx.evaluate("backend", &digest).await;
    assert_eq!(outcome(&again), &Outcome::Unchanged);
    assert!(fx.messages().await.is_empty(), "a replay notifies nothing");
}

#[tokio::test]
async fn critical_finding_blocks_and_the_message_names_it() {
    let fx = Fx::new(None).await;
    fx.repo("frontend", true, false).await;
    let digest = fx.push("frontend", "v1.4.0", DOCKER_V2).await;
    fx.findings(
        "frontend",
        &digest,
        "COMPLETE",
        basic(&[
            ("CVE-2026-31337", "CRITICAL", "openssl"),
            ("CVE-2026-0002", "LOW", "zlib"),
        ]),
    )
    .await;

    let r = fx.evaluate("frontend", &digest).await;
    assert!(
        matches!(outcome(&r), Outcome::Skipped { reason } if reason.contains("1 CRITICAL finding(s), policy allows 0")),
        "{r:?}"
    );
    assert_eq!(fx.tags_of("frontend", &digest).await, vec!["v1.4.0"]);
    let msgs = fx.messages().await;
    assert!(msgs[0].contains("Blocked frontend:v1.4.0"), "{}", msgs[0]);
    assert!(
        msgs[0].contains("CVE-2026-31337: CRITICAL in openssl 1.2.3"),
        "{}",
        msgs[0]
    );
    assert!(msgs[0].contains("What to do:"));
}

async fn waiver_case(expires: &str) -> (Fx, String, RunReport) {
    let dir = std::env::temp_dir().join(format!("policy-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&dir, format!(r#"{{"version":"w1","defaults":{{"max":{{"CRITICAL":0,"HIGH":0}}}},
        "waivers":[{{"cve":"CVE-2026-4242","package":"glibc","reason":"not reachable from the app","expires":"{expires}"}},
                   {{"cve":"CVE-2019-0001","reason":"old base image","expires":"2027-06-30"}}]}}"#)).unwrap();
    let fx = Fx::new(dir.to_str()).await;
    fx.repo("backend", true, false).await;
    let digest = fx.push("backend", "sha-aaaaaaa", DOCKER_V2).await;
    fx.findings(
        "backend",
        &digest,
        "ACTIVE",
        enhanced("CVE-2026-4242", "HIGH", "glibc", "2.36-9+deb12u9"),
    )
    .await;
    let r = fx.evaluate("backend", &digest).await;
    std::fs::remove_file(dir).unwrap();
    (fx, digest, r)
}

#[tokio::test]
async fn high_waived_by_a_valid_waiver_is_promoted_and_the_stale_waiver_reported() {
    let (fx, digest, r) = waiver_case("2099-01-01").await;
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-aaaaaaa"),
        "{r:?}"
    );
    assert_eq!(
        r.resources[0].details["staleWaivers"][0],
        "CVE-2019-0001 matches no finding"
    );
    assert!(
        fx.tags_of("backend", &digest)
            .await
            .contains(&"prod-aaaaaaa".to_owned())
    );
    let msgs = fx.messages().await;
    assert!(
        msgs[0].contains("Stale waivers: CVE-2019-0001 matches no finding"),
        "{}",
        msgs[0]
    );
}

#[tokio::test]
async fn the_same_high_with_an_expired_waiver_is_blocked() {
    let (fx, digest, r) = waiver_case("2020-01-01").await;
    assert!(
        matches!(outcome(&r), Outcome::Skipped { reason } if reason.contains("1 HIGH")),
        "{r:?}"
    );
    assert_eq!(
        r.resources[0].details["expiredWaivers"][0],
        "CVE-2026-4242 expired 2020-01-01"
    );
    assert_eq!(fx.tags_of("backend", &digest).await, vec!["sha-aaaaaaa"]);
    let msgs = fx.messages().await;
    assert!(msgs[0].contains("fixed in 2.36-9+deb12u9"), "{}", msgs[0]);
}

#[tokio::test]
async fn failed_scan_missing_scan_and_unreadable_policy_fail_closed() {
    let fx = Fx::new(None).await;
    fx.repo("backend", false, false).await;
    let failed = fx.push("backend", "sha-bbbbbbb", DOCKER_V2).await;
    fx.findings("backend", &failed, "FAILED", serde_json::json!({}))
        .await;
    let r = fx.evaluate("backend", &failed).await;
    assert!(
        matches!(outcome(&r), Outcome::Skipped { reason } if reason.contains("scan status FAILED")),
        "{r:?}"
    );

    let unscanned = fx.push("backend", "sha-ccccccc", DOCKER_V2).await;
    let r = fx.evaluate("backend", &unscanned).await;
    assert!(
        matches!(outcome(&r), Outcome::Skipped { reason } if reason.contains("no scan")),
        "{r:?}"
    );

    let bad = std::env::temp_dir().join(format!("policy-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(
        &bad,
        r#"{"version": "x", "defaults": {"max": {"CRITICAL": "zero"}}}"#,
    )
    .unwrap();
    let fx2 = Fx::new(bad.to_str()).await;
    fx2.repo("backend", true, false).await;
    let clean = fx2.push("backend", "sha-ddddddd", DOCKER_V2).await;
    fx2.findings("backend", &clean, "COMPLETE", basic(&[]))
        .await;
    let r = fx2.evaluate("backend", &clean).await;
    assert!(
        matches!(outcome(&r), Outcome::Failed { error } if error.contains("policy unreadable")),
        "{r:?}"
    );
    assert_eq!(fx2.tags_of("backend", &clean).await, vec!["sha-ddddddd"]);
    assert!(fx2.messages().await[0].contains("[CRITICAL] Could not decide"));
    std::fs::remove_file(bad).unwrap();
    for d in [&failed, &unscanned] {
        assert_eq!(fx.tags_of("backend", d).await.len(), 1, "nothing promoted");
    }
}

#[tokio::test]
async fn multi_arch_index_is_promoted_as_the_index() {
    let fx = Fx::new(None).await;
    fx.repo("backend", true, false).await;
    let digest = fx.push("backend", "v2.0.0", OCI_INDEX).await;
    fx.findings("backend", &digest, "COMPLETE", basic(&[]))
        .await;
    let r = fx.evaluate("backend", &digest).await;
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-v2.0.0"),
        "{r:?}"
    );
    let got = fx
        .ecr
        .batch_get_image()
        .repository_name("backend")
        .image_ids(ImageIdentifier::builder().image_tag("prod-v2.0.0").build())
        .send()
        .await
        .unwrap();
    let image = &got.images.unwrap()[0];
    assert_eq!(
        image.image_id.as_ref().unwrap().image_digest.as_deref(),
        Some(digest.as_str())
    );
    assert_eq!(image.image_manifest_media_type.as_deref(), Some(OCI_INDEX));
    assert!(image.image_manifest.as_ref().unwrap().contains("arm64"));
}

#[tokio::test]
async fn a_production_tag_on_another_digest_is_never_moved() {
    for immutable in [true, false] {
        let fx = Fx::new(None).await;
        fx.repo("backend", true, immutable).await;
        let older = fx.push("backend", "prod-1234567", DOCKER_V2).await;
        let digest = fx.push("backend", "sha-1234567", DOCKER_V2).await;
        fx.findings("backend", &digest, "COMPLETE", basic(&[]))
            .await;
        let r = fx.evaluate("backend", &digest).await;
        assert!(
            matches!(outcome(&r), Outcome::Failed { error } if error.contains("never moved")),
            "{r:?}"
        );
        assert_eq!(
            fx.tags_of("backend", &older).await,
            vec!["prod-1234567"],
            "the tag stayed where it was"
        );
    }
}

#[tokio::test]
async fn push_to_a_repository_without_scan_on_push_starts_the_scan() {
    let fx = Fx::new(None).await;
    fx.repo("backend", false, false).await;
    let digest = fx.push("backend", "sha-eeeeeee", DOCKER_V2).await;
    let cmd = Command::Pushed {
        repository: "backend".into(),
        digest: digest.clone(),
        tag: Some("sha-eeeeeee".into()),
        dry_run: false,
    };
    let r = run(&fx.deps, cmd, Utc::now()).await;
    assert!(
        matches!(outcome(&r), Outcome::Changed { action } if action.contains("started image scan")),
        "{r:?}"
    );
    // The scan now exists: findings can be read.
    fx.ecr
        .describe_image_scan_findings()
        .repository_name("backend")
        .image_id(ImageIdentifier::builder().image_digest(&digest).build())
        .send()
        .await
        .expect("a scan was started");
}

#[tokio::test]
async fn push_after_a_finished_scan_decides_at_once_and_own_tags_are_ignored() {
    let fx = Fx::new(None).await;
    fx.repo("backend", true, false).await;
    let digest = fx.push("backend", "sha-fffffff", DOCKER_V2).await;
    fx.findings("backend", &digest, "COMPLETE", basic(&[]))
        .await;
    let push = serde_json::json!({"version": "0", "id": "e1", "detail-type": "ECR Image Action", "source": "aws.ecr",
        "account": fx.account, "time": "2026-11-28T10:00:00Z", "region": "us-east-1", "resources": [],
        "detail": {"result": "SUCCESS", "repository-name": "backend", "image-digest": digest, "action-type": "PUSH", "image-tag": "sha-fffffff"}});
    let r = run(
        &fx.deps,
        image_promoter::event::parse(push.clone()).unwrap(),
        Utc::now(),
    )
    .await;
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-fffffff"),
        "{r:?}"
    );

    let mut own = push;
    own["detail"]["image-tag"] = "prod-fffffff".into();
    let r = run(
        &fx.deps,
        image_promoter::event::parse(own).unwrap(),
        Utc::now(),
    )
    .await;
    assert!(
        matches!(outcome(&r), Outcome::Skipped { reason } if reason.contains("not a source tag")),
        "{r:?}"
    );
}

#[tokio::test]
async fn sweep_decides_scanned_but_undecided_images_and_dry_run_changes_nothing() {
    let fx = Fx::new(None).await;
    fx.repo("backend", true, false).await;
    let a = fx.push("backend", "sha-1111111", DOCKER_V2).await;
    let b = fx.push("backend", "sha-2222222", DOCKER_V2).await;
    fx.findings("backend", &a, "COMPLETE", basic(&[])).await;
    fx.findings(
        "backend",
        &b,
        "COMPLETE",
        basic(&[("CVE-2026-9", "HIGH", "curl")]),
    )
    .await;

    let dry = run(&fx.deps, Command::Sweep { dry_run: true }, Utc::now()).await;
    assert!(
        dry.dry_run && dry.totals.changed == 1 && dry.totals.skipped == 1,
        "{dry:?}"
    );
    assert_eq!(
        fx.tags_of("backend", &a).await,
        vec!["sha-1111111"],
        "dry run tagged nothing"
    );
    assert!(fx.messages().await.is_empty(), "dry run notified nothing");

    let r = run(&fx.deps, Command::Sweep { dry_run: false }, Utc::now()).await;
    assert_eq!((r.totals.changed, r.totals.skipped), (1, 1), "{r:?}");
    assert_eq!(
        fx.tags_of("backend", &a).await,
        vec!["prod-1111111", "sha-1111111"]
    );
    assert_eq!(fx.tags_of("backend", &b).await, vec!["sha-2222222"]);
}

#[tokio::test]
async fn enhanced_scan_event_from_the_events_folder_is_decided_end_to_end() {
    let fx = Fx::new(None).await;
    fx.repo("backend", true, false).await;
    let digest = fx.push("backend", "sha-4f2a9c1", DOCKER_V2).await;
    fx.findings(
        "backend",
        &digest,
        "ACTIVE",
        enhanced("CVE-2026-7777", "MEDIUM", "bash", "5.2.15-2+b2"),
    )
    .await;
    let mut ev: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/image-promoter/enhanced-scan.json"
    ))
    .unwrap();
    ev["detail"]["image-digest"] = digest.clone().into();
    let event = lambda_runtime::LambdaEvent::new(ev.into(), Default::default());
    let r = image_promoter::handler::handle(event, &fx.deps)
        .await
        .unwrap();
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-4f2a9c1"),
        "{r:?}"
    );
    assert_eq!(
        r.correlation_id.as_deref(),
        Some("4f2fd7b2-8e2f-a0b3-3f1e-1b5e3a2f9c10")
    );

    let bad: serde_json::Value = serde_json::from_str(include_str!(
        "../../events/image-promoter/bad-scan-without-digest.json"
    ))
    .unwrap();
    let err = image_promoter::handler::handle(
        lambda_runtime::LambdaEvent::new(bad.into(), Default::default()),
        &fx.deps,
    )
    .await
    .unwrap_err();
    assert!(err.to_string().contains("image-digest"), "{err}");
}

fn instrument(fx: &mut Fx, fail: Option<&'static str>) -> Arc<Mutex<Vec<String>>> {
    let spy = Spy {
        calls: Arc::default(),
        fail,
    };
    let client = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&fx.sdk)
            .interceptor(spy.clone())
            .build(),
    );
    fx.deps.ecr = image_promoter::aws::Ecr::new(client);
    spy.calls
}

fn scan_event(digest: &str, tags: &[&str]) -> serde_json::Value {
    let mut ev: serde_json::Value =
        serde_json::from_str(include_str!("../../events/image-promoter/basic-scan.json")).unwrap();
    ev["detail"]["image-digest"] = digest.into();
    ev["detail"]["image-tags"] = serde_json::json!(tags);
    ev
}

/// The Lambda handler, invoked with a basic scan event for `digest` carrying `tags`.
async fn on_scan(
    fx: &Fx,
    digest: &str,
    tags: &[&str],
) -> Result<RunReport, image_promoter::PromoterError> {
    let event =
        lambda_runtime::LambdaEvent::new(scan_event(digest, tags).into(), Default::default());
    image_promoter::handler::handle(event, &fx.deps).await
}

#[tokio::test]
async fn a_scan_event_promotes_in_three_ecr_calls_and_a_tag_on_another_digest_stays() {
    let mut fx = Fx::new(None).await;
    let digest = fx.scanned("sha-4f2a9c1", &[("CVE-1", "LOW", "zlib")]).await;
    let calls = instrument(&mut fx, None);
    let r = on_scan(&fx, &digest, &["sha-4f2a9c1"]).await.unwrap();
    assert_eq!(
        outcome(&r),
        &Outcome::changed("tagged prod-4f2a9c1"),
        "{r:#?}"
    );
    assert_eq!(
        *calls.lock().unwrap(),
        ["DescribeImageScanFindings", "BatchGetImage", "PutImage"],
        "the common case"
    );
    // Another image whose source tag maps to the same production tag: never moved onto it.
    let other = fx.push("backend", "4f2a9c1", DOCKER_V2).await;
    fx.findings("backend", &other, "COMPLETE", basic(&[])).await;
    calls.lock().unwrap().clear();
    let r = on_scan(&fx, &other, &["4f2a9c1"]).await.unwrap();
    assert!(
        matches!(outcome(&r), Outcome::Failed { error } if error.contains("never moved")),
        "{r:#?}"
    );
    assert_eq!(
        fx.tags_of("backend", &digest).await,
        ["prod-4f2a9c1", "sha-4f2a9c1"]
    );
    assert!(
        !calls.lock().unwrap().iter().any(|c| c == "PutImage"),
        "no write when the tag is elsewhere"
    );
}

#[tokio::test]
async fn an_unreadable_scan_is_a_failure_to_decide_never_a_block() {
    let mut fx = Fx::new(None).await;
    let digest = fx.scanned("sha-5e5e5e5", &[]).await;
    instrument(&mut fx, Some("DescribeImageScanFindings"));
    let err = on_scan(&fx, &digest, &["sha-5e5e5e5"]).await.unwrap_err();
    assert_eq!(
        lambda_runtime::Diagnostic::from(err).error_type,
        "Retryable",
        "the scan event is delivered again"
    );
    // By hand (no retry there): the report says failed, not blocked.
    let r = fx.evaluate("backend", &digest).await;
    assert!(
        matches!(outcome(&r), Outcome::Failed { error } if error.starts_with("could not decide")),
        "{r:#?}"
    );
    assert_eq!((r.totals.failed, r.totals.skipped), (1, 0));
    assert_eq!(
        fx.tags_of("backend", &digest).await,
        ["sha-5e5e5e5"],
        "nothing promoted"
    );
    let msgs = fx.messages().await;
    assert!(
        !msgs.is_empty()
            && msgs
                .iter()
                .all(|m| m.contains("Could not decide") && !m.contains("Blocked")),
        "{msgs:?}"
    );
}

#[tokio::test]
async fn malformed_identifiers_in_a_manual_request_are_bad_input() {
    let fx = Fx::new(None).await;
    for payload in [
        serde_json::json!({"repository": "backend", "digest": "sha256:abc"}),
        serde_json::json!({"repository": "../etc", "tag": "v1"}),
    ] {
        let err = image_promoter::handler::handle(
            lambda_runtime::LambdaEvent::new(payload.into(), Default::default()),
            &fx.deps,
        )
        .await
        .unwrap_err();
        assert_invalid_input(err, "");
    }
}
