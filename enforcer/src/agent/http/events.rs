//! `GET /v1/events`: the service's denial events as NDJSON, one [`EventLine`] a line.

use std::convert::Infallible;

use axum::body::Bytes;
use futures_util::{stream, Stream};
use tokio::sync::{
    broadcast::{self, error::RecvError},
    watch,
};

use crate::agent::api::{EventLine, EventRecord};

/// The `Content-Type` of the stream.
pub(super) const CONTENT_TYPE: &str = "application/x-ndjson";

/// The lines of `events` until the service closes it or `stopping` turns true (the server
/// waits for open responses when it shuts down, so this one must end by itself). A reader
/// that falls behind gets `{"lagged": N}` and goes on with the oldest event still queued.
pub(super) fn event_lines(
    events: broadcast::Receiver<EventRecord>,
    stopping: watch::Receiver<bool>,
) -> impl Stream<Item = Result<Bytes, Infallible>> + Send {
    stream::unfold(
        (events, stopping),
        |(mut events, mut stopping)| async move {
            let line = tokio::select! {
                received = events.recv() => match received {
                    Ok(record) => EventLine::Event(record),
                    Err(RecvError::Lagged(lagged)) => EventLine::Lagged { lagged },
                    Err(RecvError::Closed) => return None,
                },
                // A dropped sender means the server is gone too.
                _ = stopping.wait_for(|stop| *stop) => return None,
            };
            Some((Ok(ndjson(&line)), (events, stopping)))
        },
    )
}

fn ndjson(line: &EventLine) -> Bytes {
    let mut bytes = serde_json::to_vec(line).expect("an event line is plain JSON");
    bytes.push(b'\n');
    Bytes::from(bytes)
}
