//! Support shared by the integration tests, the benchmarks and the demo: the Kubernetes API
//! stand-in (no API server can be installed on these machines).

pub mod kube_standin;
