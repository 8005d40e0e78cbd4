//! dev-scheduler Lambda: thin entry point. See `handler`.
use dev_scheduler::{Deps, FUNCTION, handler};
use lambda_runtime::{Error, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    caretaker_shared::telemetry::init(FUNCTION);
    let deps = caretaker_shared::telemetry::deps_or_exit(Deps::from_env().await).await?;
    lambda_runtime::run(service_fn(|event| handler::handle(event, &deps))).await
}
