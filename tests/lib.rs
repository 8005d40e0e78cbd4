//! Support shared by the integration tests, the benchmarks and the demo: the Kubernetes API
//! stand-in (no API server can be installed on these machines), and a Step Functions driver that
//! runs restore-tester's state machine locally (test and demo support: it does not ship in the
//! Lambda).

pub mod kube_standin;
pub mod sfn_driver;
