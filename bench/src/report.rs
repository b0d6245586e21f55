//! Latencies, errors and CPU of one run, printed for people and as one JSON line.

use std::collections::BTreeMap;
use std::time::Duration;

/// What one client recorded.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of each successful request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Failed requests by status or error kind.
    pub errors: BTreeMap<String, u64>,
}

impl Tally {
    /// Adds another client's tally.
    pub fn merge(&mut self, other: Tally) {
        self.latencies_us.extend(other.latencies_us);
        for (k, v) in other.errors {
            *self.errors.entry(k).or_default() += v;
        }
    }
}

/// A finished run.
pub struct Report {
    pub label: String,
    pub workload: &'static str,
    pub target: &'static str,
    pub mode: &'static str,
    pub clients: usize,
    pub channels: usize,
    pub elapsed: Duration,
    pub tally: Tally,
    /// CPU time the load generator used (user + system), for its share of the cores.
    pub client_cpu: Duration,
}

fn percentile(sorted: &[u32], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    f64::from(sorted[i]) / 1000.0
}

impl Report {
    /// Prints the human line and the JSON line.
    pub fn print(mut self) {
        self.tally.latencies_us.sort_unstable();
        let lat = &self.tally.latencies_us;
        let ok = lat.len() as u64;
        let errors: u64 = self.tally.errors.values().sum();
        let secs = self.elapsed.as_secs_f64();
        let rps = ok as f64 / secs;
        let (p50, p95, p99, max) = (
            percentile(lat, 0.50),
            percentile(lat, 0.95),
            percentile(lat, 0.99),
            lat.last().map_or(0.0, |m| f64::from(*m) / 1000.0),
        );
        let cpu = self.client_cpu.as_secs_f64() / secs;
        let errors_json: Vec<String> = self
            .tally
            .errors
            .iter()
            .map(|(k, v)| format!("\"{k}\":{v}"))
            .collect();
        println!(
            "{:<14} {:<16} {:<8} clients={:<3} channels={} requests={ok} elapsed={secs:.2}s rps={rps:.0} \
             p50={p50:.3}ms p95={p95:.3}ms p99={p99:.3}ms max={max:.3}ms errors={errors} client_cpu={cpu:.2}cores{}",
            self.workload,
            self.target,
            self.mode,
            self.clients,
            self.channels,
            if self.label.is_empty() {
                String::new()
            } else {
                format!(" label={}", self.label)
            },
        );
        for (kind, count) in &self.tally.errors {
            println!("  error {kind}: {count}");
        }
        println!(
            "{{\"label\":\"{}\",\"workload\":\"{}\",\"target\":\"{}\",\"mode\":\"{}\",\"clients\":{},\"channels\":{},\
             \"requests\":{ok},\"elapsed_s\":{secs:.4},\"rps\":{rps:.1},\"p50_ms\":{p50:.4},\"p95_ms\":{p95:.4},\
             \"p99_ms\":{p99:.4},\"max_ms\":{max:.4},\"errors\":{{{}}},\"client_cpu_cores\":{cpu:.3}}}",
            self.label,
            self.workload,
            self.target,
            self.mode,
            self.clients,
            self.channels,
            errors_json.join(","),
        );
    }
}

/// CPU time this process has used so far.
pub fn process_cpu() -> Duration {
    // SAFETY: getrusage fills the struct we pass; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}
