//! A session's answers on their way to the client: frames wait in a buffer bounded in bytes
//! (`--session-max-buffered-bytes`) until tonic takes them, and a frame that cannot enter
//! before its request's deadline means the client has stopped reading.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use futures_core::Stream;
use prost::Message;
use sqlited_proto::v1::SessionResponse;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc};
use tonic::Status;

/// What a frame counts for at least: the bytes of its framing beside its message.
const FRAME_OVERHEAD: usize = 64;

/// Where a session's requests put their answers. Cheap to clone.
#[derive(Clone)]
pub(super) struct Outbox {
    frames: mpsc::UnboundedSender<Out>,
    /// One permit per buffered byte.
    bytes: Arc<Semaphore>,
    max_bytes: usize,
}

enum Out {
    Frame(SessionResponse, OwnedSemaphorePermit),
    /// The session ends with this status.
    End(Status),
}

/// The client stopped reading: a frame waited for room until its request's deadline.
pub(super) struct Stalled;

impl Outbox {
    /// An outbox holding at most `max_bytes` of frames, and the stream tonic sends from it.
    pub(super) fn new(max_bytes: usize) -> (Self, Outgoing) {
        let (frames, receiver) = mpsc::unbounded_channel();
        let outbox = Self {
            frames,
            bytes: Arc::new(Semaphore::new(max_bytes)),
            max_bytes,
        };
        (
            outbox,
            Outgoing {
                frames: receiver,
                ended: false,
            },
        )
    }

    /// Queues `frame`, waiting for room but not past `deadline`.
    pub(super) async fn send(
        &self,
        frame: SessionResponse,
        deadline: Option<Instant>,
    ) -> Result<(), Stalled> {
        let size = (frame.encoded_len() + FRAME_OVERHEAD).min(self.max_bytes);
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        let acquire = Arc::clone(&self.bytes).acquire_many_owned(size);
        let permit = match deadline {
            Some(deadline) => tokio::time::timeout_at(deadline.into(), acquire)
                .await
                .map_err(|_| Stalled)?,
            None => acquire.await,
        }
        .map_err(|_| Stalled)?;
        // A closed receiver means the client is gone; the session notices on its own.
        let _ = self.frames.send(Out::Frame(frame, permit));
        Ok(())
    }

    /// Ends the session with `status` after the frames already queued.
    pub(super) fn end(&self, status: Status) {
        let _ = self.frames.send(Out::End(status));
    }

    /// Whether no answer waits for the client (all taken by tonic, or none made).
    pub(super) fn is_empty(&self) -> bool {
        self.bytes.available_permits() == self.max_bytes
    }

    /// Resolves when tonic dropped the outgoing stream: the client is gone.
    pub(super) async fn closed(&self) {
        self.frames.closed().await;
    }
}

/// The response stream of a Session call.
pub struct Outgoing {
    frames: mpsc::UnboundedReceiver<Out>,
    ended: bool,
}

impl Stream for Outgoing {
    type Item = Result<SessionResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        match self.frames.poll_recv(cx) {
            // The permit goes with the frame's place in the buffer: tonic holds the frame now.
            Poll::Ready(Some(Out::Frame(frame, _permit))) => Poll::Ready(Some(Ok(frame))),
            Poll::Ready(Some(Out::End(status))) => {
                self.ended = true;
                Poll::Ready(Some(Err(status)))
            }
            Poll::Ready(None) => {
                self.ended = true;
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }
}
