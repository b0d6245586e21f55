//! The pager: a result taller than the screen, printed to a terminal, goes through `$PAGER`
//! (default `less -FRX` when installed).
//!
//! A result's output is held only until it is known to be taller than the screen — at most
//! a screen of lines — then the pager starts with what was held, and every later byte
//! streams into its standard input, so memory stays bounded whatever the result size. When
//! the user leaves the pager early, [`Page::gone`] says so and the shell stops reading the
//! result (which cancels the call).

use std::io::{self, Write};
use std::process::{Child, Command, Stdio};

/// Which pager to run, if any: `$PAGER` (empty: none), else `less -FRX` if it is installed.
pub fn command() -> Option<String> {
    match std::env::var("PAGER") {
        Ok(pager) => Some(pager).filter(|p| !p.trim().is_empty()),
        Err(_) => {
            let path = std::env::var_os("PATH")?;
            std::env::split_paths(&path)
                .any(|dir| dir.join("less").is_file())
                .then(|| "less -FRX".to_string())
        }
    }
}

/// The terminal's rows and columns, from standard output.
pub fn screen() -> Option<(usize, usize)> {
    // SAFETY: TIOCGWINSZ fills the winsize it is given and reads nothing else.
    let mut size: libc::winsize = unsafe { std::mem::zeroed() };
    let ok = unsafe { libc::ioctl(libc::STDOUT_FILENO, libc::TIOCGWINSZ, &mut size) } == 0;
    (ok && size.ws_row > 0 && size.ws_col > 0)
        .then(|| (usize::from(size.ws_row), usize::from(size.ws_col)))
}

/// One result's output: straight to `out`, or through the pager once it is taller than the
/// screen.
pub struct Page<'a> {
    out: &'a mut dyn Write,
    /// What to run and the screen, when paging is on; `None`: write to `out` as it comes.
    pager: Option<(String, usize, usize)>,
    held: Vec<u8>,
    /// Screen lines taken by `held` (long lines wrap), and the length of the last one.
    lines: usize,
    column: usize,
    child: Option<Child>,
    gone: bool,
}

impl<'a> Page<'a> {
    /// `pager`: the command and the screen (rows, columns), or `None` for no paging.
    pub fn new(out: &'a mut dyn Write, pager: Option<(String, usize, usize)>) -> Self {
        Self {
            out,
            pager,
            held: Vec::new(),
            lines: 0,
            column: 0,
            child: None,
            gone: false,
        }
    }

    /// Whether the user left the pager before the end: nothing more is wanted.
    pub fn gone(&self) -> bool {
        self.gone
    }

    /// Ends the output: what is held goes to `out`, or the pager gets its end and the shell
    /// waits for the user to leave it.
    pub fn finish(mut self) -> io::Result<()> {
        if self.child.is_none() {
            self.out.write_all(&std::mem::take(&mut self.held))?;
        }
        Ok(())
    }

    /// Counts the screen lines `buf` takes; starts the pager when they exceed the screen
    /// (one line is kept for the prompt).
    fn hold(&mut self, buf: &[u8]) -> io::Result<()> {
        let Some((command, rows, columns)) = &self.pager else {
            return self.out.write_all(buf);
        };
        self.held.extend_from_slice(buf);
        for &byte in buf {
            if byte == b'\n' {
                self.lines += 1;
                self.column = 0;
            } else if byte & 0xC0 != 0x80 {
                // A character (not a UTF-8 continuation byte).
                self.column += 1;
                if self.column > *columns {
                    self.lines += 1;
                    self.column = 1;
                }
            }
        }
        if self.lines < *rows {
            return Ok(());
        }
        // Anything the shell printed before this result comes first on the screen.
        self.out.flush()?;
        let child = Command::new("sh")
            .args(["-c", command])
            .stdin(Stdio::piped())
            .spawn();
        let held = std::mem::take(&mut self.held);
        match child {
            Ok(child) => {
                self.child = Some(child);
                self.send_to_pager(&held)
            }
            Err(err) => {
                eprintln!("note: cannot run the pager {command:?}: {err}");
                self.pager = None;
                self.out.write_all(&held)
            }
        }
    }

    fn send_to_pager(&mut self, buf: &[u8]) -> io::Result<()> {
        if self.gone {
            return Ok(());
        }
        let stdin = self.child.as_mut().and_then(|c| c.stdin.as_mut());
        match stdin.map(|stdin| stdin.write_all(buf)) {
            Some(Err(err)) if err.kind() == io::ErrorKind::BrokenPipe => {
                self.gone = true;
                Ok(())
            }
            Some(result) => result,
            None => Ok(()),
        }
    }
}

/// Also when the statement is interrupted: the pager is never left running under the prompt.
impl Drop for Page<'_> {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

impl Write for Page<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        // After the user left the pager, the rest is dropped: nobody will read it.
        if self.child.is_some() {
            self.send_to_pager(buf)?;
        } else if !self.gone {
            self.hold(buf)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn a_short_result_is_not_paged() -> io::Result<()> {
        let mut out = Vec::new();
        let mut page = Page::new(&mut out, Some(("false".into(), 5, 10)));
        page.write_all(b"1\n2\n3\n4\n")?;
        assert!(page.child.is_none());
        page.finish()?;
        assert_eq!(out, b"1\n2\n3\n4\n");
        Ok(())
    }

    #[test]
    fn long_lines_count_as_the_lines_they_wrap_to() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let file = dir.path().join("paged");
        let command = format!("cat > '{}'", file.display());
        let mut out = Vec::new();
        let mut page = Page::new(&mut out, Some((command, 2, 4)));
        // One line of text, but two screen lines ("abcd", "é"), fill a screen of two.
        page.write_all("abcdé\nx".as_bytes())?;
        assert!(page.child.is_some());
        page.write_all(b"\nmore\n")?;
        page.finish()?;
        assert!(out.is_empty());
        assert_eq!(std::fs::read_to_string(&file)?, "abcdé\nx\nmore\n");
        Ok(())
    }

    #[test]
    fn a_pager_that_quits_early_is_gone() -> io::Result<()> {
        let mut out = Vec::new();
        let mut page = Page::new(&mut out, Some(("true".into(), 2, 80)));
        let line = [b'x'; 1023];
        for _ in 0..1000 {
            page.write_all(&line)?;
            page.write_all(b"\n")?;
            if page.gone() {
                break;
            }
        }
        assert!(page.gone());
        page.finish()
    }
}
