//! One image decided: its tags → the scan → the policy's decision → the production tag (never
//! moved once set) → report and notification.

use caretaker_shared::report::{Outcome, RunReport};
use tracing::{info, warn};

use super::{Ctx, KIND};
use crate::aws::{ImageInfo, ScanState, TargetState};
use crate::domain::{Decision, Scan, decide};
use crate::event::ImageRef;
use crate::messages::{blocked_note, error_note, promoted_note};

impl Ctx<'_> {
    pub(super) async fn evaluate(
        &self,
        report: &mut RunReport,
        repository: &str,
        image: &ImageRef,
        known_tags: &[String],
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
        // The event already says which tags the digest has: no DescribeImages needed.
        let known = match image {
            ImageRef::Digest(d) if !known_tags.is_empty() => Some(ImageInfo {
                digest: d.clone(),
                tags: known_tags.to_vec(),
            }),
            _ => None,
        };
        let described = match known {
            Some(i) => Ok(Some(i)),
            None => deps.ecr.image(repository, image).await,
        };
        let info = match described {
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
                let retryable = caretaker_shared::error::Classify::kind(&e)
                    == caretaker_shared::ErrorKind::Retryable;
                report
                    .record(KIND, &id, Outcome::failed(msg.clone()))
                    .detail("retryable", retryable);
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
        let outcomes = self.promote(repository, &info, &sources).await;
        for ((source, target), outcome) in sources.iter().zip(outcomes) {
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

    /// Give the image each of its production tags: one `BatchGetImage` reads the manifest and
    /// where every target tag stands, then one `PutImage` per tag to add. A tag already on this
    /// digest is success; one on another digest is never moved (mutable repository or not).
    async fn promote(
        &self,
        repository: &str,
        info: &ImageInfo,
        sources: &[(String, String)],
    ) -> Vec<Outcome> {
        let ecr = &self.deps.ecr;
        let digest = info.digest.as_str();
        let missing: Vec<String> = sources
            .iter()
            .map(|(_, t)| t.clone())
            .filter(|t| !info.tags.contains(t))
            .collect();
        let read = if missing.is_empty() {
            None
        } else {
            Some(ecr.target_states(repository, digest, &missing).await)
        };
        let mut out = Vec::with_capacity(sources.len());
        for (_, target) in sources {
            if info.tags.contains(target) {
                out.push(Outcome::Unchanged);
                continue;
            }
            let outcome = match &read {
                None | Some(Err(_)) => Outcome::failed(match &read {
                    Some(Err(e)) => e.to_string(),
                    _ => "no answer".to_owned(),
                }),
                Some(Ok(states)) => match states.targets.get(target) {
                    Some(TargetState::OnThis) => Outcome::Unchanged,
                    Some(TargetState::OnOther(other)) => Outcome::failed(format!(
                        "tag {target} already points at {other} in {repository}; a production tag is never moved"
                    )),
                    None | Some(TargetState::Free) if self.dry_run => {
                        Outcome::changed(format!("tag {target}"))
                    }
                    None | Some(TargetState::Free) => match &states.manifest {
                        None => Outcome::failed(format!(
                            "image {digest} has no manifest in {repository}"
                        )),
                        Some(m) => match ecr.put_tag(repository, digest, m, target).await {
                            Ok(true) => Outcome::changed(format!("tagged {target}")),
                            Ok(false) => Outcome::Unchanged,
                            Err(e) => Outcome::failed(e.to_string()),
                        },
                    },
                },
            };
            out.push(outcome);
        }
        out
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
