//! Run `true` N times in a container through kscan's exec (the WebSocket
//! path every exec-strategy probe uses) and print the elapsed seconds.
//! `scripts/bench.d/access` runs it beside `kubectl exec`.
//!
//! Usage: exec_bench KUBECONFIG NAMESPACE POD CONTAINER COUNT

use std::time::{Duration, Instant};

use kscan::cluster::client::ClusterArgs;
use kscan::cluster::exec::Exec;
use kscan::target::{ContainerRef, Label, Subdomain};

#[tokio::main]
async fn main() -> kscan::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: exec_bench KUBECONFIG NAMESPACE POD CONTAINER COUNT");
        std::process::exit(2);
    }
    let connection = ClusterArgs { kubeconfig: Some(args[1].clone().into()), context: None }.connect().await?;
    let target = ContainerRef {
        namespace: Label::parse("namespace", &args[2])?,
        pod: Subdomain::parse("pod", &args[3])?,
        container: Label::parse("container", &args[4])?,
    };
    let count: usize = args[5].parse().map_err(|_| kscan::Error::input("COUNT must be a number"))?;
    let exec = Exec::new(connection.client, target, Duration::from_secs(60));
    let start = Instant::now();
    for _ in 0..count {
        let out = exec.run(&["true"]).await?;
        assert_eq!(out.code, 0);
    }
    println!("{:.3}", start.elapsed().as_secs_f64());
    Ok(())
}
