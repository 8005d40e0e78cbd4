//! Kubernetes workloads on EKS: Deployments and StatefulSets scaled to zero and back through
//! the scale subresource, CronJobs suspended and resumed, in opted-in namespaces.
//!
//! - Connection: endpoint and CA from `DescribeCluster`, bearer token from [`crate::eks_token`]
//!   signed with the account's credentials (the spoke role's when assumed). `KUBE_ENDPOINT_OVERRIDE`
//!   and `KUBE_CA_FILE` point it elsewhere (the local stand-in; never set in AWS).
//! - Opt-in: the annotation `caretaker/schedule` on a Namespace (all its workloads) or on a
//!   workload. The account-wide default schedule does not apply here: a cluster's system
//!   namespaces are never taken down by default. Workloads labelled `caretaker/exclude=true` are
//!   not even listed (label selector `KUBE_LABEL_SELECTOR`).
//! - Safety: the cluster is checked by the guard before any Kubernetes call; an `env` label on a
//!   Namespace or a workload is checked too (a prod-labelled namespace in a dev cluster is refused).
//! - Calls: 5 lists per cluster (namespaces, HPAs, deployments, statefulsets, cronjobs; 500 a page),
//!   then 1–2 patches per workload that changes, `KUBE_CONCURRENCY` at a time. An unchanged
//!   workload costs nothing.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use aws_credential_types::provider::ProvideCredentials;
use base64::Engine;
use caretaker_shared::report::{Outcome, RunReport};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::CronJob;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams, Patch, PatchParams};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::domain::{
    self, ANN_REPLICAS, ANN_SUSPENDED, Class, Decider, Decision, Hpa, ReplicaStep, SuspendStep,
    TAG_KEEP_UP_UNTIL, TAG_SCHEDULE,
};
pub(crate) use crate::eks::Cluster;
use crate::ready::{ANN_NEEDS, Readiness};

/// How to reach and walk the clusters' Kubernetes APIs.
#[derive(Debug, Clone)]
pub struct KubeSettings {
    pub endpoint_override: Option<String>,
    pub ca_file: Option<PathBuf>,
    pub concurrency: usize,
    pub label_selector: String,
}

/// A Kubernetes client for the cluster, authenticated with a fresh EKS token.
pub(crate) async fn connect(
    cluster: &Cluster,
    sdk: &aws_config::SdkConfig,
    settings: &KubeSettings,
) -> Result<kube::Client, String> {
    let endpoint = settings
        .endpoint_override
        .clone()
        .or_else(|| cluster.endpoint.clone())
        .ok_or("DescribeCluster gave no endpoint (is the cluster still creating?)")?;
    let pem = match &settings.ca_file {
        Some(path) => {
            std::fs::read(path).map_err(|e| format!("KUBE_CA_FILE {}: {e}", path.display()))?
        }
        None => base64::engine::general_purpose::STANDARD
            .decode(cluster.ca_data.as_deref().unwrap_or_default().trim())
            .map_err(|e| format!("the cluster's certificate authority is not base64: {e}"))?,
    };
    let roots: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.to_vec()))
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the cluster's certificate authority is not PEM: {e}"))?;
    if roots.is_empty() {
        return Err("the cluster's certificate authority holds no certificate".into());
    }
    let credentials = sdk
        .credentials_provider()
        .ok_or("no AWS credentials to sign the EKS token with")?
        .provide_credentials()
        .await
        .map_err(|e| format!("AWS credentials: {}", caretaker_shared::error::chain(&e)))?;
    let region = sdk
        .region()
        .map(|r| r.as_ref().to_owned())
        .ok_or("no AWS region for the EKS token")?;
    let token = crate::eks_token::token(&cluster.name, &region, &credentials, SystemTime::now())?;
    let mut config = kube::Config::new(
        endpoint
            .parse()
            .map_err(|e| format!("endpoint {endpoint:?}: {e}"))?,
    );
    config.root_cert = Some(roots);
    config.auth_info.token = Some(token.into());
    config.connect_timeout = Some(Duration::from_secs(5));
    config.read_timeout = Some(Duration::from_secs(15));
    kube::Client::try_from(config).map_err(|e| caretaker_shared::error::chain(&e))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Deployment,
    StatefulSet,
    CronJob,
}

impl Kind {
    fn report_kind(self) -> &'static str {
        match self {
            Kind::Deployment => "k8s-deployment",
            Kind::StatefulSet => "k8s-statefulset",
            Kind::CronJob => "k8s-cronjob",
        }
    }
    fn hpa_kind(self) -> &'static str {
        match self {
            Kind::Deployment => "Deployment",
            Kind::StatefulSet => "StatefulSet",
            Kind::CronJob => "CronJob",
        }
    }
}

#[derive(Debug, Clone)]
enum Step {
    Replicas(ReplicaStep),
    Suspend(SuspendStep),
}

/// One opted-in workload and what to do with it.
#[derive(Debug, Clone)]
struct Item {
    kind: Kind,
    namespace: String,
    name: String,
    resource_version: Option<String>,
    state: String,
    hpa: Option<String>,
    /// Whether it should be up now, and why (`None` when left alone).
    decision: Option<Decision>,
    decided: Result<Step, Outcome>,
    /// A pod's requests (CPU millicores, memory MiB) and the replicas it ran: what the savings
    /// ledger prices when it is scaled to zero.
    pods: Option<(u64, u64, u32)>,
}

/// A Kubernetes CPU quantity in millicores: `500m`, `0.5`, `2`.
pub(crate) fn cpu_millis(q: &str) -> Option<u64> {
    let q = q.trim();
    match q.strip_suffix('m') {
        Some(m) => m.parse().ok(),
        None => q
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite() && *v >= 0.0)
            .map(|v| (v * 1000.0).ceil() as u64),
    }
}

/// A Kubernetes memory quantity in MiB (rounded up): `1Gi`, `512Mi`, `1G`, `500M`, `1048576`.
pub(crate) fn memory_mib(q: &str) -> Option<u64> {
    let q = q.trim();
    let units: [(&str, f64); 8] = [
        ("Ki", 1024.0),
        ("Mi", 1024.0 * 1024.0),
        ("Gi", 1024.0 * 1024.0 * 1024.0),
        ("Ti", 1024f64.powi(4)),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    let (number, factor) = units
        .iter()
        .find_map(|(u, f)| q.strip_suffix(u).map(|n| (n, *f)))
        .unwrap_or((q, 1.0));
    let bytes = number.parse::<f64>().ok()? * factor;
    (bytes.is_finite() && bytes >= 0.0).then(|| (bytes / (1024.0 * 1024.0)).ceil() as u64)
}

/// The sum of a pod template's containers' requests (a container without one counts nothing).
fn pod_requests(template: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> (u64, u64) {
    let containers = template
        .and_then(|t| t.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    containers
        .iter()
        .filter_map(|c| c.resources.as_ref()?.requests.as_ref())
        .fold((0, 0), |(cpu, mem), r| {
            (
                cpu + r.get("cpu").and_then(|q| cpu_millis(&q.0)).unwrap_or(0),
                mem + r.get("memory").and_then(|q| memory_mib(&q.0)).unwrap_or(0),
            )
        })
}

struct Listed {
    namespaces: HashMap<String, Namespace>,
    hpas: HashMap<(String, &'static str, String), Hpa>,
    deployments: Vec<Deployment>,
    statefulsets: Vec<StatefulSet>,
    cronjobs: Vec<CronJob>,
}

async fn list_all<K>(api: &Api<K>, selector: &str) -> kube::Result<Vec<K>>
where
    K: Clone + DeserializeOwned + Debug,
{
    let mut params = ListParams::default().limit(500);
    if !selector.is_empty() {
        params = params.labels(selector);
    }
    let mut out = Vec::new();
    loop {
        let page = api.list(&params).await?;
        out.extend(page.items);
        match page.metadata.continue_ {
            Some(c) if !c.is_empty() => params = params.continue_token(&c),
            _ => return Ok(out),
        }
    }
}

async fn list(client: &kube::Client, selector: &str) -> Result<Listed, String> {
    let named = |what: &'static str| {
        move |e: kube::Error| format!("listing {what}: {}", caretaker_shared::error::chain(&e))
    };
    let (namespaces, hpas, deployments, statefulsets, cronjobs) = futures::try_join!(
        async {
            list_all(&Api::<Namespace>::all(client.clone()), "")
                .await
                .map_err(named("namespaces"))
        },
        async {
            list_all(&Api::<HorizontalPodAutoscaler>::all(client.clone()), "")
                .await
                .map_err(named("horizontalpodautoscalers"))
        },
        async {
            list_all(&Api::<Deployment>::all(client.clone()), selector)
                .await
                .map_err(named("deployments"))
        },
        async {
            list_all(&Api::<StatefulSet>::all(client.clone()), selector)
                .await
                .map_err(named("statefulsets"))
        },
        async {
            list_all(&Api::<CronJob>::all(client.clone()), selector)
                .await
                .map_err(named("cronjobs"))
        },
    )?;
    let namespaces = namespaces
        .into_iter()
        .filter_map(|n| Some((n.metadata.name.clone()?, n)))
        .collect();
    let hpas = hpas
        .into_iter()
        .filter_map(|h| {
            let spec = h.spec?;
            let target = spec.scale_target_ref;
            let kind: &'static str = match target.kind.as_str() {
                "Deployment" => "Deployment",
                "StatefulSet" => "StatefulSet",
                _ => return None,
            };
            let hpa = Hpa {
                name: h.metadata.name?,
                min: spec.min_replicas.unwrap_or(1),
                max: spec.max_replicas,
            };
            Some(((h.metadata.namespace?, kind, target.name), hpa))
        })
        .collect();
    Ok(Listed {
        namespaces,
        hpas,
        deployments,
        statefulsets,
        cronjobs,
    })
}

/// The tags a workload is decided by: the cluster's `env` and `caretaker/keep-up-until`, then the namespace's and the
/// workload's `env` label and `caretaker/*` annotations (the workload's win). `None` when
/// neither the namespace nor the workload opted in.
fn tags_for(
    cluster: &Cluster,
    namespace: Option<&Namespace>,
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<BTreeMap<String, String>> {
    // From the cluster: its env, and a keep-up-until that keeps the whole cluster up tonight.
    // Never its schedule: a cluster tag must not opt kube-system in.
    let mut tags: BTreeMap<String, String> = cluster
        .tags
        .iter()
        .filter(|(k, _)| *k == "env" || *k == TAG_KEEP_UP_UNTIL)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let layers = namespace.map(|n| &n.metadata).into_iter().chain([meta]);
    for m in layers {
        if let Some(env) = m.labels.as_ref().and_then(|l| l.get("env")) {
            tags.insert("env".to_owned(), env.clone());
        }
        for (k, v) in m.annotations.iter().flatten() {
            if k.starts_with("caretaker/") {
                tags.insert(k.clone(), v.clone());
            }
        }
    }
    tags.contains_key(TAG_SCHEDULE).then_some(tags)
}

/// What to do with each opted-in workload. A scale-up or a resume whose namespace (or itself)
/// declares `caretaker/needs` waits, in a run that brings things up, until each need is ready.
fn plan(
    cluster: &Cluster,
    listed: &Listed,
    decide: &Decider,
    ready: Option<&Readiness>,
) -> Vec<Item> {
    // The reason a workload coming up waits, if it does.
    let waiting = |tags: &BTreeMap<String, String>| {
        let needs = tags.get(ANN_NEEDS)?;
        ready?
            .waiting_for(needs)
            .map(|w| format!("waiting for {w}"))
    };
    let mut items = Vec::new();
    let meta_of = |m: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
        (
            m.namespace.clone().unwrap_or_default(),
            m.name.clone().unwrap_or_default(),
            m.resource_version.clone(),
        )
    };
    let replicas = |kind: Kind,
                    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
                    replicas: Option<i32>,
                    requests: (u64, u64)|
     -> Option<Item> {
        let (namespace, name, rv) = meta_of(meta);
        let tags = tags_for(cluster, listed.namespaces.get(&namespace), meta)?;
        let current = replicas.unwrap_or(1);
        let hpa = listed
            .hpas
            .get(&(namespace.clone(), kind.hpa_kind(), name.clone()));
        let remembered = meta
            .annotations
            .as_ref()
            .and_then(|a| a.get(ANN_REPLICAS))
            .map(String::as_str);
        let decision = decide.decide(&tags);
        let decided = decision
            .as_ref()
            .map(
                |d| match domain::replica_step(d.up, current, remembered, hpa) {
                    ReplicaStep::ScaleUp { .. } if let Some(w) = waiting(&tags) => {
                        Step::Replicas(ReplicaStep::Skip(w))
                    }
                    step => Step::Replicas(step),
                },
            )
            .map_err(Clone::clone);
        Some(Item {
            kind,
            namespace,
            name,
            resource_version: rv,
            state: format!("{current} replicas"),
            hpa: hpa.map(|h| format!("{} ({}..{})", h.name, h.min, h.max)),
            decision: decision.ok(),
            decided,
            pods: Some((requests.0, requests.1, current.max(0).unsigned_abs())),
        })
    };
    for d in &listed.deployments {
        items.extend(replicas(
            Kind::Deployment,
            &d.metadata,
            d.spec.as_ref().and_then(|s| s.replicas),
            pod_requests(d.spec.as_ref().map(|s| &s.template)),
        ));
    }
    for s in &listed.statefulsets {
        items.extend(replicas(
            Kind::StatefulSet,
            &s.metadata,
            s.spec.as_ref().and_then(|s| s.replicas),
            pod_requests(s.spec.as_ref().map(|s| &s.template)),
        ));
    }
    for c in &listed.cronjobs {
        let (namespace, name, rv) = meta_of(&c.metadata);
        let Some(tags) = tags_for(cluster, listed.namespaces.get(&namespace), &c.metadata) else {
            continue;
        };
        let suspended = c.spec.as_ref().and_then(|s| s.suspend).unwrap_or(false);
        let decision = decide.decide(&tags);
        let marked = c
            .metadata
            .annotations
            .as_ref()
            .is_some_and(|a| a.contains_key(ANN_SUSPENDED));
        items.push(Item {
            kind: Kind::CronJob,
            namespace,
            name,
            resource_version: rv,
            state: if suspended { "suspended" } else { "active" }.to_owned(),
            hpa: None,
            decided: decision
                .as_ref()
                .map(|d| match domain::suspend_step(d.up, suspended, marked) {
                    SuspendStep::Resume if let Some(w) = waiting(&tags) => {
                        Step::Suspend(SuspendStep::Skip(w))
                    }
                    step => Step::Suspend(step),
                })
                .map_err(Clone::clone),
            decision: decision.ok(),
            pods: None,
        });
    }
    items.sort_by(|a, b| (a.kind, &a.namespace, &a.name).cmp(&(b.kind, &b.namespace, &b.name)));
    items
}

fn api_error(e: &kube::Error) -> Outcome {
    match e {
        kube::Error::Api(s) if s.is_conflict() => {
            Outcome::skipped("changed while caretaker read it: the next run retries")
        }
        kube::Error::Api(s) if s.is_forbidden() => Outcome::failed(format!(
            "{}: the caretaker RBAC (deploy/kubernetes-rbac.yaml) is missing or outdated",
            caretaker_shared::error::chain(e)
        )),
        _ => Outcome::failed(caretaker_shared::error::chain(e)),
    }
}

fn annotate(key: &str, value: Option<String>, resource_version: Option<&str>) -> Value {
    let mut meta = json!({ "annotations": { key: value } });
    if let Some(rv) = resource_version {
        // Optimistic concurrency: 409 Conflict when the object changed since it was listed.
        meta["resourceVersion"] = json!(rv);
    }
    json!({ "metadata": meta })
}

async fn scale<K>(api: &Api<K>, item: &Item, step: &ReplicaStep, dry_run: bool) -> Outcome
where
    K: Clone + DeserializeOwned + Debug + kube::Resource,
{
    let pp = PatchParams::default();
    let name = item.name.as_str();
    match step {
        ReplicaStep::Nothing => Outcome::Unchanged,
        ReplicaStep::Skip(why) => Outcome::skipped(why.clone()),
        ReplicaStep::ScaleDown { remember } if dry_run => {
            Outcome::changed(format!("scale to 0 (remember {remember})"))
        }
        ReplicaStep::ScaleUp { to } if dry_run => Outcome::changed(format!("scale back to {to}")),
        ReplicaStep::Forget if dry_run => {
            Outcome::changed(format!("remove a leftover {ANN_REPLICAS}"))
        }
        ReplicaStep::ScaleDown { remember } => {
            // Remember first: if the scale then fails, the count is still on the object.
            let patch = annotate(
                ANN_REPLICAS,
                Some(remember.to_string()),
                item.resource_version.as_deref(),
            );
            let remembered = match api.patch(name, &pp, &Patch::Merge(&patch)).await {
                Ok(obj) => obj,
                Err(e) => {
                    return match api_error(&e) {
                        Outcome::Failed { error } => Outcome::failed(format!(
                            "could not remember the replica count: {error}"
                        )),
                        other => other,
                    };
                }
            };
            // The version the annotation patch produced: if anyone changes the workload before
            // the scale patch (a person scaling 3 → 5), it answers 409 and their change stands;
            // the next run remembers the new count.
            let mut zero = json!({ "spec": { "replicas": 0 } });
            if let Some(rv) = remembered.meta().resource_version.as_deref() {
                zero["metadata"] = json!({ "resourceVersion": rv });
            }
            match api.patch_scale(name, &pp, &Patch::Merge(&zero)).await {
                Ok(_) => Outcome::changed(format!("scaled to 0 (remembered {remember})")),
                Err(e) => {
                    // Not scaled: a remembered count must only ever be the one of a workload
                    // caretaker holds at zero (best effort; the next run sees it otherwise).
                    let forget = annotate(ANN_REPLICAS, None, None);
                    let _ = api.patch(name, &pp, &Patch::Merge(&forget)).await;
                    api_error(&e)
                }
            }
        }
        ReplicaStep::ScaleUp { to } => {
            let back = json!({ "spec": { "replicas": to } });
            if let Err(e) = api.patch_scale(name, &pp, &Patch::Merge(&back)).await {
                return api_error(&e);
            }
            match api
                .patch(name, &pp, &Patch::Merge(annotate(ANN_REPLICAS, None, None)))
                .await
            {
                Ok(_) => Outcome::changed(format!("scaled back to {to}")),
                Err(e) => Outcome::changed(format!(
                    "scaled back to {to}; the annotation stays until the next run ({})",
                    caretaker_shared::error::chain(&e)
                )),
            }
        }
        ReplicaStep::Forget => {
            match api
                .patch(name, &pp, &Patch::Merge(annotate(ANN_REPLICAS, None, None)))
                .await
            {
                Ok(_) => Outcome::changed(format!("removed a leftover {ANN_REPLICAS}")),
                Err(e) => api_error(&e),
            }
        }
    }
}

async fn suspend(api: &Api<CronJob>, item: &Item, step: &SuspendStep, dry_run: bool) -> Outcome {
    let (patch, done) = match step {
        SuspendStep::Nothing => return Outcome::Unchanged,
        SuspendStep::Skip(why) => return Outcome::skipped(why.clone()),
        SuspendStep::Suspend => {
            let mut p = annotate(
                ANN_SUSPENDED,
                Some("true".into()),
                item.resource_version.as_deref(),
            );
            p["spec"] = json!({ "suspend": true });
            (p, "suspended")
        }
        SuspendStep::Resume => {
            let mut p = annotate(ANN_SUSPENDED, None, None);
            p["spec"] = json!({ "suspend": false });
            (p, "resumed")
        }
        SuspendStep::Forget => (
            annotate(ANN_SUSPENDED, None, None),
            "removed a leftover caretaker/suspended",
        ),
    };
    if dry_run {
        return Outcome::changed(format!("would be {done}"));
    }
    match api
        .patch(&item.name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
    {
        Ok(_) => Outcome::changed(done),
        Err(e) => api_error(&e),
    }
}

async fn execute(client: &kube::Client, item: &Item, dry_run: bool) -> Outcome {
    let ns = item.namespace.as_str();
    match &item.decided {
        Err(outcome) => outcome.clone(),
        Ok(Step::Replicas(step)) => match item.kind {
            Kind::StatefulSet => {
                scale(
                    &Api::<StatefulSet>::namespaced(client.clone(), ns),
                    item,
                    step,
                    dry_run,
                )
                .await
            }
            _ => {
                scale(
                    &Api::<Deployment>::namespaced(client.clone(), ns),
                    item,
                    step,
                    dry_run,
                )
                .await
            }
        },
        Ok(Step::Suspend(step)) => {
            suspend(
                &Api::<CronJob>::namespaced(client.clone(), ns),
                item,
                step,
                dry_run,
            )
            .await
        }
    }
}

/// Connects to the cluster's Kubernetes API, walks its opted-in workloads and records each in
/// the report; a failing workload does not stop the others. `Err` when the API cannot be reached
/// or listed: the caller records it against the cluster.
pub(crate) async fn walk(
    cluster: &Cluster,
    sdk: &aws_config::SdkConfig,
    settings: &KubeSettings,
    decide: &Decider,
    ready: Option<&Readiness>,
    dry_run: bool,
    report: &mut RunReport,
) -> Result<(), String> {
    let client = connect(cluster, sdk, settings).await?;
    let account = decide.account.as_str();
    let listed = list(&client, &settings.label_selector).await?;
    let items = plan(cluster, &listed, decide, ready);
    let outcomes: Vec<Outcome> = futures::stream::iter(items.iter())
        .map(|item| execute(&client, item, dry_run))
        .buffered(settings.concurrency.max(1))
        .collect()
        .await;
    for (item, outcome) in items.iter().zip(outcomes) {
        let id = format!("{}/{}/{}", cluster.name, item.namespace, item.name);
        let changed = matches!(outcome, Outcome::Changed { .. });
        let class = item
            .decision
            .as_ref()
            .map(|d| decide.classify(&format!("{}/{id}", item.kind.report_kind()), d, &outcome));
        let r = report
            .record(item.kind.report_kind(), &id, outcome)
            .in_account(account);
        r.detail("state", &item.state);
        if let Some(d) = &item.decision {
            r.detail("desired", if d.up { "up" } else { "down" })
                .detail("why", &d.why);
        }
        if let Some(h) = &item.hpa {
            r.detail("hpa", h);
        }
        // A pod's requests and the replicas taken down: the savings ledger prices them on
        // Fargate (when a Fargate profile selects the namespace).
        if changed && let Some((cpu, mem, n)) = item.pods.filter(|p| p.2 > 0) {
            r.detail(
                "pods",
                json!({"replicas": n, "cpuMillis": cpu, "memoryMiB": mem, "namespace": item.namespace}),
            );
        }
        match class {
            Some(Class::Drift) => {
                r.detail("drift", true);
            }
            Some(Class::Pending) => {
                r.detail("pending", true);
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_are_read_as_kubernetes_writes_them() {
        assert_eq!(cpu_millis("500m"), Some(500));
        assert_eq!(cpu_millis("0.25"), Some(250));
        assert_eq!(cpu_millis("2"), Some(2000));
        assert_eq!(memory_mib("1Gi"), Some(1024));
        assert_eq!(memory_mib("512Mi"), Some(512));
        assert_eq!(memory_mib("1G"), Some(954));
        assert_eq!(memory_mib("1048576"), Some(1));
        assert_eq!(cpu_millis("lots"), None);
    }
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn meta(annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> ObjectMeta {
        let map = |kv: &[(&str, &str)]| {
            Some(
                kv.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            )
        };
        ObjectMeta {
            annotations: map(annotations),
            labels: map(labels),
            ..Default::default()
        }
    }

    fn cluster() -> Cluster {
        Cluster {
            name: "innovate-dev".into(),
            tags: [
                ("env".to_owned(), "dev".to_owned()),
                (TAG_SCHEDULE.to_owned(), "office-hours".to_owned()),
            ]
            .into(),
            ..Default::default()
        }
    }

    fn ns(annotations: &[(&str, &str)], labels: &[(&str, &str)]) -> Namespace {
        Namespace {
            metadata: meta(annotations, labels),
            ..Default::default()
        }
    }

    #[test]
    fn a_cluster_tag_never_opts_workloads_in() {
        assert_eq!(
            tags_for(&cluster(), Some(&ns(&[], &[])), &meta(&[], &[])),
            None
        );
    }

    #[test]
    fn the_workload_annotation_wins_and_a_prod_label_is_carried_to_the_guard() {
        let ns = ns(
            &[(TAG_SCHEDULE, "office-hours"), ("other/annotation", "x")],
            &[("env", "prod")],
        );
        let t = tags_for(&cluster(), Some(&ns), &meta(&[(TAG_SCHEDULE, "none")], &[])).unwrap();
        assert_eq!(t["env"], "prod");
        assert_eq!(t[TAG_SCHEDULE], "none");
        assert!(!t.contains_key("other/annotation"));
        let alone = tags_for(
            &cluster(),
            None,
            &meta(&[(TAG_SCHEDULE, "office-hours")], &[]),
        );
        assert_eq!(alone.unwrap()["env"], "dev", "the cluster's env by default");
        let mut kept = cluster();
        kept.tags
            .insert(TAG_KEEP_UP_UNTIL.into(), "2026-11-30T23:00:00Z".into());
        let t = tags_for(&kept, Some(&ns), &meta(&[], &[])).unwrap();
        assert_eq!(
            t[TAG_KEEP_UP_UNTIL], "2026-11-30T23:00:00Z",
            "a cluster kept up keeps its workloads up"
        );
    }
}
