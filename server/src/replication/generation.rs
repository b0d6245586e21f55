//! Generations: each life of a database replicates to a path of its own.
//!
//! Database `NAME` replicates under `URL/NAME/GEN`, where `GEN` counts from `00000001`. A
//! database starts a new generation, the first one its replica does not hold yet, whenever
//! its file begins a new life: created, restored from the replica or from a backup, or
//! replicated for the first time. It never writes into the path it was restored from:
//! Litestream 0.5 replicating a restored file into that path skips data (litestream#781).
//!
//! The data directory records the generation each database replicates to, in
//! `.NAME.db-replica` beside its file, with the `--replica-url` it belongs to; a server
//! started again on the directory goes on in the same generation. A restore picks the
//! newest generation, or for `--timestamp` the newest one that had begun by then.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::settings::database_url;

/// One generation the replica holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Generation {
    pub number: u64,
    /// Its URL (`URL/NAME/GEN`).
    pub url: String,
    /// The times of its oldest and newest files, as Litestream dates them (RFC 3339: UTC,
    /// or a local time with its offset for a `file://` replica); `None` if it dated none in
    /// a form [`Time::parse`] reads.
    pub first: Option<Time>,
    pub last: Option<Time>,
    /// Its newest transaction.
    pub max_txid: u64,
}

/// The URL of generation `number` of the database whose replica URL is `database_url`.
pub fn url(database_url_: &str, number: u64) -> String {
    database_url(database_url_, &format!("{number:08}"))
}

/// Every generation the replica of `database_url` holds, oldest first, with the Litestream
/// `binary`, each listed within `timeout`. Generations are numbered without gaps: the
/// listing stops at the first one the replica does not hold. `abort` disconnecting (its
/// sender dropped: the database closed) stops it at once.
///
/// # Errors
/// Litestream could not list the replica (unreachable, refused); never an empty answer
/// then, so a store that is down is not taken for one that holds nothing.
pub fn list(
    binary: &Path,
    database_url_: &str,
    timeout: Duration,
    abort: &crossbeam_channel::Receiver<()>,
) -> Result<Vec<Generation>, String> {
    let mut generations = Vec::new();
    for number in 1.. {
        let url = url(database_url_, number);
        let files = files(binary, &url, timeout, abort)?;
        if files.is_empty() {
            break;
        }
        // Compared as times, not as text: the same instant has many spellings.
        let times = || files.iter().filter_map(|f| Time::parse(&f.timestamp));
        let first = times().min();
        let last = times().max();
        let max_txid = files
            .iter()
            .filter_map(|f| u64::from_str_radix(&f.max_txid, 16).ok())
            .max()
            .unwrap_or(0);
        generations.push(Generation {
            number,
            url,
            first,
            last,
            max_txid,
        });
    }
    Ok(generations)
}

/// The generation a database that begins a new life replicates to: the first one the
/// replica does not hold.
pub fn next(generations: &[Generation]) -> u64 {
    generations.last().map_or(1, |g| g.number + 1)
}

/// An instant as Litestream writes and reads it: RFC 3339 as Go's `time.RFC3339` parses it
/// (`ltx -json` prints `2026-12-01T15:04:05Z`, or `2026-12-01T17:04:05+02:00` for the local
/// time of a `file://` replica; `restore -timestamp` reads the same, a fraction of a second
/// included). Equal and ordered as instants, whatever the offset it was written with.
#[derive(Debug, Clone)]
pub struct Time {
    /// Seconds since the Unix epoch, and nanoseconds within that second: the order.
    instant: (i64, u32),
    /// As written, for messages.
    text: String,
}

impl Time {
    /// The time `text` names, or `None` if it is not one: exactly
    /// `YYYY-MM-DDTHH:MM:SS[.F…](Z|±HH:MM)`, with a real date (February 29 in leap years
    /// only), hours to 23, minutes and seconds to 59, digits of a fraction past nine
    /// ignored — what Go's `time.Parse(time.RFC3339, …)` accepts, so no time Litestream
    /// would refuse gets past this.
    pub fn parse(text: &str) -> Option<Self> {
        let b = text.as_bytes();
        let number = |range: std::ops::Range<usize>| -> Option<i64> {
            let digits = b.get(range)?;
            digits.iter().try_fold(0i64, |n, d| {
                d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
            })
        };
        let separators = [(4, b'-'), (7, b'-'), (10, b'T'), (13, b':'), (16, b':')];
        if b.len() < 20 || separators.iter().any(|&(i, c)| b[i] != c) {
            return None;
        }
        let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
        let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let mut rest = &b[19..];
        let mut nanos = 0u32;
        if rest.len() >= 2 && rest[0] == b'.' && rest[1].is_ascii_digit() {
            let digits = rest[1..].iter().take_while(|d| d.is_ascii_digit()).count();
            for place in 0..9 {
                let digit = rest.get(1 + place).filter(|_| place < digits);
                nanos = nanos * 10 + digit.map_or(0, |d| u32::from(d - b'0'));
            }
            rest = &rest[1 + digits..];
        }
        let offset = match rest {
            b"Z" => 0,
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let two = |a: u8, b: u8| {
                    (a.is_ascii_digit() && b.is_ascii_digit())
                        .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
                };
                let (hours, minutes) = (two(*h1, *h2)?, two(*m1, *m2)?);
                if hours > 23 || minutes > 59 {
                    return None;
                }
                let seconds = (hours * 60 + minutes) * 60;
                if *sign == b'-' { -seconds } else { seconds }
            }
            _ => return None,
        };
        let seconds =
            days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second
                - offset;
        Some(Self {
            instant: (seconds, nanos),
            text: text.to_string(),
        })
    }

    /// The time as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl PartialEq for Time {
    fn eq(&self, other: &Self) -> bool {
        self.instant == other.instant
    }
}

impl Eq for Time {}

impl PartialOrd for Time {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Time {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.instant.cmp(&other.instant)
    }
}

impl std::fmt::Display for Time {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days from 1970-01-01 to the date in the proleptic Gregorian calendar (Howard Hinnant's
/// `days_from_civil`: years counted from March, so the leap day ends a year).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[derive(serde::Deserialize)]
struct LtxFile {
    max_txid: String,
    timestamp: String,
}

/// The LTX files of every level under `url` (`litestream ltx -json -level all`).
fn files(
    binary: &Path,
    url: &str,
    timeout: Duration,
    abort: &crossbeam_channel::Receiver<()>,
) -> Result<Vec<LtxFile>, String> {
    let child = super::preflight::command(binary)
        .args(["ltx", "-json", "-level", "all", url])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .map_err(|err| super::restore::cannot_run(binary, &err))?;
    let pid = child.id();
    // Its output is read while it runs (a long listing fills a pipe that nobody reads, and
    // Litestream would wait forever), by a thread that also reaps it.
    let (done, finished) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done.send(child.wait_with_output());
    });
    let refused = crossbeam_channel::select! {
        recv(finished) -> output => match output {
            Ok(output) => Ok(output),
            // Its thread ended without a word: the child is reaped, nothing to kill.
            Err(_) => return Err("Litestream's listing ended without an answer".into()),
        },
        recv(abort) -> _ => Err("the database closed".to_string()),
        default(timeout) => Err(format!(
            "Litestream did not list the replica {url} within {} ms",
            timeout.as_millis()
        )),
    };
    let output = match refused {
        Ok(output) => {
            output.map_err(|err| format!("reading Litestream's listing failed: {err}"))?
        }
        Err(why) => {
            // SAFETY: kill(2) of the child started above. The thread that reaps it is still
            // waiting for it (but for a listing that ends in this very instant, whose pid
            // cannot have been reused yet).
            unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
            return Err(why);
        }
    };
    if !output.status.success() {
        let said = String::from_utf8_lossy(&output.stderr);
        let said = said.lines().last().unwrap_or_default().trim().to_string();
        return Err(format!(
            "Litestream cannot list the replica {url} ({}): {said}",
            output.status
        ));
    }
    serde_json::from_slice(&output.stdout)
        .map_err(|err| format!("Litestream's listing of {url} is not understood: {err}"))
}

/// The file that records the generation of the database file `path`.
pub fn record_path(path: &Path) -> PathBuf {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{file}-replica"))
}

/// The generation the database file `path` replicates to under `base_url`, if the data
/// directory records one for that URL.
pub fn recorded(path: &Path, base_url: &str) -> Option<u64> {
    let text = std::fs::read_to_string(record_path(path)).ok()?;
    let mut lines = text.lines();
    let number = lines.next()?.trim().parse().ok()?;
    (lines.next()? == base_url).then_some(number)
}

/// Records that the database file `path` replicates to generation `number` under
/// `base_url` (written whole, by rename).
///
/// # Errors
/// The record could not be written.
pub fn record(path: &Path, base_url: &str, number: u64) -> Result<(), String> {
    let target = record_path(path);
    let temp = target.with_extension("tmp");
    std::fs::write(&temp, format!("{number}\n{base_url}\n"))
        .and_then(|()| std::fs::rename(&temp, &target))
        .map_err(|err| {
            format!(
                "cannot record the generation in {}: {err}",
                target.display()
            )
        })
}

/// Forgets the generation of the database file `path`: its next life starts a new one.
pub fn forget(path: &Path) {
    let _ = std::fs::remove_file(record_path(path));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_are_numbered_paths_under_the_database() {
        assert_eq!(
            url("s3://b/p/orders?endpoint=http://h:1", 3),
            "s3://b/p/orders/00000003?endpoint=http://h:1"
        );
        assert_eq!(next(&[]), 1);
        let one = Generation {
            number: 1,
            url: String::new(),
            first: None,
            last: None,
            max_txid: 0,
        };
        assert_eq!(next(&[one]), 2);
    }

    #[test]
    fn the_record_belongs_to_one_replica_url() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("orders.db");
        assert_eq!(recorded(&db, "file:///a"), None);
        record(&db, "file:///a", 4).unwrap();
        assert_eq!(recorded(&db, "file:///a"), Some(4));
        assert_eq!(recorded(&db, "file:///b"), None);
        assert!(record_path(&db).ends_with(".orders.db-replica"));
        forget(&db);
        assert_eq!(recorded(&db, "file:///a"), None);
    }

    fn time(text: &str) -> Time {
        Time::parse(text).unwrap_or_else(|| panic!("{text:?} is a time"))
    }

    #[test]
    fn times_are_seconds_since_the_epoch() {
        for (text, seconds) in [
            ("1970-01-01T00:00:00Z", 0),
            ("1969-12-31T23:59:59Z", -1),
            ("2000-01-01T00:00:00Z", 946_684_800),
            ("2024-02-29T12:00:00Z", 1_709_208_000),
            ("2026-12-01T15:04:05Z", 1_796_137_445),
            ("0001-01-01T00:00:00Z", -62_135_596_800),
            ("9999-12-31T23:59:59Z", 253_402_300_799),
        ] {
            assert_eq!(time(text).instant, (seconds, 0), "{text}");
        }
    }

    #[test]
    fn offsets_and_fractions_are_read_as_go_reads_them() {
        // A file:// replica dates its files in local time, with the offset.
        let utc = time("2026-03-29T00:30:00Z");
        assert_eq!(time("2026-03-29T02:30:00+02:00").instant, utc.instant);
        assert_eq!(time("2026-03-28T19:00:00-05:30").instant, utc.instant);
        assert_eq!(time("2026-03-29T00:30:00+00:00").instant, utc.instant);
        assert_eq!(
            time("2026-03-29T00:30:00.5Z").instant,
            (utc.instant.0, 500_000_000)
        );
        assert_eq!(
            time("2026-03-29T00:30:00.123456789Z").instant,
            (utc.instant.0, 123_456_789)
        );
        // Past nine digits, the rest is ignored.
        assert_eq!(
            time("2026-03-29T00:30:00.1234567891Z").instant,
            (utc.instant.0, 123_456_789)
        );
        assert_eq!(
            time("2026-03-29T00:30:00Z").as_str(),
            "2026-03-29T00:30:00Z"
        );
    }

    #[test]
    fn times_order_as_instants_not_as_text() {
        // As text, "Z" sorts after "." and after "+": the order of strings is wrong here.
        assert!(time("2026-01-01T00:00:00Z") < time("2026-01-01T00:00:00.1Z"));
        assert!(time("2026-01-01T01:30:00+02:00") < time("2026-01-01T00:00:00Z"));
        assert!(time("2026-01-01T00:00:00-01:00") > time("2026-01-01T00:30:00Z"));
        assert_eq!(
            time("2026-01-01T02:00:00+02:00"),
            time("2026-01-01T00:00:00Z")
        );
        let files = [
            "2026-01-01T00:00:01Z",
            "2026-01-01T01:59:59+02:00",
            "2026-01-01T00:00:00.5Z",
        ];
        let min = files.iter().filter_map(|t| Time::parse(t)).min().unwrap();
        assert_eq!(min.as_str(), "2026-01-01T01:59:59+02:00");
    }

    #[test]
    fn what_go_refuses_is_not_a_time() {
        for text in [
            "",
            "2026-12-01",
            "2026-12-01T15:04:05",
            "2026-12-01 15:04:05Z",
            "2026-12-01t15:04:05Z",
            "2026-12-01T15:04:05z",
            "2026-12-01T15:04Z",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T23:60:00Z",
            "2026-12-01T23:59:60Z",
            "2026-12-01T15:04:05+0200",
            "2026-12-01T15:04:05+02",
            "2026-12-01T15:04:05+24:00",
            "2026-12-01T15:04:05+02:60",
            "2026-12-01T15:04:05.Z",
            "2026-12-01T15:04:05ZZ",
            "2026-12-01T15:04:05Z ",
            "+2026-12-01T15:04:05Z",
            "2026-1２-01T15:04:05Z",
            "now",
        ] {
            assert_eq!(Time::parse(text), None, "{text:?}");
        }
        assert!(Time::parse("2000-02-29T00:00:00Z").is_some());
    }
}
