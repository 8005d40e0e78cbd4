//! image-promoter benchmark against the local stack: handler time and ECR calls per decision
//! (counted by an SDK interceptor), for the common case, a replay, and images with thousands of
//! findings; plus the pure decision over 10 000 findings. Prints figures; asserts nothing about
//! time. Run: `tools/stack.py run -- cargo bench -p caretaker-tests --bench promoter`.
#![allow(clippy::unwrap_used, clippy::print_stdout, unreachable_pub, dead_code)]

#[path = "../integration/support.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aws_sdk_ecr::types::{ImageIdentifier, ImageScanningConfiguration};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeSerializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use caretaker_shared::notify::Notifiers;
use chrono::Utc;
use image_promoter::aws::Ecr;
use image_promoter::domain::{Finding, Scan, decide};
use image_promoter::event::{Command, ImageRef};
use image_promoter::policy::{Policy, Severity};
use image_promoter::{Deps, PromoterConfig};

#[derive(Debug, Clone, Default)]
struct Calls(Arc<AtomicUsize>);

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "CountCalls"
    }
    fn read_before_execution(
        &self,
        _: &BeforeSerializationInterceptorContextRef<'_>,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn read_before_attempt(
        &self,
        _: &aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        Ok(())
    }
}

fn stats(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (
        ms(v[v.len() / 2]),
        ms(v[((v.len() as f64 * 0.95) as usize).min(v.len() - 1)]),
    )
}

async fn push(ecr: &aws_sdk_ecr::Client, repo: &str, tag: &str) -> String {
    let salt = uuid::Uuid::new_v4().simple().to_string();
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{salt}{salt}")},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": format!("sha256:{salt}{salt}")}]});
    let out = ecr
        .put_image()
        .repository_name(repo)
        .image_manifest(manifest.to_string())
        .image_tag(tag)
        .send()
        .await
        .unwrap();
    out.image.unwrap().image_id.unwrap().image_digest.unwrap()
}

async fn queue(ecr: &aws_sdk_ecr::Client, account: &str, repo: &str, digest: &str, n: usize) {
    ecr.start_image_scan()
        .repository_name(repo)
        .image_id(ImageIdentifier::builder().image_digest(digest).build())
        .send()
        .await
        .unwrap();
    let findings: Vec<_> = (0..n)
        .map(|i| serde_json::json!({"name": format!("CVE-2026-{i:05}"), "severity": if i % 3 == 0 { "LOW" } else { "MEDIUM" },
            "attributes": [{"key": "package_name", "value": format!("pkg{i}")}, {"key": "package_version", "value": "1.0"}]}))
        .collect();
    let result = serde_json::json!({"repositoryName": repo, "imageId": {"imageDigest": digest},
        "imageScanStatus": {"status": "COMPLETE", "description": "ok"}, "imageScanFindings": {"findings": findings}});
    let url = format!(
        "{}/moto-api/static/ecr/scan-finding-results",
        support::stack_var("AWS_ENDPOINT_URL")
    );
    reqwest::Client::new()
        .post(url)
        .json(
            &serde_json::json!({"results": [result], "account_id": account, "region": "us-east-1"}),
        )
        .send()
        .await
        .unwrap();
}

#[tokio::main]
async fn main() {
    let account = support::fresh_account();
    let sdk = support::config_in(&account).await;
    let calls = Calls::default();
    let client = aws_sdk_ecr::Client::from_conf(
        aws_sdk_ecr::config::Builder::from(&sdk)
            .interceptor(calls.clone())
            .build(),
    );
    client
        .create_repository()
        .repository_name("backend")
        .image_scanning_configuration(
            ImageScanningConfiguration::builder()
                .scan_on_push(true)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let vars: &[(&str, &str)] = &[];
    let deps = Deps {
        ecr: Ecr::new(client.clone()),
        ssm: aws_sdk_ssm::Client::new(&sdk),
        notifiers: Notifiers::none(),
        config: PromoterConfig::from_env(&vars).unwrap(),
    };
    // As a scan event says it: the digest and its tags.
    let eval = |digest: String, tag: String| Command::Evaluate {
        repository: "backend".into(),
        image: ImageRef::Digest(digest),
        tags: vec![tag],
        trigger: "bench",
        dry_run: false,
    };

    println!(
        "image-promoter benchmark (local moto; debug figures are not comparable with release)"
    );
    for (label, findings, n) in [
        ("common case (3 findings)", 3usize, 40usize),
        ("1 000 findings", 1000, 5),
        ("5 000 findings", 5000, 3),
    ] {
        let mut digests = Vec::new();
        for i in 0..n {
            let tag = format!("sha-{:07x}", (findings * 1000 + i) & 0xfffffff);
            let d = push(&client, "backend", &tag).await;
            queue(&client, &account, "backend", &d, findings).await;
            digests.push((d, tag));
        }
        for (phase, _) in [
            ("first decision (promotes)", 0),
            ("replay (already promoted)", 1),
        ] {
            let mut times = Vec::new();
            let before = calls.0.load(Ordering::Relaxed);
            for (d, tag) in &digests {
                let t = Instant::now();
                let r =
                    image_promoter::handler::run(&deps, eval(d.clone(), tag.clone()), Utc::now())
                        .await;
                times.push(t.elapsed());
                assert_eq!(r.totals.failed, 0, "{r:?}");
            }
            let per = (calls.0.load(Ordering::Relaxed) - before) as f64 / digests.len() as f64;
            let (med, p95) = stats(times);
            println!(
                "  {label:<26} {phase:<27} {per:>4.1} ECR calls/decision   median {med:7.1} ms   p95 {p95:7.1} ms"
            );
        }
    }

    let policy = Policy::parse(&format!(
        r#"{{"version":"b","defaults":{{"max":{{"CRITICAL":0,"HIGH":0}}}},"waivers":[{}]}}"#,
        (0..100)
            .map(|i| format!(r#"{{"cve":"CVE-2026-{i:05}","reason":"r","expires":"2099-01-01"}}"#))
            .collect::<Vec<_>>()
            .join(",")
    ))
    .unwrap();
    let findings: Vec<Finding> = (0..10_000)
        .map(|i| Finding {
            id: format!("CVE-2026-{i:05}"),
            severity: if i % 2 == 0 {
                Severity::Medium
            } else {
                Severity::High
            },
            package: Some(format!("pkg{i}")),
            installed: Some("1".into()),
            fixed: None,
            fix_available: Some(true),
            first_observed: None,
        })
        .collect();
    let scan = Scan::Complete(findings);
    let now = Utc::now();
    let t = Instant::now();
    let rounds = 20;
    for _ in 0..rounds {
        std::hint::black_box(decide(&scan, &policy, "backend", now.date_naive(), now));
    }
    println!(
        "  pure decision, 10 000 findings x 100 waivers: {:.2} ms per decision",
        t.elapsed().as_secs_f64() * 1000.0 / rounds as f64
    );
    println!(
        "  peak memory of the benchmark process (VmHWM): {:.1} MiB",
        support::vm_hwm_mib()
    );
}
