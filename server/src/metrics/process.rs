//! The standard `process_*` metrics of Prometheus clients (CPU, memory, descriptors,
//! threads, start time) for the server process, read from `/proc/self` at each scrape and
//! rendered as Prometheus text beside the exporter's own.
//!
//! Rendered here rather than recorded through the `metrics` facade: its counters hold
//! integers, and `process_cpu_seconds_total` is a counter of fractional seconds. (The
//! `metrics-process` crate reports it in whole seconds, or as a gauge, and brings `procfs`
//! for what is a few lines of `/proc` here.) With `--workers processes` these describe the
//! server process only, not its worker processes.

use std::fmt::Write;

/// One scrape's reading; a value that could not be read is left out.
#[derive(Debug, Default, PartialEq)]
pub struct Reading {
    pub cpu_seconds: Option<f64>,
    pub resident_bytes: Option<u64>,
    pub virtual_bytes: Option<u64>,
    pub threads: Option<u64>,
    pub start_time_seconds: Option<f64>,
    pub open_fds: Option<u64>,
    pub max_fds: Option<u64>,
}

/// Reads the server process's figures (blocking: file reads).
pub fn read() -> Reading {
    // SAFETY: sysconf only reads configuration values.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let boot = std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|s| boot_time(&s));
    let mut reading = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|stat| {
            parse_stat(
                &stat,
                u64::try_from(ticks).ok()?,
                u64::try_from(page).ok()?,
                boot,
            )
        })
        .unwrap_or_default();
    reading.open_fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|entries| entries.count() as u64);
    reading.max_fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|s| max_open_files(&s));
    reading
}

/// The fields of `/proc/self/stat` (proc(5)) these metrics need. The command name (field 2)
/// is in parentheses and may hold spaces, so fields are counted from its closing one.
fn parse_stat(stat: &str, ticks: u64, page: u64, boot: Option<u64>) -> Option<Reading> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts with field 3 (state).
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    if ticks == 0 {
        return None;
    }
    let ticks_f = ticks as f64;
    Some(Reading {
        cpu_seconds: Some((field(14)? + field(15)?) as f64 / ticks_f),
        threads: field(20),
        start_time_seconds: boot
            .zip(field(22))
            .map(|(boot, start)| boot as f64 + start as f64 / ticks_f),
        virtual_bytes: field(23),
        resident_bytes: field(24).map(|pages| pages * page),
        ..Reading::default()
    })
}

/// The boot time (`btime`, Unix seconds) of `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|line| line.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

/// The soft limit of open files in `/proc/self/limits` (absent when unlimited).
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits
        .lines()
        .find_map(|line| line.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// `reading` as Prometheus text, with the HELP and TYPE lines of the standard names.
pub fn render(reading: &Reading) -> String {
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, value: Option<f64>| {
        if let Some(value) = value {
            let _ = write!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}\n\n"
            );
        }
    };
    let float = |v: Option<u64>| v.map(|v| v as f64);
    metric(
        "process_cpu_seconds_total",
        "counter",
        "Total user and system CPU time spent in seconds.",
        reading.cpu_seconds,
    );
    metric(
        "process_resident_memory_bytes",
        "gauge",
        "Resident memory size in bytes.",
        float(reading.resident_bytes),
    );
    metric(
        "process_virtual_memory_bytes",
        "gauge",
        "Virtual memory size in bytes.",
        float(reading.virtual_bytes),
    );
    metric(
        "process_open_fds",
        "gauge",
        "Number of open file descriptors.",
        float(reading.open_fds),
    );
    metric(
        "process_max_fds",
        "gauge",
        "Maximum number of open file descriptors.",
        float(reading.max_fds),
    );
    metric(
        "process_start_time_seconds",
        "gauge",
        "Start time of the process since unix epoch in seconds.",
        reading.start_time_seconds,
    );
    metric(
        "process_threads",
        "gauge",
        "Number of OS threads in the process.",
        float(reading.threads),
    );
    out
}

#[cfg(test)]
mod test {
    use super::*;

    // A line of proc(5)'s format, its command name holding a space and a parenthesis.
    const STAT: &str = "4242 (sqlited (x) y) S 1 4242 4242 0 -1 4194560 2783 0 0 0 \
        150 25 0 0 20 0 9 0 360000 1048576000 12800 18446744073709551615 1 1 0 0 0 0 0 \
        4096 17475 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let reading = parse_stat(STAT, 100, 4096, Some(1_700_000_000)).unwrap();
        assert_eq!(reading.cpu_seconds, Some(1.75));
        assert_eq!(reading.threads, Some(9));
        assert_eq!(reading.start_time_seconds, Some(1_700_003_600.0));
        assert_eq!(reading.virtual_bytes, Some(1_048_576_000));
        assert_eq!(reading.resident_bytes, Some(12_800 * 4096));
    }

    #[test]
    fn limits_and_boot_time() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units\n\
                      Max cpu time              unlimited            unlimited            seconds\n\
                      Max open files            1024                 524288               files\n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(
            max_open_files("Max open files  unlimited  unlimited  files\n"),
            None
        );
        assert_eq!(
            boot_time("cpu  1 2 3\nbtime 1765000000\nprocesses 9\n"),
            Some(1_765_000_000)
        );
    }

    #[test]
    fn this_process_reads_and_renders() {
        let reading = read();
        assert!(reading.resident_bytes.unwrap() > 0);
        assert!(reading.open_fds.unwrap() > 0);
        assert!(reading.threads.unwrap() >= 1);
        let text = render(&reading);
        assert!(
            text.contains("# TYPE process_cpu_seconds_total counter\n"),
            "{text}"
        );
        assert!(text.contains("\nprocess_threads "), "{text}");
    }
}
