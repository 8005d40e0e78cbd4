//! Event → command → decision → retag → report and notification.
//!
//! Safe to run twice: promotion is keyed by digest. A production tag already on the image is
//! success ("unchanged"); one on another digest is never moved. Everything that is not a
//! complete, readable scan passing a readable policy ends without a promotion.

use caretaker_shared::notify::{Notification, Severity as Level};
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry;
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use tracing::{info, warn};

use crate::Deps;
use crate::domain::{Decision, Scan, decide};
use crate::ecr::ScanState;
use crate::error::PromoterError;
use crate::event::{self, Command, ImageRef};
use crate::policy::Policy;

const FUNCTION: &str = "image-promoter";
const KIND: &str = "ecr-image";

pub async fn handle(
    event: LambdaEvent<serde_json::Value>,
    deps: &Deps,
) -> Result<RunReport, PromoterError> {
    let correlation = telemetry::event_id(&event.payload)
        .or_else(|| Some(event.context.request_id.clone()).filter(|s| !s.is_empty()));
    telemetry::report_invocation(FUNCTION, correlation.as_deref(), async {
        let cmd = event::parse(event.payload)?;
        Ok(run(deps, cmd, Utc::now())
            .await
            .with_correlation_id(correlation.clone()))
    })
    .await
}

/// Where the policy comes from: SSM parameter, file, or the bundled default.
pub async fn load_policy(deps: &Deps) -> Result<Policy, String> {
    if let Some(name) = &deps.config.policy_parameter {
        let out = deps
            .ssm
            .get_parameter()
            .name(name)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "policy parameter {name} unreadable: {}",
                    caretaker_shared::error::chain(&e)
                )
            })?;
        let text = out
            .parameter
            .and_then(|p| p.value)
            .ok_or_else(|| format!("policy parameter {name} is empty"))?;
        return Policy::parse(&text).map_err(|e| format!("{e} (parameter {name})"));
    }
    if let Some(path) = &deps.config.policy_file {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("policy file {path} unreadable: {e}"))?;
        return Policy::parse(&text).map_err(|e| format!("{e} (file {path})"));
    }
    Ok(Policy::bundled())
}

pub async fn run(deps: &Deps, cmd: Command, now: DateTime<Utc>) -> RunReport {
    let dry_run = deps.config.common.dry_run
        || matches!(
            cmd,
            Command::Evaluate { dry_run: true, .. }
                | Command::Pushed { dry_run: true, .. }
                | Command::Sweep { dry_run: true }
        );
    let action = match &cmd {
        Command::Evaluate { trigger, .. } => format!("evaluate ({trigger})"),
        Command::Pushed { .. } => "push".into(),
        Command::Sweep { .. } => "sweep".into(),
        Command::Ignore { .. } => "ignore".into(),
    };
    let mut report = RunReport::new(FUNCTION, &action, dry_run);
    let policy = load_policy(deps).await;
    match cmd {
        Command::Ignore { reason } => {
            report.record(KIND, "-", Outcome::skipped(reason));
        }
        Command::Evaluate {
            repository,
            image,
            trigger,
            ..
        } => {
            evaluate(
                deps,
                &policy,
                &mut report,
                &repository,
                &image,
                None,
                trigger,
                dry_run,
                now,
            )
            .await;
        }
        Command::Pushed {
            repository,
            digest,
            tag,
            ..
        } => {
            pushed(
                deps,
                &policy,
                &mut report,
                &repository,
                &digest,
                tag.as_deref(),
                dry_run,
                now,
            )
            .await;
        }
        Command::Sweep { .. } => sweep(deps, &policy, &mut report, dry_run, now).await,
    }
    report.finish()
}

fn in_scope(deps: &Deps, repository: &str) -> bool {
    deps.config.repositories.is_empty() || deps.config.repositories.contains(repository)
}

#[allow(clippy::too_many_arguments)]
async fn pushed(
    deps: &Deps,
    policy: &Result<Policy, String>,
    report: &mut RunReport,
    repository: &str,
    digest: &str,
    tag: Option<&str>,
    dry_run: bool,
    now: DateTime<Utc>,
) {
    let id = format!("{repository}@{digest}");
    if let Some(tag) = tag
        && deps.config.tags.target(tag).is_none()
    {
        report.record(
            KIND,
            &id,
            Outcome::skipped(format!("tag {tag} is not a source tag")),
        );
        return;
    }
    if !in_scope(deps, repository) {
        report.record(KIND, &id, Outcome::skipped("repository not in scope"));
        return;
    }
    let state = match deps.ecr.scan(repository, digest).await {
        Ok(s) => s,
        Err(e) => {
            report.record(KIND, &id, Outcome::failed(e.to_string()));
            return;
        }
    };
    match state {
        ScanState::NotStarted => {
            let settings = match deps.ecr.settings(repository).await {
                Ok(s) => s,
                Err(e) => {
                    report.record(KIND, &id, Outcome::failed(e.to_string()));
                    return;
                }
            };
            if settings.scan_on_push {
                report.record(
                    KIND,
                    &id,
                    Outcome::skipped("scan on push will report; its scan event decides"),
                );
            } else if dry_run {
                report.record(KIND, &id, Outcome::changed("start image scan"));
            } else {
                match deps.ecr.start_scan(repository, digest).await {
                    Ok(()) => {
                        report.record(
                            KIND,
                            &id,
                            Outcome::changed(
                                "started image scan (repository does not scan on push)",
                            ),
                        );
                    }
                    Err(e) => {
                        report.record(KIND, &id, Outcome::failed(e.to_string()));
                    }
                }
            }
        }
        ScanState::InProgress => {
            report.record(
                KIND,
                &id,
                Outcome::skipped("scan in progress; its scan event decides"),
            );
        }
        done @ ScanState::Done(_) => {
            evaluate(
                deps,
                policy,
                report,
                repository,
                &ImageRef::Digest(digest.to_owned()),
                Some(done),
                "push",
                dry_run,
                now,
            )
            .await;
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn evaluate(
    deps: &Deps,
    policy: &Result<Policy, String>,
    report: &mut RunReport,
    repository: &str,
    image: &ImageRef,
    known_scan: Option<ScanState>,
    trigger: &str,
    dry_run: bool,
    now: DateTime<Utc>,
) {
    let label = match image {
        ImageRef::Digest(d) => format!("{repository}@{d}"),
        ImageRef::Tag(t) => format!("{repository}:{t}"),
    };
    if !in_scope(deps, repository) {
        report.record(KIND, &label, Outcome::skipped("repository not in scope"));
        return;
    }
    let info = match deps.ecr.image(repository, image).await {
        Ok(Some(i)) => i,
        Ok(None) => {
            report.record(
                KIND,
                &label,
                Outcome::failed(format!("image {label} not found")),
            );
            return;
        }
        Err(e) => {
            report.record(KIND, &label, Outcome::failed(e.to_string()));
            return;
        }
    };
    let id = format!("{repository}@{}", info.digest);
    let sources: Vec<(String, String)> = info
        .tags
        .iter()
        .filter_map(|t| deps.config.tags.target(t).map(|target| (t.clone(), target)))
        .collect();
    if sources.is_empty() {
        report.record(
            KIND,
            &id,
            Outcome::skipped(format!(
                "no tag matches the source pattern (tags: {})",
                info.tags.join(", ")
            )),
        );
        return;
    }
    let display = format!("{repository}:{}", sources[0].0);
    let policy = match policy {
        Ok(p) => p,
        Err(why) => {
            let msg = format!("not promoted, policy unreadable: {why}");
            report.record(KIND, &id, Outcome::failed(msg.clone()));
            notify(deps, dry_run, error_note(&display, &info.digest, &msg)).await;
            return;
        }
    };
    let state = match known_scan {
        Some(s) => Ok(s),
        None => deps.ecr.scan(repository, &info.digest).await,
    };
    let scan = match state {
        Ok(ScanState::Done(scan)) => scan,
        Ok(ScanState::NotStarted) => Scan::NotUsable("the image has no scan".into()),
        Ok(ScanState::InProgress) => {
            report.record(
                KIND,
                &id,
                Outcome::skipped("scan in progress; its scan event decides"),
            );
            return;
        }
        Err(e) => Scan::NotUsable(format!("findings unreadable: {e}")),
    };
    let decision = decide(&scan, policy, repository, now.date_naive(), now);
    info!(image = %id, trigger, promote = decision.promote, policy = %policy.version, "decided");
    if !decision.promote {
        let reason = format!("blocked: {}", decision.reasons.join("; "));
        let r = report.record(KIND, &id, Outcome::skipped(reason.clone()));
        details(r, &decision, &policy.version, &sources);
        metrics::counter!("ImagesBlocked").increment(1);
        notify(
            deps,
            dry_run,
            blocked_note(&display, &info.digest, &policy.version, &decision),
        )
        .await;
        return;
    }
    for (source, target) in &sources {
        let outcome = promote(deps, repository, &info.digest, &info.tags, target, dry_run).await;
        let promoted = matches!(outcome, Outcome::Changed { .. });
        let failed = match &outcome {
            Outcome::Failed { error } => Some(error.clone()),
            _ => None,
        };
        let r = report.record(KIND, &id, outcome);
        details(
            r,
            &decision,
            &policy.version,
            &[(source.clone(), target.clone())],
        );
        if promoted {
            metrics::counter!("ImagesPromoted").increment(1);
            notify(
                deps,
                dry_run,
                promoted_note(
                    &format!("{repository}:{source}"),
                    target,
                    &info.digest,
                    &policy.version,
                    &decision,
                ),
            )
            .await;
        } else if let Some(error) = failed {
            notify(deps, dry_run, error_note(&display, &info.digest, &error)).await;
        }
    }
}

async fn promote(
    deps: &Deps,
    repository: &str,
    digest: &str,
    tags: &[String],
    target: &str,
    dry_run: bool,
) -> Outcome {
    if tags.iter().any(|t| t == target) {
        return Outcome::Unchanged;
    }
    // A production tag on another digest is never moved, mutable repository or not.
    match deps
        .ecr
        .image(repository, &ImageRef::Tag(target.to_owned()))
        .await
    {
        Ok(Some(other)) if other.digest != digest => {
            return Outcome::failed(format!(
                "tag {target} already points at {} in {repository}; a production tag is never moved",
                other.digest
            ));
        }
        Ok(Some(_)) => return Outcome::Unchanged,
        Ok(None) => {}
        Err(e) => return Outcome::failed(e.to_string()),
    }
    if dry_run {
        return Outcome::changed(format!("tag {target}"));
    }
    match deps.ecr.retag(repository, digest, target).await {
        Ok(true) => Outcome::changed(format!("tagged {target}")),
        Ok(false) => Outcome::Unchanged,
        Err(e) => Outcome::failed(e.to_string()),
    }
}

async fn sweep(
    deps: &Deps,
    policy: &Result<Policy, String>,
    report: &mut RunReport,
    dry_run: bool,
    now: DateTime<Utc>,
) {
    let repositories = if deps.config.repositories.is_empty() {
        match deps.ecr.repositories().await {
            Ok(r) => r,
            Err(e) => {
                report.record("ecr-registry", "-", Outcome::failed(e.to_string()));
                return;
            }
        }
    } else {
        deps.config.repositories.iter().cloned().collect()
    };
    let mut budget = deps.config.sweep_limit;
    for repository in repositories {
        let images = match deps.ecr.list(&repository).await {
            Ok(i) => i,
            Err(e) => {
                report.record(
                    "ecr-repository",
                    &repository,
                    Outcome::failed(e.to_string()),
                );
                continue;
            }
        };
        for image in images {
            let undecided = image
                .tags
                .iter()
                .filter_map(|t| deps.config.tags.target(t))
                .any(|target| !image.tags.contains(&target));
            if !undecided {
                continue;
            }
            if budget == 0 {
                warn!("sweep limit reached; the next sweep continues");
                return;
            }
            budget -= 1;
            evaluate(
                deps,
                policy,
                report,
                &repository,
                &ImageRef::Digest(image.digest.clone()),
                None,
                "sweep",
                dry_run,
                now,
            )
            .await;
        }
    }
}

fn details(
    r: &mut caretaker_shared::ResourceResult,
    d: &Decision,
    policy_version: &str,
    tags: &[(String, String)],
) {
    r.detail("policyVersion", policy_version);
    r.detail(
        "tags",
        tags.iter()
            .map(|(s, t)| format!("{s} -> {t}"))
            .collect::<Vec<_>>(),
    );
    r.detail(
        "counts",
        d.counts
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), *v))
            .collect::<std::collections::BTreeMap<_, _>>(),
    );
    if !d.blocking.is_empty() {
        r.detail("topBlocking", d.blocking.iter().take(5).collect::<Vec<_>>());
    }
    for (key, list) in [
        ("waived", &d.waived),
        ("expiredWaivers", &d.expired_waivers),
        ("staleWaivers", &d.stale_waivers),
        ("inGrace", &d.in_grace),
    ] {
        if !list.is_empty() {
            r.detail(key, list);
        }
    }
}

async fn notify(deps: &Deps, dry_run: bool, n: Notification) {
    if dry_run || deps.notifiers.is_empty() {
        return;
    }
    deps.notifiers.send(&n).await;
}

fn counts_line(d: &Decision) -> String {
    if d.counts.is_empty() {
        return "none".into();
    }
    d.counts
        .iter()
        .map(|(k, v)| format!("{v} {}", k.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn waiver_facts(mut n: Notification, d: &Decision) -> Notification {
    if !d.expired_waivers.is_empty() {
        n = n.fact("Expired waivers", d.expired_waivers.join("; "));
    }
    if !d.stale_waivers.is_empty() {
        n = n.fact("Stale waivers", d.stale_waivers.join("; "));
    }
    n
}

fn promoted_note(
    image: &str,
    target: &str,
    digest: &str,
    policy: &str,
    d: &Decision,
) -> Notification {
    let n = Notification::new(Level::Info, format!("Promoted {image} to {target}"))
        .fact("Digest", digest)
        .fact("Policy", policy)
        .fact("Findings", counts_line(d));
    let n = if d.waived.is_empty() {
        n
    } else {
        n.fact("Waived", d.waived.join("; "))
    };
    waiver_facts(n, d)
}

fn blocked_note(image: &str, digest: &str, policy: &str, d: &Decision) -> Notification {
    let mut n = Notification::new(
        Level::Warning,
        format!("Blocked {image}: not promoted to production"),
    )
    .fact("Why", d.reasons.join("; "))
    .fact("Digest", digest)
    .fact("Policy", policy)
    .fact("Findings", counts_line(d));
    for f in d.blocking.iter().take(5) {
        n = n.fact(
            f.id.clone(),
            format!(
                "{} in {} {} ({})",
                f.severity.as_str(),
                f.package.as_deref().unwrap_or("?"),
                f.installed.as_deref().unwrap_or("?"),
                f.fixed.as_deref().map_or_else(
                    || "no fixed version known".to_owned(),
                    |v| format!("fixed in {v}")
                )
            ),
        );
    }
    waiver_facts(n, d).action("Upgrade the packages above and push a new build, or add a waiver with a reason and an expiry date to the policy.")
}

fn error_note(image: &str, digest: &str, error: &str) -> Notification {
    Notification::new(
        Level::Critical,
        format!("Could not decide {image}: not promoted"),
    )
    .fact("Digest", digest)
    .fact("Error", error)
    .action(
        "Fix the cause, then re-evaluate: invoke image-promoter with {\"repository\", \"digest\"}.",
    )
}
