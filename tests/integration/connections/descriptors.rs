//! A server out of file descriptors: every accept fails (EMFILE) while connections wait in
//! the listen queue. The accept loop neither spins nor stops: it backs off, logs the run once,
//! serves the connections it has, and accepts again once descriptors are free.

use std::time::Duration;

use tokio::net::TcpStream;

use super::raw::BOUND;
use crate::harness::{Server, eventually};

/// Sets the soft RLIMIT_NOFILE of process `pid` (the hard limit kept); the soft limit before.
fn set_open_files(pid: u32, soft: u64) -> u64 {
    let mut old = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain system calls on a process of ours, with valid pointers.
    let got = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            std::ptr::null(),
            &mut old,
        )
    };
    assert_eq!(got, 0, "prlimit: {}", std::io::Error::last_os_error());
    let new = libc::rlimit {
        rlim_cur: soft,
        rlim_max: old.rlim_max,
    };
    // SAFETY: as above.
    let set = unsafe {
        libc::prlimit(
            pid as libc::pid_t,
            libc::RLIMIT_NOFILE,
            &new,
            std::ptr::null_mut(),
        )
    };
    assert_eq!(set, 0, "prlimit: {}", std::io::Error::last_os_error());
    old.rlim_cur
}

/// The process's CPU time so far, in clock ticks (user + system, /proc/PID/stat).
fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime: fields 14 and 15 of the whole line, 12 and 13 after the name.
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

fn failed_accepts_logged(server: &Server) -> usize {
    server.log().matches("cannot accept connections").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_file_descriptors_the_server_backs_off_and_keeps_serving() {
    let server = Server::start();
    server.ensure_database("app");
    // A client connected before the limit, with its database open.
    let db = server.database("app").await;
    assert!(db.query_all("SELECT 1", ()).await.is_ok());
    let pid = server.pid();
    let open = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count() as u64;
    let before = set_open_files(pid, open + 3);
    // More connections than the server has descriptors left: the rest wait, unaccepted.
    let mut waiting = Vec::new();
    for _ in 0..16 {
        waiting.push(TcpStream::connect(server.addr()).await.unwrap());
    }
    eventually(BOUND, "failed accepts logged", || {
        std::future::ready(failed_accepts_logged(&server) > 0)
    })
    .await;
    let ticks = cpu_ticks(pid);
    // Time that must pass: accepts keep failing meanwhile, and the loop keeps retrying.
    let window = Duration::from_secs(2);
    tokio::time::sleep(window).await;
    let spent = cpu_ticks(pid) - ticks;
    let logged = failed_accepts_logged(&server);
    assert!(logged <= 2, "{logged} lines for one run of failed accepts");
    // Clock ticks are 1/100 s: a loop spinning on accept would spend about 200 of them.
    assert!(spent < 100, "{spent} ticks of CPU in {window:?} while out of descriptors");
    // The connection it has is served.
    assert!(db.query_all("SELECT 2", ()).await.is_ok());
    // Descriptors back: waiting connections are accepted, and new ones served.
    drop(waiting);
    set_open_files(pid, before);
    let served = eventually(BOUND, "a new client served again", || async {
        let client = sqlited_client::Client::connect(&server.url())
            .await
            .map_err(|e| e.to_string())?;
        client
            .database("app")
            .query_all("SELECT 3", ())
            .await
            .map_err(|e| e.to_string())
    })
    .await;
    assert_eq!(served.len(), 1);
    assert!(server.log().contains("accepting connections again"));
}
