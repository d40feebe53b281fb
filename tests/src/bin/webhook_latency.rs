//! Measures zoom-webhook latency through the local stack's API Gateway URL:
//! `cargo run -p e2e --bin webhook-latency -- [N]` (default 200 per kind).
//! Prints median and p99 per request kind; a measurement tool, never a test.

use std::time::Instant;

use e2e::{http, sample_recording_completed, unix_now, Stack};
use zoom_sandbox::webhook::{send_signed, url_validation_body};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n: usize = std::env::args().nth(1).map(|a| a.parse()).transpose()?.unwrap_or(200);
    let stack = Stack::load();
    let client = http();
    let send = |body: Vec<u8>| {
        let (client, stack) = (client.clone(), stack.clone());
        async move {
            let t = Instant::now();
            let (status, text) =
                send_signed(&client, &stack.zoom_webhook_url, &stack.zoom_webhook_secret, &body, unix_now()).await?;
            anyhow::ensure!(status == 200, "unexpected {status}: {text}");
            Ok::<_, anyhow::Error>(t.elapsed().as_secs_f64() * 1000.0)
        }
    };
    // Warm the function so the numbers describe warm invocations; cold start is reported apart.
    let cold = send(url_validation_body("warmup", unix_now() * 1000)).await?;

    let mut validation = Vec::with_capacity(n);
    for i in 0..n {
        validation.push(send(url_validation_body(&format!("token{i}"), unix_now() * 1000)).await?);
    }
    let (_, event) = sample_recording_completed();
    let body = serde_json::to_vec(&event)?;
    send(body.clone()).await?; // first delivery claims and invokes
    let mut duplicate = Vec::with_capacity(n);
    for _ in 0..n {
        duplicate.push(send(body.clone()).await?);
    }
    let fresh_n = (n / 10).max(10);
    let mut fresh = Vec::with_capacity(fresh_n);
    for _ in 0..fresh_n {
        let (_, event) = sample_recording_completed();
        fresh.push(send(serde_json::to_vec(&event)?).await?);
    }
    println!("zoom-webhook latency through the local API Gateway (ms), sequential requests");
    println!("first request (may include the cold start): {cold:.1}");
    report("endpoint.url_validation", validation);
    report("recording.completed, duplicate delivery (conditional put only)", duplicate);
    report("recording.completed, new meeting (put + async invoke + update)", fresh);
    Ok(())
}

fn report(kind: &str, mut ms: Vec<f64>) {
    ms.sort_by(|a, b| a.total_cmp(b));
    let pct = |p: f64| ms[((ms.len() as f64 - 1.0) * p).round() as usize];
    println!("{kind}: n={} median={:.1} p99={:.1} max={:.1}", ms.len(), pct(0.5), pct(0.99), pct(1.0));
}
