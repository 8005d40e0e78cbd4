//! A stand-in for the Kubernetes API server of an EKS cluster, for tests, the demo and the
//! benchmark (no API server can be installed on these machines). It serves, over TLS, exactly
//! the endpoints dev-scheduler uses, with real Kubernetes JSON (objects built from
//! `k8s-openapi` types):
//!
//! - `GET /api/v1/namespaces`
//! - `GET /apis/{apps/v1,batch/v1,autoscaling/v2}/<plural>` (all namespaces) and
//!   `.../namespaces/<ns>/<plural>`: `labelSelector` (`k=v`, `k!=v`, `k`, `!k`), `limit`, `continue`
//! - `GET`/`PATCH` (`application/merge-patch+json`) `.../namespaces/<ns>/<plural>/<name>`, with
//!   `metadata.resourceVersion` in a patch as a precondition (409 Conflict when stale)
//! - `GET`/`PATCH` `.../namespaces/<ns>/{deployments,statefulsets}/<name>/scale` (`autoscaling/v1` Scale)
//!
//! Every API request must carry `Authorization: Bearer k8s-aws-v1.<base64url>` whose payload is a
//! presigned STS `GetCallerIdentity` URL signing `x-k8s-aws-id` (what EKS accepts); anything else
//! is answered 401 and counted. Errors are `v1 Status` objects. `/standin/objects` (no token)
//! summarises the state for the demo. Failures can be injected per object.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use base64::Engine;
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, StatefulSet, StatefulSetSpec};
use k8s_openapi::api::autoscaling::v2::{
    CrossVersionObjectReference, HorizontalPodAutoscaler, HorizontalPodAutoscalerSpec,
};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{Container, Namespace, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde_json::{Value, json};
use tokio::net::TcpListener;

/// (plural, apiVersion of the group, kind)
const RESOURCES: &[(&str, &str, &str)] = &[
    ("namespaces", "v1", "Namespace"),
    ("deployments", "apps/v1", "Deployment"),
    ("statefulsets", "apps/v1", "StatefulSet"),
    ("cronjobs", "batch/v1", "CronJob"),
    (
        "horizontalpodautoscalers",
        "autoscaling/v2",
        "HorizontalPodAutoscaler",
    ),
];

fn resource(plural: &str) -> Option<(&'static str, &'static str, &'static str)> {
    RESOURCES.iter().find(|r| r.0 == plural).copied()
}

#[derive(Default)]
struct State {
    /// plural → (namespace, name) → object
    objects: BTreeMap<String, BTreeMap<(String, String), Value>>,
    resource_version: u64,
    requests: Vec<String>,
    rejected_tokens: usize,
    failing: HashSet<(String, String, String)>,
    /// A person's change, made right after the next metadata patch of that object succeeds:
    /// plural, namespace, name → replicas.
    meddle: HashMap<(String, String, String), i64>,
}

impl State {
    fn next_rv(&mut self) -> String {
        self.resource_version += 1;
        self.resource_version.to_string()
    }
}

/// A running stand-in. Stops when dropped.
pub struct KubeStandin {
    pub url: String,
    pub ca_file: PathBuf,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for KubeStandin {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn status(code: StatusCode, reason: &str, message: &str) -> Response<Full<Bytes>> {
    let body = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": message, "reason": reason, "code": code.as_u16(),
    });
    respond(code, &body)
}

fn respond(code: StatusCode, body: &Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = code;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

/// What EKS checks first: a `k8s-aws-v1.` token that decodes to a presigned STS URL.
pub fn token_shape_ok(header: Option<&str>) -> bool {
    let Some(token) = header.and_then(|h| h.strip_prefix("Bearer k8s-aws-v1.")) else {
        return false;
    };
    let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
        return false;
    };
    let Ok(url) = std::str::from_utf8(&raw).map(url::Url::parse) else {
        return false;
    };
    let Ok(url) = url else { return false };
    let q: BTreeMap<String, String> = url.query_pairs().into_owned().collect();
    let host = url.host_str().unwrap_or_default();
    url.scheme() == "https"
        && host.starts_with("sts.")
        && host.ends_with(".amazonaws.com")
        && q.get("Action").map(String::as_str) == Some("GetCallerIdentity")
        && q.get("X-Amz-Algorithm").map(String::as_str) == Some("AWS4-HMAC-SHA256")
        && q.get("X-Amz-SignedHeaders")
            .is_some_and(|h| h.split(';').any(|h| h == "x-k8s-aws-id"))
        && q.get("X-Amz-Signature")
            .is_some_and(|s| s.len() == 64 && s.chars().all(|c| c.is_ascii_hexdigit()))
        && q.contains_key("X-Amz-Credential")
        && q.contains_key("X-Amz-Date")
        && q.contains_key("X-Amz-Expires")
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            let t = target.as_object_mut().expect("object");
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn selector_matches(
    selector: &str,
    labels: &serde_json::Map<String, Value>,
) -> Result<bool, String> {
    let label = |k: &str| labels.get(k).and_then(Value::as_str);
    for term in selector.split(',').map(str::trim).filter(|t| !t.is_empty()) {
        let ok = if let Some((k, v)) = term.split_once("!=") {
            label(k.trim()) != Some(v.trim())
        } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
            label(k.trim()) == Some(v.trim())
        } else if let Some(k) = term.strip_prefix('!') {
            label(k.trim()).is_none()
        } else if term.contains(' ') || term.contains('(') {
            return Err(format!("unsupported selector term {term:?}"));
        } else {
            label(term).is_some()
        };
        if !ok {
            return Ok(false);
        }
    }
    Ok(true)
}

fn scale_of(obj: &Value) -> Value {
    let replicas = obj.pointer("/spec/replicas").cloned().unwrap_or(json!(1));
    json!({
        "apiVersion": "autoscaling/v1", "kind": "Scale",
        "metadata": {
            "name": obj.pointer("/metadata/name"), "namespace": obj.pointer("/metadata/namespace"),
            "resourceVersion": obj.pointer("/metadata/resourceVersion"),
            "uid": obj.pointer("/metadata/uid"),
        },
        "spec": { "replicas": replicas },
        "status": { "replicas": replicas },
    })
}

fn handle(
    state: &Mutex<State>,
    method: &Method,
    path: &str,
    query: &str,
    auth: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Response<Full<Bytes>> {
    let mut st = state.lock().expect("stand-in state");
    if path == "/standin/objects" {
        return respond(StatusCode::OK, &summary(&st));
    }
    st.requests.push(format!("{method} {path}"));
    if !token_shape_ok(auth) {
        st.rejected_tokens += 1;
        return status(StatusCode::UNAUTHORIZED, "Unauthorized", "Unauthorized");
    }
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    // (group/version, namespace, plural, name, subresource)
    let (gv, rest): (String, &[&str]) = match segs.as_slice() {
        ["api", "v1", rest @ ..] => ("v1".to_owned(), rest),
        ["apis", g, v, rest @ ..] => (format!("{g}/{v}"), rest),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    let (ns, plural, name, sub) = match rest {
        [plural] => (None, *plural, None, None),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name), None),
        ["namespaces", ns, plural, name, sub] => (Some(*ns), *plural, Some(*name), Some(*sub)),
        _ => {
            return status(
                StatusCode::NOT_FOUND,
                "NotFound",
                "the server could not find the requested resource",
            );
        }
    };
    let Some((plural, api_version, kind)) = resource(plural).filter(|r| r.1 == gv) else {
        return status(
            StatusCode::NOT_FOUND,
            "NotFound",
            &format!("the server could not find the requested resource ({gv} {plural})"),
        );
    };
    let params: BTreeMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    match (method, name, sub) {
        (&Method::GET, None, None) => {
            let selector = params.get("labelSelector").cloned().unwrap_or_default();
            let limit: usize = params
                .get("limit")
                .and_then(|l| l.parse().ok())
                .filter(|l| *l > 0)
                .unwrap_or(usize::MAX);
            let offset: usize = params
                .get("continue")
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            let mut items = Vec::new();
            let empty = serde_json::Map::new();
            for ((o_ns, _), obj) in st.objects.get(plural).into_iter().flatten() {
                if ns.is_some_and(|n| n != o_ns) {
                    continue;
                }
                let labels = obj
                    .pointer("/metadata/labels")
                    .and_then(Value::as_object)
                    .unwrap_or(&empty);
                match selector_matches(&selector, labels) {
                    Ok(true) => items.push(obj.clone()),
                    Ok(false) => {}
                    Err(e) => return status(StatusCode::BAD_REQUEST, "BadRequest", &e),
                }
            }
            let page: Vec<Value> = items.iter().skip(offset).take(limit).cloned().collect();
            let mut meta = json!({ "resourceVersion": st.resource_version.to_string() });
            if offset + page.len() < items.len() {
                meta["continue"] = json!((offset + page.len()).to_string());
            }
            respond(
                StatusCode::OK,
                &json!({ "apiVersion": api_version, "kind": format!("{kind}List"), "metadata": meta, "items": page }),
            )
        }
        (m, Some(name), sub)
            if (m == Method::GET || m == Method::PATCH)
                && (sub.is_none() || sub == Some("scale")) =>
        {
            let key = (ns.unwrap_or_default().to_owned(), name.to_owned());
            if sub == Some("scale") && !matches!(plural, "deployments" | "statefulsets") {
                return status(StatusCode::NOT_FOUND, "NotFound", "no scale subresource");
            }
            let failing = st
                .failing
                .contains(&(plural.to_owned(), key.0.clone(), key.1.clone()));
            let meddle = match (m == Method::PATCH, sub) {
                (true, None) => {
                    st.meddle
                        .remove(&(plural.to_owned(), key.0.clone(), key.1.clone()))
                }
                _ => None,
            };
            let rv = st.next_rv();
            let later_rv = st.next_rv();
            let Some(obj) = st.objects.get_mut(plural).and_then(|o| o.get_mut(&key)) else {
                return status(
                    StatusCode::NOT_FOUND,
                    "NotFound",
                    &format!("{plural} \"{name}\" not found"),
                );
            };
            if m == Method::GET {
                return respond(
                    StatusCode::OK,
                    &if sub.is_some() {
                        scale_of(obj)
                    } else {
                        obj.clone()
                    },
                );
            }
            if content_type != "application/merge-patch+json" {
                return status(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "UnsupportedMediaType",
                    &format!("the body of the request was in an unknown format: {content_type}"),
                );
            }
            if failing {
                return status(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "InternalError",
                    "injected failure",
                );
            }
            let Ok(mut patch) = serde_json::from_slice::<Value>(body) else {
                return status(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "the body is not JSON",
                );
            };
            if let Some(want) = patch
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                if obj
                    .pointer("/metadata/resourceVersion")
                    .and_then(Value::as_str)
                    != Some(want)
                {
                    return status(
                        StatusCode::CONFLICT,
                        "Conflict",
                        &format!(
                            "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
                        ),
                    );
                }
                patch["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("resourceVersion"));
            }
            if sub.is_some() {
                let mut scale = scale_of(obj);
                merge(&mut scale, &patch);
                match scale.pointer("/spec/replicas").and_then(Value::as_i64) {
                    Some(n) if n >= 0 => obj["spec"]["replicas"] = json!(n),
                    _ => {
                        return status(
                            StatusCode::UNPROCESSABLE_ENTITY,
                            "Invalid",
                            "spec.replicas: must be a non-negative integer",
                        );
                    }
                }
            } else {
                merge(obj, &patch);
            }
            obj["metadata"]["resourceVersion"] = json!(rv);
            let answer = respond(
                StatusCode::OK,
                &if sub.is_some() {
                    scale_of(obj)
                } else {
                    obj.clone()
                },
            );
            if let Some(n) = meddle {
                // Someone scales it between this patch and the next.
                obj["spec"]["replicas"] = json!(n);
                obj["metadata"]["resourceVersion"] = json!(later_rv);
            }
            answer
        }
        _ => status(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            &format!("{method} is not supported here"),
        ),
    }
}

fn summary(st: &State) -> Value {
    let mut out = serde_json::Map::new();
    for (plural, objs) in &st.objects {
        let list: Vec<Value> = objs
            .values()
            .map(|o| {
                json!({
                    "namespace": o.pointer("/metadata/namespace"),
                    "name": o.pointer("/metadata/name"),
                    "replicas": o.pointer("/spec/replicas"),
                    "suspend": o.pointer("/spec/suspend"),
                    "annotations": o.pointer("/metadata/annotations"),
                })
            })
            .collect();
        out.insert(plural.clone(), Value::Array(list));
    }
    json!({ "objects": out, "requests": st.requests.len(), "rejectedTokens": st.rejected_tokens })
}

fn tls_config(cert: &Path, key: &Path) -> Arc<rustls::ServerConfig> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .expect("stand-in certificate")
        .collect::<Result<_, _>>()
        .expect("stand-in certificate PEM");
    let key = PrivateKeyDer::from_pem_file(key).expect("stand-in key");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    Arc::new(
        rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .expect("stand-in certificate and key"),
    )
}

fn meta(
    ns: Option<&str>,
    name: &str,
    annotations: &[(&str, &str)],
    labels: &[(&str, &str)],
) -> ObjectMeta {
    let map = |kv: &[(&str, &str)]| {
        (!kv.is_empty()).then(|| {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        })
    };
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: ns.map(str::to_owned),
        annotations: map(annotations),
        labels: map(labels),
        uid: Some(uuid::Uuid::new_v4().to_string()),
        ..Default::default()
    }
}

fn pod_template(app: &str) -> PodTemplateSpec {
    PodTemplateSpec {
        metadata: Some(ObjectMeta {
            labels: Some([("app".to_owned(), app.to_owned())].into()),
            ..Default::default()
        }),
        spec: Some(PodSpec {
            containers: vec![Container {
                name: app.to_owned(),
                image: Some(format!(
                    "123456789012.dkr.ecr.us-east-1.amazonaws.com/{app}:v1"
                )),
                ..Default::default()
            }],
            ..Default::default()
        }),
    }
}

impl KubeStandin {
    /// Starts on a free loopback port with the local stack's certificate for `localhost`
    /// (`CARETAKER_TLS_CERT`, `CARETAKER_TLS_KEY`; the CA is `CARETAKER_TLS_CA`).
    pub async fn start() -> Self {
        let var = |n: &str| {
            std::env::var(n)
                .unwrap_or_else(|_| panic!("{n} is not set: run inside tools/stack.py run"))
        };
        Self::start_on(
            0,
            Path::new(&var("CARETAKER_TLS_CERT")),
            Path::new(&var("CARETAKER_TLS_KEY")),
            PathBuf::from(var("CARETAKER_TLS_CA")),
        )
        .await
    }

    pub async fn start_on(port: u16, cert: &Path, key: &Path, ca_file: PathBuf) -> Self {
        let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let acceptor = tokio_rustls::TlsAcceptor::from(tls_config(cert, key));
        let state = Arc::new(Mutex::new(State::default()));
        let shared = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, state) = (acceptor.clone(), shared.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let state = state.clone();
                        async move {
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            let header = |h: hyper::header::HeaderName| {
                                parts
                                    .headers
                                    .get(h)
                                    .and_then(|v| v.to_str().ok())
                                    .map(str::to_owned)
                            };
                            let auth = header(hyper::header::AUTHORIZATION);
                            let ct = header(hyper::header::CONTENT_TYPE).unwrap_or_default();
                            let ct = ct.split(';').next().unwrap_or_default().trim().to_owned();
                            Ok::<_, std::convert::Infallible>(handle(
                                &state,
                                &parts.method,
                                parts.uri.path(),
                                parts.uri.query().unwrap_or_default(),
                                auth.as_deref(),
                                &ct,
                                &body,
                            ))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        KubeStandin {
            url: format!("https://localhost:{}", addr.port()),
            ca_file,
            state,
            task,
        }
    }

    fn insert(&self, plural: &str, obj: Value) {
        let mut st = self.state.lock().expect("state");
        let rv = st.next_rv();
        let mut obj = obj;
        obj["metadata"]["resourceVersion"] = json!(rv);
        let key = (
            obj.pointer("/metadata/namespace")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            obj.pointer("/metadata/name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        );
        st.objects
            .entry(plural.to_owned())
            .or_default()
            .insert(key, obj);
    }

    /// Adds any manifest of a served kind (the demo's seed file is a list of them).
    pub fn apply(&self, manifest: Value) -> Result<(), String> {
        let kind = manifest
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let (plural, _, _) = RESOURCES
            .iter()
            .find(|r| r.2 == kind)
            .ok_or_else(|| format!("kind {kind:?} is not served"))?;
        self.insert(plural, manifest);
        Ok(())
    }

    pub fn namespace(&self, name: &str, annotations: &[(&str, &str)], labels: &[(&str, &str)]) {
        let ns = Namespace {
            metadata: meta(None, name, annotations, labels),
            ..Default::default()
        };
        self.insert("namespaces", json!(ns));
    }

    pub fn deployment(
        &self,
        ns: &str,
        name: &str,
        replicas: i32,
        annotations: &[(&str, &str)],
        labels: &[(&str, &str)],
    ) {
        let d = Deployment {
            metadata: meta(Some(ns), name, annotations, labels),
            spec: Some(DeploymentSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some([("app".to_owned(), name.to_owned())].into()),
                    ..Default::default()
                },
                template: pod_template(name),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.insert("deployments", json!(d));
    }

    pub fn statefulset(&self, ns: &str, name: &str, replicas: i32, annotations: &[(&str, &str)]) {
        let s = StatefulSet {
            metadata: meta(Some(ns), name, annotations, &[]),
            spec: Some(StatefulSetSpec {
                replicas: Some(replicas),
                selector: LabelSelector {
                    match_labels: Some([("app".to_owned(), name.to_owned())].into()),
                    ..Default::default()
                },
                service_name: Some(name.to_owned()),
                template: pod_template(name),
                ..Default::default()
            }),
            ..Default::default()
        };
        self.insert("statefulsets", json!(s));
    }

    pub fn cronjob(&self, ns: &str, name: &str, suspend: bool, annotations: &[(&str, &str)]) {
        let c = CronJob {
            metadata: meta(Some(ns), name, annotations, &[]),
            spec: Some(CronJobSpec {
                schedule: "*/15 * * * *".into(),
                suspend: Some(suspend),
                job_template: JobTemplateSpec {
                    spec: Some(k8s_openapi::api::batch::v1::JobSpec {
                        template: pod_template(name),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
                ..Default::default()
            }),
            ..Default::default()
        };
        self.insert("cronjobs", json!(c));
    }

    pub fn hpa(&self, ns: &str, name: &str, target_kind: &str, target: &str, min: i32, max: i32) {
        let h = HorizontalPodAutoscaler {
            metadata: meta(Some(ns), name, &[], &[]),
            spec: Some(HorizontalPodAutoscalerSpec {
                scale_target_ref: CrossVersionObjectReference {
                    api_version: Some("apps/v1".into()),
                    kind: target_kind.into(),
                    name: target.into(),
                },
                min_replicas: Some(min),
                max_replicas: max,
                ..Default::default()
            }),
            ..Default::default()
        };
        self.insert("horizontalpodautoscalers", json!(h));
    }

    pub fn object(&self, plural: &str, ns: &str, name: &str) -> Option<Value> {
        let st = self.state.lock().expect("state");
        st.objects
            .get(plural)?
            .get(&(ns.to_owned(), name.to_owned()))
            .cloned()
    }

    pub fn replicas(&self, plural: &str, ns: &str, name: &str) -> Option<i64> {
        self.object(plural, ns, name)?
            .pointer("/spec/replicas")?
            .as_i64()
    }

    pub fn annotation(&self, plural: &str, ns: &str, name: &str, key: &str) -> Option<String> {
        self.object(plural, ns, name)?
            .pointer("/metadata/annotations")?
            .get(key)?
            .as_str()
            .map(str::to_owned)
    }

    pub fn suspended(&self, ns: &str, name: &str) -> Option<bool> {
        self.object("cronjobs", ns, name)?
            .pointer("/spec/suspend")?
            .as_bool()
    }

    /// Every PATCH on this object (and its scale) answers 500 from now on.
    pub fn fail_patches(&self, plural: &str, ns: &str, name: &str) {
        self.state
            .lock()
            .expect("state")
            .failing
            .insert((plural.into(), ns.into(), name.into()));
    }

    /// Right after the next successful metadata patch of this object, set its replicas to `to`
    /// (a person scaling it between caretaker's two patches).
    pub fn scale_after_next_patch(&self, plural: &str, ns: &str, name: &str, to: i64) {
        self.state
            .lock()
            .expect("state")
            .meddle
            .insert((plural.into(), ns.into(), name.into()), to);
    }

    /// "METHOD /path" of every API request so far.
    pub fn requests(&self) -> Vec<String> {
        self.state.lock().expect("state").requests.clone()
    }

    pub fn mutations(&self) -> usize {
        self.requests()
            .iter()
            .filter(|r| !r.starts_with("GET "))
            .count()
    }

    pub fn rejected_tokens(&self) -> usize {
        self.state.lock().expect("state").rejected_tokens
    }

    pub fn reset_requests(&self) {
        self.state.lock().expect("state").requests.clear();
    }
}
