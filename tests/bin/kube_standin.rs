//! `kube-standin --port P --cert F --key F --ca F [--seed manifests.json]`: the Kubernetes API
//! stand-in as a process, for the demo. Runs until killed.
use std::path::PathBuf;

use caretaker_tests::kube_standin::KubeStandin;

#[tokio::main]
async fn main() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let arg = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let need = |name: &str| arg(name).ok_or_else(|| format!("{name} is required"));
    let port: u16 = need("--port")?
        .parse()
        .map_err(|_| "--port is not a port number".to_owned())?;
    let standin = KubeStandin::start_on(
        port,
        &PathBuf::from(need("--cert")?),
        &PathBuf::from(need("--key")?),
        PathBuf::from(need("--ca")?),
    )
    .await;
    if let Some(seed) = arg("--seed") {
        let text = std::fs::read_to_string(&seed).map_err(|e| format!("{seed}: {e}"))?;
        let items: Vec<serde_json::Value> =
            serde_json::from_str(&text).map_err(|e| format!("{seed}: {e}"))?;
        for item in items {
            standin.apply(item)?;
        }
    }
    eprintln!("kube-standin listening on {}", standin.url);
    std::future::pending::<()>().await;
    Ok(())
}
