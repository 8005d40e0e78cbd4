//! Orchestration: event → command → decision (`domain`, `policy`) → retag (`aws`) → report and
//! notification (`messages`).
//!
//! Safe to run twice: promotion is keyed by digest. A production tag already on the image is
//! success ("unchanged"); one on another digest is never moved. Everything that is not a
//! complete, readable scan passing a readable policy ends without a promotion; a read that
//! fails is a failure to decide (retried by the sweep), never a verdict on the image.

use caretaker_shared::notify::Notification;
use caretaker_shared::report::{Outcome, RunReport};
use caretaker_shared::telemetry::{self, Invocation};
use chrono::{DateTime, Utc};
use lambda_runtime::LambdaEvent;
use tracing::{info, warn};

use crate::aws::{self, ScanState};
use crate::domain::{Decision, Scan, decide};
use crate::error::PromoterError;
use crate::event::{self, Command, ImageRef};
use crate::messages::{blocked_note, error_note, promoted_note};
use crate::policy::Policy;
use crate::{Deps, FUNCTION};

const KIND: &str = "ecr-image";

pub async fn handle(
    event: LambdaEvent<serde_json::Value>,
    deps: &Deps,
) -> Result<RunReport, PromoterError> {
    let invocation = Invocation::new(
        FUNCTION,
        &event.context,
        telemetry::event_id(&event.payload),
    );
    invocation
        .run(async {
            let cmd = event::parse(event.payload)?;
            Ok(run(deps, cmd, Utc::now()).await)
        })
        .await
}

/// Where the policy comes from: SSM parameter, file, or the bundled default.
pub async fn load_policy(deps: &Deps) -> Result<Policy, String> {
    if let Some(name) = &deps.config.policy_parameter {
        let text = aws::policy_parameter(&deps.ssm, name).await?;
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
    let ctx = Ctx {
        deps,
        policy: load_policy(deps).await,
        dry_run,
        now,
    };
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
            ctx.evaluate(&mut report, &repository, &image, None, trigger)
                .await;
        }
        Command::Pushed {
            repository,
            digest,
            tag,
            ..
        } => {
            ctx.pushed(&mut report, &repository, &digest, tag.as_deref())
                .await;
        }
        Command::Sweep { .. } => ctx.sweep(&mut report).await,
    }
    report.finish()
}

/// One run's context: the dependencies, the policy as read (or why it could not be), dry run
/// and the clock.
struct Ctx<'a> {
    deps: &'a Deps,
    policy: Result<Policy, String>,
    dry_run: bool,
    now: DateTime<Utc>,
}

impl Ctx<'_> {
    fn in_scope(&self, repository: &str) -> bool {
        let repos = &self.deps.config.repositories;
        repos.is_empty() || repos.contains(repository)
    }

    async fn notify(&self, n: Notification) {
        if self.dry_run || self.deps.notifiers.is_empty() {
            return;
        }
        self.deps.notifiers.send(&n).await;
    }

    async fn pushed(
        &self,
        report: &mut RunReport,
        repository: &str,
        digest: &str,
        tag: Option<&str>,
    ) {
        let deps = self.deps;
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
        if !self.in_scope(repository) {
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
        let outcome = match state {
            ScanState::NotStarted => match deps.ecr.settings(repository).await {
                Err(e) => Outcome::failed(e.to_string()),
                Ok(s) if s.scan_on_push => {
                    Outcome::skipped("scan on push will report; its scan event decides")
                }
                Ok(_) if self.dry_run => Outcome::changed("start image scan"),
                Ok(_) => match deps.ecr.start_scan(repository, digest).await {
                    Ok(()) => {
                        Outcome::changed("started image scan (repository does not scan on push)")
                    }
                    Err(e) => Outcome::failed(e.to_string()),
                },
            },
            ScanState::InProgress => Outcome::skipped("scan in progress; its scan event decides"),
            done @ ScanState::Done(_) => {
                let image = ImageRef::Digest(digest.to_owned());
                self.evaluate(report, repository, &image, Some(done), "push")
                    .await;
                return;
            }
        };
        report.record(KIND, &id, outcome);
    }

    async fn evaluate(
        &self,
        report: &mut RunReport,
        repository: &str,
        image: &ImageRef,
        known_scan: Option<ScanState>,
        trigger: &str,
    ) {
        let deps = self.deps;
        let label = match image {
            ImageRef::Digest(d) => format!("{repository}@{d}"),
            ImageRef::Tag(t) => format!("{repository}:{t}"),
        };
        if !self.in_scope(repository) {
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
        let policy = match &self.policy {
            Ok(p) => p,
            Err(why) => {
                let msg = format!("not promoted, policy unreadable: {why}");
                report.record(KIND, &id, Outcome::failed(msg.clone()));
                self.notify(error_note(&display, &info.digest, &msg)).await;
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
            // Not a verdict: the findings could not be read. Fail closed, as a failure.
            Err(e) => {
                let msg = format!("could not decide: findings unreadable: {e}");
                warn!(image = %id, error = %e, "findings unreadable; not promoted");
                report.record(KIND, &id, Outcome::failed(msg.clone()));
                self.notify(error_note(&display, &info.digest, &msg)).await;
                return;
            }
        };
        let decision = decide(&scan, policy, repository, self.now.date_naive(), self.now);
        info!(image = %id, trigger, promote = decision.promote, policy = %policy.version, "decided");
        if !decision.promote {
            let reason = format!("blocked: {}", decision.reasons.join("; "));
            let r = report.record(KIND, &id, Outcome::skipped(reason));
            details(r, &decision, &policy.version, &sources);
            metrics::counter!("ImagesBlocked").increment(1);
            let note = blocked_note(&display, &info.digest, &policy.version, &decision);
            self.notify(note).await;
            return;
        }
        for (source, target) in &sources {
            let outcome = self
                .promote(repository, &info.digest, &info.tags, target)
                .await;
            let promoted = matches!(outcome, Outcome::Changed { .. });
            let failed = match &outcome {
                Outcome::Failed { error } => Some(error.clone()),
                _ => None,
            };
            let r = report.record(KIND, &id, outcome);
            let pair = [(source.clone(), target.clone())];
            details(r, &decision, &policy.version, &pair);
            if promoted {
                metrics::counter!("ImagesPromoted").increment(1);
                let image = format!("{repository}:{source}");
                let note = promoted_note(&image, target, &info.digest, &policy.version, &decision);
                self.notify(note).await;
            } else if let Some(error) = failed {
                self.notify(error_note(&display, &info.digest, &error))
                    .await;
            }
        }
    }

    async fn promote(
        &self,
        repository: &str,
        digest: &str,
        tags: &[String],
        target: &str,
    ) -> Outcome {
        let ecr = &self.deps.ecr;
        if tags.iter().any(|t| t == target) {
            return Outcome::Unchanged;
        }
        // A production tag on another digest is never moved, mutable repository or not.
        match ecr
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
        if self.dry_run {
            return Outcome::changed(format!("tag {target}"));
        }
        match ecr.retag(repository, digest, target).await {
            Ok(true) => Outcome::changed(format!("tagged {target}")),
            Ok(false) => Outcome::Unchanged,
            Err(e) => Outcome::failed(e.to_string()),
        }
    }

    async fn sweep(&self, report: &mut RunReport) {
        let deps = self.deps;
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
                let digest = ImageRef::Digest(image.digest.clone());
                self.evaluate(report, &repository, &digest, None, "sweep")
                    .await;
            }
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
