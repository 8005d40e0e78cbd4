//! Integration tests: one binary, a module per area, run against the local stack
//! (`tools/stack.py run -- cargo test`, which `make test` does). Each test works in its own moto
//! account, so tests share one server without resetting it under each other's feet.
#![allow(clippy::unwrap_used, unreachable_pub)]

mod support;

mod budget;
mod foundation;
mod lambda_process;
mod promoter;
mod restore;
mod rotator;
mod rotator_waits;
mod savings;
mod scheduler;
mod scheduler_k8s;
mod scheduler_org;
