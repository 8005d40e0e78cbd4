//! One image decided: its tags → the scan → the policy's decision → the production tag (never
//! moved once set) → report and notification.

use caretaker_shared::report::{Outcome, RunReport};
use tracing::{info, warn};

use super::{Ctx, KIND};
use crate::aws::ScanState;
use crate::domain::{Decision, Scan, decide};
use crate::event::ImageRef;
use crate::messages::{blocked_note, error_note, promoted_note};

impl Ctx<'_> {
    pub(super) async fn evaluate(
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
