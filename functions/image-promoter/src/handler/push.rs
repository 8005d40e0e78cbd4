//! A push: decide at once if the scan is done, else make sure one runs.

use caretaker_shared::report::{Outcome, RunReport};

use super::{Ctx, KIND};
use crate::aws::ScanState;
use crate::event::ImageRef;

impl Ctx<'_> {
    pub(super) async fn pushed(
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
                let tags: Vec<String> = tag.into_iter().map(str::to_owned).collect();
                self.evaluate(report, repository, &image, &tags, Some(done), "push")
                    .await;
                return;
            }
        };
        report.record(KIND, &id, outcome);
    }
}
