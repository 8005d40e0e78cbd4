//! The hourly sweep: every image with a source tag but no production tag is decided again
//! (up to `SWEEP_LIMIT` a run), so a missed event or a failed read is never final.

use caretaker_shared::report::{Outcome, RunReport};
use tracing::warn;

use super::Ctx;
use crate::event::ImageRef;

impl Ctx<'_> {
    pub(super) async fn sweep(&self, report: &mut RunReport) {
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
                self.evaluate(report, &repository, &digest, &image.tags, None, "sweep")
                    .await;
            }
        }
    }
}
