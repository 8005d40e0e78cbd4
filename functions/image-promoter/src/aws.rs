//! Every AWS call of the promoter: ECR (what a decision needs, and the retag) and SSM (the
//! policy parameter). Errors are matched by kind, never by message.

use aws_sdk_ecr::Client;
use aws_sdk_ecr::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecr::types::{ImageFailureCode, ImageIdentifier, ImageTagMutability, ScanStatus};
use caretaker_shared::aws::{AwsError, tolerate};
use chrono::{DateTime, Utc};

use crate::domain::{Finding, Scan};
use crate::error::PromoterError;
use crate::event::ImageRef;
use crate::policy::Severity;

/// Media types a retag must carry over unchanged (single and multi-arch, Docker and OCI).
pub const MEDIA_TYPES: [&str; 4] = [
    "application/vnd.docker.distribution.manifest.v2+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.oci.image.index.v1+json",
];

pub struct Ecr {
    client: Client,
}

#[derive(Debug, Clone)]
pub struct ImageInfo {
    pub digest: String,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct RepoSettings {
    pub scan_on_push: bool,
    pub immutable: bool,
}

/// An image's manifest, as ECR stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    pub body: String,
    pub media_type: Option<String>,
}

/// Where a production tag stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetState {
    /// On no image: it can be added.
    Free,
    /// Already on this digest.
    OnThis,
    /// On another digest: never moved.
    OnOther(String),
}

/// What one `BatchGetImage` tells about a promotion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Targets {
    pub manifest: Option<Manifest>,
    pub targets: std::collections::BTreeMap<String, TargetState>,
}

/// The state of an image's scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanState {
    /// No scan was ever started for this image.
    NotStarted,
    /// Started, not finished.
    InProgress,
    Done(Scan),
}

fn ecr_err<E, R>(operation: &'static str, repository: &str, e: SdkError<E, R>) -> PromoterError
where
    E: std::error::Error + ProvideErrorMetadata + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    AwsError::new("ECR", operation, &e).on(repository).into()
}

/// The policy's text from an SSM parameter.
pub async fn policy_parameter(ssm: &aws_sdk_ssm::Client, name: &str) -> Result<String, String> {
    let out = ssm.get_parameter().name(name).send().await.map_err(|e| {
        format!(
            "policy parameter {name} unreadable: {}",
            caretaker_shared::error::chain(&e)
        )
    })?;
    out.parameter
        .and_then(|p| p.value)
        .ok_or_else(|| format!("policy parameter {name} is empty"))
}

fn id(image: &ImageRef) -> ImageIdentifier {
    match image {
        ImageRef::Digest(d) => ImageIdentifier::builder().image_digest(d).build(),
        ImageRef::Tag(t) => ImageIdentifier::builder().image_tag(t).build(),
    }
}

fn to_utc(t: &aws_sdk_ecr::primitives::DateTime) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.secs(), t.subsec_nanos())
}

impl Ecr {
    pub fn new(client: Client) -> Self {
        Ecr { client }
    }

    pub async fn image(
        &self,
        repository: &str,
        image: &ImageRef,
    ) -> Result<Option<ImageInfo>, PromoterError> {
        let res = self
            .client
            .describe_images()
            .repository_name(repository)
            .image_ids(id(image))
            .send()
            .await;
        Ok(tolerate(res, |e| e.is_image_not_found_exception())
            .map_err(|e| ecr_err("DescribeImages", repository, e))?
            .and_then(|out| out.image_details.unwrap_or_default().into_iter().next())
            .map(|d| ImageInfo {
                digest: d.image_digest.unwrap_or_default(),
                tags: d.image_tags.unwrap_or_default(),
            }))
    }

    pub async fn settings(&self, repository: &str) -> Result<RepoSettings, PromoterError> {
        let out = self
            .client
            .describe_repositories()
            .repository_names(repository)
            .send()
            .await
            .map_err(|e| ecr_err("DescribeRepositories", repository, e))?;
        let repo = out
            .repositories
            .unwrap_or_default()
            .into_iter()
            .next()
            .ok_or_else(|| PromoterError::NotFound {
                repository: repository.to_owned(),
                image: "(repository)".into(),
            })?;
        Ok(RepoSettings {
            scan_on_push: repo
                .image_scanning_configuration
                .is_some_and(|c| c.scan_on_push),
            immutable: matches!(
                repo.image_tag_mutability,
                Some(ImageTagMutability::Immutable)
            ),
        })
    }

    /// Every finding of the image (all pages, basic and enhanced), or why there are none.
    pub async fn scan(&self, repository: &str, digest: &str) -> Result<ScanState, PromoterError> {
        let mut findings = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let res = self
                .client
                .describe_image_scan_findings()
                .repository_name(repository)
                .image_id(ImageIdentifier::builder().image_digest(digest).build())
                .max_results(1000)
                .set_next_token(token.take())
                .send()
                .await;
            let Some(out) = tolerate(res, |e| e.is_scan_not_found_exception())
                .map_err(|e| ecr_err("DescribeImageScanFindings", repository, e))?
            else {
                return Ok(ScanState::NotStarted);
            };
            let status = out
                .image_scan_status
                .as_ref()
                .and_then(|s| s.status.clone());
            let description = out
                .image_scan_status
                .as_ref()
                .and_then(|s| s.description.clone())
                .unwrap_or_default();
            match status {
                Some(ScanStatus::Complete | ScanStatus::Active) => {}
                Some(ScanStatus::InProgress | ScanStatus::Pending) => {
                    return Ok(ScanState::InProgress);
                }
                Some(other) => {
                    return Ok(ScanState::Done(Scan::NotUsable(format!(
                        "scan status {} ({description})",
                        other.as_str()
                    ))));
                }
                None => {
                    return Ok(ScanState::Done(Scan::NotUsable(
                        "scan status missing".into(),
                    )));
                }
            }
            if let Some(f) = out.image_scan_findings {
                for b in f.findings.unwrap_or_default() {
                    let attr = |k: &str| {
                        b.attributes.as_ref().and_then(|a| {
                            a.iter().find(|x| x.key == k).and_then(|x| x.value.clone())
                        })
                    };
                    findings.push(Finding {
                        id: b.name.clone().unwrap_or_else(|| "unnamed".into()),
                        severity: Severity::parse(
                            b.severity
                                .as_ref()
                                .map(|s| s.as_str())
                                .unwrap_or("UNDEFINED"),
                        ),
                        package: attr("package_name"),
                        installed: attr("package_version"),
                        fixed: None,
                        fix_available: None,
                        first_observed: None,
                    });
                }
                for e in f.enhanced_findings.unwrap_or_default() {
                    let details = e.package_vulnerability_details.as_ref();
                    let pkg = details
                        .and_then(|d| d.vulnerable_packages.as_ref())
                        .and_then(|p| p.first());
                    findings.push(Finding {
                        id: details
                            .and_then(|d| d.vulnerability_id.clone())
                            .or(e.title.clone())
                            .unwrap_or_else(|| "unnamed".into()),
                        severity: Severity::parse(e.severity.as_deref().unwrap_or("UNDEFINED")),
                        package: pkg.and_then(|p| p.name.clone()),
                        installed: pkg.and_then(|p| p.version.clone()),
                        fixed: pkg.and_then(|p| p.fixed_in_version.clone()),
                        fix_available: e.fix_available.as_deref().map(|f| f != "NO"),
                        first_observed: e.first_observed_at.as_ref().and_then(to_utc),
                    });
                }
            }
            match out.next_token {
                Some(t) if !t.is_empty() => token = Some(t),
                _ => return Ok(ScanState::Done(Scan::Complete(findings))),
            }
        }
    }

    pub async fn start_scan(&self, repository: &str, digest: &str) -> Result<(), PromoterError> {
        self.client
            .start_image_scan()
            .repository_name(repository)
            .image_id(ImageIdentifier::builder().image_digest(digest).build())
            .send()
            .await
            .map_err(|e| ecr_err("StartImageScan", repository, e))?;
        Ok(())
    }

    /// One `BatchGetImage` for the digest and every target tag: the manifest to retag with (the
    /// exact bytes and media type), and where each target tag stands. ECR answers each id on its
    /// own, a missing tag as a failure entry. An answer for another digest that cannot be tied to
    /// one tag counts against every tag it could be (fail closed: never move a production tag).
    pub async fn target_states(
        &self,
        repository: &str,
        digest: &str,
        targets: &[String],
    ) -> Result<Targets, PromoterError> {
        let mut ids = vec![ImageIdentifier::builder().image_digest(digest).build()];
        ids.extend(
            targets
                .iter()
                .map(|t| ImageIdentifier::builder().image_tag(t).build()),
        );
        let out = self
            .client
            .batch_get_image()
            .repository_name(repository)
            .set_image_ids(Some(ids))
            .set_accepted_media_types(Some(MEDIA_TYPES.iter().map(|s| (*s).to_owned()).collect()))
            .send()
            .await
            .map_err(|e| ecr_err("BatchGetImage", repository, e))?;
        let images = out.images.unwrap_or_default();
        let absent: Vec<String> = out
            .failures
            .unwrap_or_default()
            .into_iter()
            .filter(|f| {
                matches!(
                    f.failure_code,
                    Some(
                        ImageFailureCode::ImageNotFound
                            | ImageFailureCode::ImageTagDoesNotMatchDigest
                    )
                )
            })
            .filter_map(|f| f.image_id.and_then(|i| i.image_tag))
            .collect();
        let manifest = images
            .iter()
            .find(|i| i.image_id.as_ref().and_then(|x| x.image_digest.as_deref()) == Some(digest))
            .and_then(|i| {
                Some(Manifest {
                    body: i.image_manifest.clone()?,
                    media_type: i.image_manifest_media_type.clone(),
                })
            });
        let others: Vec<(Option<String>, String)> = images
            .iter()
            .filter_map(|i| {
                let id = i.image_id.as_ref()?;
                let d = id.image_digest.clone()?;
                (d != digest).then(|| (id.image_tag.clone(), d))
            })
            .collect();
        let targets = targets
            .iter()
            .map(|t| {
                let named = others
                    .iter()
                    .find(|(tag, _)| tag.as_deref() == Some(t.as_str()));
                let untied = others
                    .iter()
                    .find(|(tag, _)| tag.as_ref().is_none_or(|x| !targets.contains(x)));
                let state = match (named, untied) {
                    (Some((_, d)), _) => TargetState::OnOther(d.clone()),
                    (None, _) if absent.contains(t) => TargetState::Free,
                    (None, Some((_, d))) => TargetState::OnOther(d.clone()),
                    (None, None) => TargetState::OnThis,
                };
                (t.clone(), state)
            })
            .collect();
        Ok(Targets { manifest, targets })
    }

    /// Add `tag` to the image: `PutImage` of its exact manifest. `false` when the same manifest
    /// already carries the tag (idempotent success).
    pub async fn put_tag(
        &self,
        repository: &str,
        digest: &str,
        manifest: &Manifest,
        tag: &str,
    ) -> Result<bool, PromoterError> {
        let res = self
            .client
            .put_image()
            .repository_name(repository)
            .image_manifest(&manifest.body)
            .set_image_manifest_media_type(manifest.media_type.clone())
            .image_tag(tag)
            .image_digest(digest)
            .send()
            .await;
        // The same manifest already carries this tag: idempotent success (`None`).
        match tolerate(res, |e| e.is_image_already_exists_exception()) {
            Ok(done) => Ok(done.is_some()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_image_tag_already_exists_exception()) =>
            {
                Err(PromoterError::Conflict(format!(
                    "tag {tag} already exists on another image in immutable repository {repository}"
                )))
            }
            Err(e) => Err(ecr_err("PutImage", repository, e)),
        }
    }

    /// Images of a repository (all pages).
    pub async fn list(&self, repository: &str) -> Result<Vec<ImageInfo>, PromoterError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .describe_images()
            .repository_name(repository)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ecr_err("DescribeImages", repository, e))?;
            out.extend(
                page.image_details
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| ImageInfo {
                        digest: d.image_digest.unwrap_or_default(),
                        tags: d.image_tags.unwrap_or_default(),
                    }),
            );
        }
        Ok(out)
    }

    pub async fn repositories(&self) -> Result<Vec<String>, PromoterError> {
        let mut out = Vec::new();
        let mut pages = self.client.describe_repositories().into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ecr_err("DescribeRepositories", "*", e))?;
            out.extend(
                page.repositories
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|r| r.repository_name),
            );
        }
        Ok(out)
    }
}
