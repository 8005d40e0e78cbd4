//! What can invoke the promoter, parsed into one command. EventBridge detail types are defined
//! here, tolerant of missing keys, inside `aws_lambda_events`' `EventBridgeEvent<T>`.

use std::collections::BTreeMap;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use serde::Deserialize;

use caretaker_shared::error::{BadInput, cap_message, quote};
use regex::Regex;

/// `ECR Image Scan` (basic) and `Inspector2 Scan` (enhanced) details.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ScanDetail {
    pub scan_status: Option<String>,
    /// A name for basic scans, an ARN for Inspector2.
    pub repository_name: Option<String>,
    pub image_digest: Option<String>,
    pub image_tags: Vec<String>,
    pub finding_severity_counts: BTreeMap<String, u64>,
}

/// `ECR Image Action` details.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct ActionDetail {
    pub action_type: Option<String>,
    pub result: Option<String>,
    pub repository_name: Option<String>,
    pub image_digest: Option<String>,
    pub image_tag: Option<String>,
}

/// Manual re-evaluation: `{"repository", "digest" | "tag", "dryRun"}`; or `{"action": "sweep"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Manual {
    pub action: Option<String>,
    pub repository: Option<String>,
    pub digest: Option<String>,
    pub tag: Option<String>,
    pub dry_run: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    Digest(String),
    Tag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// A scan finished (or a human asked): decide now.
    Evaluate {
        repository: String,
        image: ImageRef,
        /// The image's tags, when the event says them (scan events do): saves a DescribeImages.
        tags: Vec<String>,
        trigger: &'static str,
        dry_run: bool,
    },
    /// An image was pushed: decide if its scan is done, else make sure one runs.
    Pushed {
        repository: String,
        digest: String,
        tag: Option<String>,
        dry_run: bool,
    },
    /// Decide every image whose scan completed but was never decided.
    Sweep { dry_run: bool },
    /// An event that needs nothing (a failed push, a delete, ...): reported, not an error.
    Ignore { reason: String },
}

/// `arn:aws:ecr:us-east-1:123456789012:repository/team/backend` → `team/backend`.
pub fn repository_name(name_or_arn: &str) -> String {
    match name_or_arn.split_once(":repository/") {
        Some((_, name)) if name_or_arn.starts_with("arn:") => name.to_owned(),
        _ => name_or_arn.to_owned(),
    }
}

fn bad(msg: impl Into<String>) -> BadInput {
    BadInput(msg.into())
}

fn matches(re: &str, s: &str) -> bool {
    Regex::new(re).is_ok_and(|r| r.is_match(s))
}

/// ECR's documented forms: repository names (2–256, lower-case path segments), digests
/// (`sha256:` and 64 hex digits), tags (1–128 of letters, digits, `._-`, not starting with
/// `.` or `-`).
fn check_image(repository: &str, image: &ImageRef) -> Result<(), BadInput> {
    if !(2..=256).contains(&repository.len())
        || !matches(
            r"^(?:[a-z0-9]+(?:[._-][a-z0-9]+)*/)*[a-z0-9]+(?:[._-][a-z0-9]+)*$",
            repository,
        )
    {
        return Err(bad(format!(
            "repository {} is not an ECR repository name",
            quote(repository)
        )));
    }
    match image {
        ImageRef::Digest(d) if !matches(r"^sha256:[a-f0-9]{64}$", d) => Err(bad(format!(
            "digest {} must look like sha256:<64 hex digits>",
            quote(d)
        ))),
        ImageRef::Tag(t) if !matches(r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$", t) => {
            Err(bad(format!("tag {} is not an image tag", quote(t))))
        }
        _ => Ok(()),
    }
}

pub fn parse(v: serde_json::Value) -> Result<Command, BadInput> {
    let cmd = parse_unchecked(v)?;
    match &cmd {
        Command::Evaluate {
            repository, image, ..
        } => check_image(repository, image)?,
        Command::Pushed {
            repository, digest, ..
        } => check_image(repository, &ImageRef::Digest(digest.clone()))?,
        Command::Sweep { .. } | Command::Ignore { .. } => {}
    }
    Ok(cmd)
}

fn parse_unchecked(v: serde_json::Value) -> Result<Command, BadInput> {
    if !v.is_object() {
        return Err(bad(
            "not a JSON object: expected an EventBridge event, {\"repository\", \"digest\" or \"tag\"} or {\"action\": \"sweep\"}",
        ));
    }
    if v.get("detail-type").is_some() {
        let ev: EventBridgeEvent<serde_json::Value> = serde_json::from_value(v).map_err(|e| {
            bad(format!(
                "malformed EventBridge event: {}",
                cap_message(&e.to_string())
            ))
        })?;
        let detail = ev.detail;
        return match ev.detail_type.as_str() {
            "ECR Image Scan" | "Inspector2 Scan" => {
                let d: ScanDetail = serde_json::from_value(detail).map_err(|e| {
                    bad(format!(
                        "malformed {} detail: {}",
                        ev.detail_type,
                        cap_message(&e.to_string())
                    ))
                })?;
                let repository = d
                    .repository_name
                    .map(|r| repository_name(&r))
                    .ok_or_else(|| bad("scan event without repository-name"))?;
                let digest = d
                    .image_digest
                    .ok_or_else(|| bad("scan event without image-digest"))?;
                Ok(Command::Evaluate {
                    repository,
                    image: ImageRef::Digest(digest),
                    tags: d.image_tags,
                    trigger: if ev.detail_type == "ECR Image Scan" {
                        "basic scan"
                    } else {
                        "enhanced scan"
                    },
                    dry_run: false,
                })
            }
            "ECR Image Action" => {
                let d: ActionDetail = serde_json::from_value(detail).map_err(|e| {
                    bad(format!(
                        "malformed ECR Image Action detail: {}",
                        cap_message(&e.to_string())
                    ))
                })?;
                if d.action_type.as_deref() != Some("PUSH")
                    || d.result.as_deref() != Some("SUCCESS")
                {
                    return Ok(Command::Ignore {
                        reason: format!(
                            "image action {} / {} needs nothing",
                            d.action_type.as_deref().unwrap_or("?"),
                            d.result.as_deref().unwrap_or("?")
                        ),
                    });
                }
                Ok(Command::Pushed {
                    repository: d
                        .repository_name
                        .ok_or_else(|| bad("push event without repository-name"))?,
                    digest: d
                        .image_digest
                        .ok_or_else(|| bad("push event without image-digest"))?,
                    tag: d.image_tag,
                    dry_run: false,
                })
            }
            "Scheduled Event" => Ok(Command::Sweep { dry_run: false }),
            other => Err(bad(format!("unsupported detail-type {}", quote(other)))),
        };
    }
    let m: Manual = serde_json::from_value(v).map_err(|e| {
        bad(format!("{}; expected {{\"repository\", \"digest\" or \"tag\", \"dryRun\"}} or {{\"action\": \"sweep\"}}", cap_message(&e.to_string())))
    })?;
    if m.action.as_deref() == Some("sweep") {
        return Ok(Command::Sweep { dry_run: m.dry_run });
    }
    if let Some(a) = m.action {
        return Err(bad(format!(
            "unknown action {} (only \"sweep\")",
            quote(&a)
        )));
    }
    let repository = m
        .repository
        .filter(|r| !r.is_empty())
        .ok_or_else(|| bad("\"repository\" is required"))?;
    let image = match (m.digest, m.tag) {
        (Some(d), None) if d.starts_with("sha256:") => ImageRef::Digest(d),
        (Some(_), None) => return Err(bad("\"digest\" must look like sha256:<hex>")),
        (None, Some(t)) if !t.is_empty() => ImageRef::Tag(t),
        _ => return Err(bad("give exactly one of \"digest\" or \"tag\"")),
    };
    Ok(Command::Evaluate {
        repository,
        image,
        tags: Vec::new(),
        trigger: "manual",
        dry_run: m.dry_run,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(file: &str) -> serde_json::Value {
        serde_json::from_str(file).unwrap()
    }

    #[test]
    fn basic_scan_event() {
        let c = parse(ev(include_str!(
            "../../../events/image-promoter/basic-scan.json"
        )))
        .unwrap();
        assert!(
            matches!(c, Command::Evaluate { ref repository, trigger: "basic scan", .. } if repository == "backend"),
            "{c:?}"
        );
    }

    #[test]
    fn enhanced_scan_event_names_repository_by_arn() {
        let c = parse(ev(include_str!(
            "../../../events/image-promoter/enhanced-scan.json"
        )))
        .unwrap();
        assert!(
            matches!(c, Command::Evaluate { ref repository, trigger: "enhanced scan", .. } if repository == "backend"),
            "{c:?}"
        );
    }

    #[test]
    fn push_event() {
        let c = parse(ev(include_str!("../../../events/image-promoter/push.json"))).unwrap();
        assert!(
            matches!(c, Command::Pushed { ref tag, .. } if tag.as_deref() == Some("sha-4f2a9c1")),
            "{c:?}"
        );
    }

    #[test]
    fn manual_and_sweep() {
        let c = parse(ev(include_str!(
            "../../../events/image-promoter/manual-reevaluate.json"
        )))
        .unwrap();
        assert!(
            matches!(
                c,
                Command::Evaluate {
                    trigger: "manual",
                    dry_run: true,
                    ..
                }
            ),
            "{c:?}"
        );
        assert_eq!(
            parse(ev(include_str!(
                "../../../events/image-promoter/sweep.json"
            )))
            .unwrap(),
            Command::Sweep { dry_run: false }
        );
    }

    #[test]
    fn malformed_identifiers_are_bad_input() {
        for (v, expect) in [
            (
                serde_json::json!({"repository": "backend", "digest": "sha256:abc"}),
                "64 hex",
            ),
            (
                serde_json::json!({"repository": "Back End", "tag": "v1"}),
                "repository",
            ),
            (
                serde_json::json!({"repository": "backend", "tag": "../x"}),
                "not an image tag",
            ),
            (serde_json::json!(["backend"]), "not a JSON object"),
        ] {
            let err = parse(v).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
        }
    }

    #[test]
    fn bad_events_say_what_is_wrong() {
        for (file, expect) in [
            (
                include_str!("../../../events/image-promoter/bad-both-digest-and-tag.json"),
                "exactly one",
            ),
            (
                include_str!("../../../events/image-promoter/bad-scan-without-digest.json"),
                "image-digest",
            ),
            (
                include_str!("../../../events/image-promoter/bad-unknown-field.json"),
                "unknown field",
            ),
        ] {
            let err = parse(ev(file)).unwrap_err().to_string();
            assert!(err.contains(expect), "{err}");
        }
    }
}
