//! Where results go: standard output, or a file (`.output FILE`, `.once FILE`). Buffered,
//! and flushed after every statement, so rows stream out without a write per row.

use std::fs::File;
use std::io::{self, BufWriter, Write};

/// The shell's output.
#[derive(Default)]
pub struct Sink {
    /// `None`: standard output.
    file: Option<BufWriter<File>>,
    stdout: Option<BufWriter<io::Stdout>>,
    /// `.once`: back to standard output after the next statement or command.
    once: bool,
    /// The `.once` command itself is done before the statement it is for.
    just_redirected: bool,
}

impl Sink {
    pub fn stdout() -> Self {
        Self {
            file: None,
            stdout: Some(BufWriter::with_capacity(64 << 10, io::stdout())),
            once: false,
            just_redirected: false,
        }
    }

    /// Sends output to `path` (`once`: for the next statement only); `None`: standard output.
    pub fn redirect(&mut self, path: Option<&str>, once: bool) -> io::Result<()> {
        self.flush_now();
        self.file = match path {
            Some(path) => Some(BufWriter::new(File::create(path)?)),
            None => None,
        };
        self.once = once && self.file.is_some();
        self.just_redirected = self.once;
        Ok(())
    }

    /// Whether output goes to standard output (no `.output FILE`).
    pub fn is_stdout(&self) -> bool {
        self.file.is_none()
    }

    /// Flushes what is buffered.
    pub fn flush_now(&mut self) {
        let _ = self.flush();
    }

    /// A statement or command is done: flush, and end a `.once`.
    pub fn statement_done(&mut self) {
        self.flush_now();
        if std::mem::take(&mut self.just_redirected) {
            return;
        }
        if self.once {
            self.once = false;
            self.file = None;
        }
    }

    /// Flushes everything at exit.
    pub fn finish(&mut self) {
        self.flush_now();
        self.file = None;
    }

    fn target(&mut self) -> &mut dyn Write {
        if let Some(file) = &mut self.file {
            return file;
        }
        self.stdout
            .get_or_insert_with(|| BufWriter::with_capacity(64 << 10, io::stdout()))
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.target().write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(file) = &mut self.file {
            file.flush()?;
        }
        if let Some(stdout) = &mut self.stdout {
            stdout.flush()?;
        }
        Ok(())
    }
}
