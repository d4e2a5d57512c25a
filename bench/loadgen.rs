//! Load generator for `bench/run.sh`: HTTP/1.1 keep-alive GETs on loopback.
//!
//! `loadgen rate ADDR PATH RPS SECONDS`: open loop at a fixed rate. Each
//! request is sent on its own schedule whether or not earlier ones answered,
//! so a slow server cannot lower the offered rate and hide its stalls
//! (coordinated omission, the flaw of closed-loop tools such as plain `wrk`).
//! Latency runs from the moment the request's task starts: tokio's timer has
//! 1 ms granularity, and counting its wake-up lag would charge the server
//! with up to 1 ms it never saw.
//!
//! `loadgen max ADDR PATH CONNECTIONS SECONDS`: closed loop, each connection
//! sends its next request when the previous answered: maximum throughput.
//!
//! Prints one JSON line: requests, errors (non-200 or I/O), rps, p50/p90/p99/max ms.
//! Written by hand (no HTTP client dependency) because it only needs to
//! read a status line, headers and a `Content-Length` body.

use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::Mutex;

struct Conn {
    stream: BufReader<TcpStream>,
}

impl Conn {
    async fn open(addr: &str) -> std::io::Result<Self> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        Ok(Self {
            stream: BufReader::new(stream),
        })
    }

    /// One GET; `Ok(status)`.
    async fn get(&mut self, request: &[u8]) -> std::io::Result<u16> {
        self.stream.get_mut().write_all(request).await?;
        let mut line = String::new();
        self.stream.read_line(&mut line).await?;
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut length = 0usize;
        loop {
            line.clear();
            if self.stream.read_line(&mut line).await? == 0 {
                return Err(std::io::Error::other("connection closed"));
            }
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':')
                && name.eq_ignore_ascii_case("content-length")
            {
                length = value.trim().parse().unwrap_or(0);
            }
        }
        let mut body = vec![0; length];
        self.stream.read_exact(&mut body).await?;
        Ok(status)
    }
}

struct Stats {
    latencies: Vec<Duration>,
    errors: u64,
}

fn report(stats: &mut Stats, elapsed: Duration) {
    stats.latencies.sort();
    let n = stats.latencies.len();
    let pct = |p: f64| -> f64 {
        if n == 0 {
            return f64::NAN;
        }
        let i = ((p / 100.0) * n as f64).ceil() as usize;
        stats.latencies[i.clamp(1, n) - 1].as_secs_f64() * 1000.0
    };
    println!(
        "{{\"requests\":{n},\"errors\":{},\"rps\":{:.1},\"p50_ms\":{:.3},\"p90_ms\":{:.3},\"p99_ms\":{:.3},\"max_ms\":{:.3}}}",
        stats.errors,
        n as f64 / elapsed.as_secs_f64(),
        pct(50.0),
        pct(90.0),
        pct(99.0),
        pct(100.0)
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 6 {
        eprintln!("usage: loadgen rate|max ADDR PATH RPS|CONNECTIONS SECONDS");
        std::process::exit(2);
    }
    let (mode, addr, path) = (args[1].clone(), args[2].clone(), args[3].clone());
    let n: u64 = args[4].parse().expect("a number");
    let seconds: f64 = args[5].parse().expect("seconds");
    let request: Arc<[u8]> =
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept: application/json\r\n\r\n")
            .into_bytes()
            .into();
    let stats = Arc::new(Mutex::new(Stats {
        latencies: Vec::new(),
        errors: 0,
    }));
    let duration = Duration::from_secs_f64(seconds);
    let started = Instant::now();
    match mode.as_str() {
        "rate" => {
            // Idle connections wait here; a request takes one or opens a new one.
            let idle: Arc<Mutex<Vec<Conn>>> = Arc::new(Mutex::new(Vec::new()));
            let period = Duration::from_secs_f64(1.0 / n as f64);
            let total = (seconds * n as f64) as u64;
            let mut tasks = Vec::with_capacity(total as usize);
            for i in 0..total {
                let due = started + period * i as u32;
                tokio::time::sleep_until(due.into()).await;
                let (idle, stats, request, addr) =
                    (idle.clone(), stats.clone(), request.clone(), addr.clone());
                tasks.push(tokio::spawn(async move {
                    let sent = Instant::now();
                    let conn = idle.lock().await.pop();
                    let conn = match conn {
                        Some(conn) => Ok(conn),
                        None => Conn::open(&addr).await,
                    };
                    let result = match conn {
                        Ok(mut conn) => {
                            let status = conn.get(&request).await;
                            if status.is_ok() {
                                idle.lock().await.push(conn);
                            }
                            status
                        }
                        Err(e) => Err(e),
                    };
                    let latency = sent.elapsed();
                    let mut stats = stats.lock().await;
                    match result {
                        Ok(200) => stats.latencies.push(latency),
                        _ => stats.errors += 1,
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        }
        "max" => {
            let mut tasks = Vec::new();
            for _ in 0..n {
                let (stats, request, addr) = (stats.clone(), request.clone(), addr.clone());
                tasks.push(tokio::spawn(async move {
                    let Ok(mut conn) = Conn::open(&addr).await else {
                        stats.lock().await.errors += 1;
                        return;
                    };
                    while started.elapsed() < duration {
                        let sent = Instant::now();
                        let result = conn.get(&request).await;
                        let latency = sent.elapsed();
                        let mut stats = stats.lock().await;
                        match result {
                            Ok(200) => stats.latencies.push(latency),
                            Ok(_) => stats.errors += 1,
                            Err(_) => {
                                stats.errors += 1;
                                return;
                            }
                        }
                    }
                }));
            }
            for task in tasks {
                let _ = task.await;
            }
        }
        other => {
            eprintln!("unknown mode {other}");
            std::process::exit(2);
        }
    }
    let elapsed = started.elapsed();
    report(&mut *stats.lock().await, elapsed);
}
