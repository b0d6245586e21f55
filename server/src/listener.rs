//! Where the gRPC server listens (`--listen`): a TCP address, or a Unix domain socket
//! (`unix:/run/sqlited.sock`) for clients on the same host.
//!
//! A socket file is bound safely: a file at the path that is not a socket is refused, a socket
//! a live server answers on is refused, and only a stale one (nothing accepts on it: a server
//! that died) is replaced. The bound socket gets `--unix-socket-mode` (0660 by default: the
//! owner and the group may connect) and is removed when the server stops, unless another file
//! has taken its place meanwhile.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use tokio::net::{TcpListener, UnixListener};

/// What `--listen` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listen {
    /// `HOST:PORT` (port 0 picks a free one).
    Tcp(SocketAddr),
    /// `unix:PATH`: a Unix domain socket at `PATH`.
    Unix(PathBuf),
}

impl FromStr for Listen {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("unix:") {
            // `unix:///run/s.sock` and `unix:/run/s.sock` name the same file, as in gRPC's
            // target names.
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err("unix: needs a path, e.g. unix:/run/sqlited/sqlited.sock".into());
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        text.parse().map(Self::Tcp).map_err(|_| {
            format!(
                "{text:?} is neither HOST:PORT (e.g. 127.0.0.1:50051) nor unix:PATH \
                 (e.g. unix:/run/sqlited/sqlited.sock)"
            )
        })
    }
}

impl fmt::Display for Listen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Tcp(addr) => write!(f, "{addr}"),
            Self::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listener: the socket, and the socket file to remove when the server stops.
pub struct Listener {
    pub socket: Socket,
    pub file: Option<SocketFile>,
}

/// A bound socket of either kind.
pub enum Socket {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl Listener {
    /// Binds `listen`; a Unix socket gets the permission bits `mode`.
    ///
    /// # Errors
    /// A message saying why the address or the socket's path cannot be used, and what to do.
    pub async fn bind(listen: &Listen, mode: u32) -> Result<Self, String> {
        match listen {
            Listen::Tcp(addr) => TcpListener::bind(addr)
                .await
                .map(|listener| Self {
                    socket: Socket::Tcp(listener),
                    file: None,
                })
                .map_err(|err| format!("cannot listen on {addr}: {err}")),
            Listen::Unix(path) => bind_unix(path, mode),
        }
    }

    /// What the listener serves on, as `--listen` would name it (with the port the OS chose).
    pub fn local(&self) -> Listen {
        match (&self.socket, &self.file) {
            (Socket::Unix(_), Some(file)) => Listen::Unix(file.path.clone()),
            (Socket::Unix(listener), None) => Listen::Unix(
                listener
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(Path::to_path_buf))
                    .unwrap_or_default(),
            ),
            (Socket::Tcp(listener), _) => Listen::Tcp(
                listener
                    .local_addr()
                    .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0))),
            ),
        }
    }
}

/// The socket file this server bound, removed when dropped if it is still that file.
pub struct SocketFile {
    path: PathBuf,
    /// Device and inode of the bound socket: another server's socket at the same path, bound
    /// after ours was replaced, is left alone.
    identity: (u64, u64),
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|meta| (meta.dev(), meta.ino()) == self.identity);
        if ours && let Err(err) = std::fs::remove_file(&self.path) {
            tracing::warn!(path = %self.path.display(), error = %err,
                "cannot remove the Unix socket");
        }
    }
}

fn bind_unix(path: &Path, mode: u32) -> Result<Listener, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(meta) if !meta.file_type().is_socket() => {
            return Err(format!(
                "cannot listen on unix:{shown}: the path exists and is not a socket; \
                 remove it or choose another path"
            ));
        }
        Ok(_) => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "cannot listen on unix:{shown}: a server is listening on it; stop it \
                     or choose another path"
                ));
            }
            Err(err) if err.kind() == io::ErrorKind::ConnectionRefused => {
                // Nothing accepts on it: the socket of a server that died. Replace it.
                tracing::info!(path = %shown, "removing a stale Unix socket");
                std::fs::remove_file(path)
                    .map_err(|err| format!("cannot remove the stale socket {shown}: {err}"))?;
            }
            Err(err) => {
                return Err(format!(
                    "cannot listen on unix:{shown}: a socket is there and cannot be probed \
                     ({err}); remove it if no server uses it"
                ));
            }
        },
        Err(err) if err.kind() == io::ErrorKind::NotFound => {}
        Err(err) => return Err(format!("cannot listen on unix:{shown}: {err}")),
    }
    let listener =
        UnixListener::bind(path).map_err(|err| format!("cannot listen on unix:{shown}: {err}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|err| format!("cannot set the mode of the socket {shown}: {err}"))?;
    let meta = std::fs::symlink_metadata(path)
        .map_err(|err| format!("cannot read back the socket {shown}: {err}"))?;
    Ok(Listener {
        socket: Socket::Unix(listener),
        file: Some(SocketFile {
            path: path.to_path_buf(),
            identity: (meta.dev(), meta.ino()),
        }),
    })
}

/// An octal mode such as `660` or `0o600`, for `--unix-socket-mode`.
pub fn parse_mode(text: &str) -> Result<u32, String> {
    let digits = text.trim().trim_start_matches("0o");
    match u32::from_str_radix(digits, 8) {
        Ok(mode) if mode <= 0o777 => Ok(mode),
        _ => Err(format!(
            "{text:?} is not a file mode; write octal permission bits, e.g. 660 or 600"
        )),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(
            "unix:/run/s.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/s.sock".into())
        );
        assert_eq!(
            "unix:///run/s.sock".parse::<Listen>().unwrap(),
            Listen::Unix("/run/s.sock".into())
        );
        assert_eq!(
            "unix:rel.sock".parse::<Listen>().unwrap(),
            Listen::Unix("rel.sock".into())
        );
        assert!("unix:".parse::<Listen>().is_err());
        assert!("localhost".parse::<Listen>().is_err());
        assert_eq!(
            "127.0.0.1:1".parse::<Listen>().unwrap().to_string(),
            "127.0.0.1:1"
        );
        assert_eq!(
            Listen::Unix("/a b".into()).to_string(),
            "unix:/a b".to_string()
        );
        assert_eq!(parse_mode("660"), Ok(0o660));
        assert_eq!(parse_mode("0o600"), Ok(0o600));
        assert!(parse_mode("999").is_err());
        assert!(parse_mode("1777").is_err());
    }
}
