//! The node group layer: managed node groups scaled to zero with their size remembered in a
//! cluster tag, and back.

use caretaker_shared::report::{Outcome, RunReport};
use futures::StreamExt;

use super::Layer;
use crate::domain::{self, Class, Decision, NgStep, Sizes};
use crate::eks::{self, Cluster};
use crate::ready::Readiness;

impl Layer<'_> {
    /// Managed node groups of every cluster, `AWS_CONCURRENCY` at a time. Each one's state after
    /// the run goes into `ready` (one just scaled is `UPDATING`, as EKS has it for minutes).
    pub(super) async fn nodegroups(
        &self,
        clusters: &[Cluster],
        report: &mut RunReport,
        ready: &mut Readiness,
    ) {
        for cluster in clusters {
            let listed = match eks::nodegroups(&self.eks, cluster).await {
                Ok(l) => l,
                Err(e) => {
                    report
                        .record("eks-cluster", &cluster.name, Outcome::failed(e.to_string()))
                        .in_account(self.account());
                    continue;
                }
            };
            type Done = (
                String,
                Outcome,
                Option<(Sizes, String, Option<(Decision, Class)>)>,
                Vec<String>,
            );
            let outcomes: Vec<Done> = futures::stream::iter(listed)
                .map(|ng| async move {
                    match ng {
                        Err((id, e)) => (id, Outcome::failed(e.to_string()), None, Vec::new()),
                        Ok(ng) => match self.decider.decide(&ng.tags) {
                            Err(outcome) => (
                                ng.id(),
                                outcome,
                                Some((ng.sizes, ng.status.clone(), None)),
                                ng.instance_types.clone(),
                            ),
                            Ok(d) => {
                                let outcome = self.nodegroup(cluster, &ng, d.up).await;
                                let key = format!("eks-nodegroup/{}", ng.id());
                                let class = self.decider.classify(&key, &d, &outcome);
                                let decided = Some((d, class));
                                (
                                    ng.id(),
                                    outcome,
                                    Some((ng.sizes, ng.status.clone(), decided)),
                                    ng.instance_types.clone(),
                                )
                            }
                        },
                    }
                })
                .buffered(self.deps.config.aws_concurrency)
                .collect()
                .await;
            let region = self.region();
            for (id, outcome, sizes, types) in outcomes {
                let changed = matches!(outcome, Outcome::Changed { .. });
                if let Some((s, status, _)) = &sizes {
                    match outcome {
                        Outcome::Changed { .. } => ready.nodegroup(&id, "UPDATING", s.desired),
                        _ => ready.nodegroup(&id, status, s.desired),
                    }
                }
                let r = report
                    .record("eks-nodegroup", &id, outcome)
                    .in_account(self.account());
                if let Some((s, _, decided)) = sizes {
                    r.detail("size", s.encode());
                    // What its nodes bill an hour while up (the savings ledger).
                    if changed
                        && s.desired > 0
                        && let Some(t) = types.first()
                    {
                        r.detail(
                            "sizing",
                            crate::ledger::Sizing::Nodes {
                                instance_type: t.clone(),
                                count: s.desired.unsigned_abs(),
                                region: region.clone(),
                            },
                        );
                    }
                    if let Some((d, class)) = decided {
                        r.detail("why", d.why)
                            .detail("desired", if d.up { "up" } else { "down" });
                        match class {
                            Class::Drift => r.detail("drift", true),
                            Class::Pending => r.detail("pending", true),
                            Class::Routine => r,
                        };
                    }
                }
            }
        }
    }

    async fn nodegroup(&self, cluster: &Cluster, ng: &domain::NodeGroup, up: bool) -> Outcome {
        let current = ng.sizes;
        let remembered = cluster
            .tags
            .get(&ng.size_tag())
            .and_then(|s| Sizes::decode(s));
        match domain::ng_step(up, current, remembered, &ng.status) {
            NgStep::Nothing => Outcome::Unchanged,
            NgStep::Skip(why) => Outcome::skipped(why),
            NgStep::ScaleDown { .. } if self.dry_run => {
                Outcome::changed(format!("scale to 0 (remember {})", current.encode()))
            }
            NgStep::ScaleUp(s) if self.dry_run => {
                Outcome::changed(format!("scale back to {}", s.encode()))
            }
            NgStep::ScaleDown { remember, max } => {
                // Remember first: if the update then fails, the size is still known.
                if let Some(s) = remember
                    && remembered != Some(s)
                    && let Err(e) = eks::remember_size(&self.eks, cluster, ng, s).await
                {
                    return Outcome::failed(format!("could not remember the size: {e}"));
                }
                let zero = Sizes {
                    min: 0,
                    desired: 0,
                    max,
                };
                match eks::scale(&self.eks, ng, zero).await {
                    Ok(()) => {
                        Outcome::changed(format!("scaled to 0 (remembered {})", current.encode()))
                    }
                    Err(e) => Outcome::failed(e.to_string()),
                }
            }
            NgStep::ScaleUp(s) => match eks::scale(&self.eks, ng, s).await {
                Ok(()) => Outcome::changed(format!("scaled back to {}", s.encode())),
                Err(e) => Outcome::failed(e.to_string()),
            },
        }
    }
}
