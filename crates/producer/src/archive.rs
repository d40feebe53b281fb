//! Archiving: each chosen track streamed from Zoom into the input bucket as it arrives, with
//! retries, and checked to be MP4 audio of the announced size (docs/zoom.md, "Downloading
//! recordings"). Nothing is buffered beyond the first bytes.

use std::time::Duration;

use futures_util::{stream, StreamExt};
use tokio::io::AsyncReadExt;
use tracing::warn;

use zoom_symbl_core::error::Retry;
use zoom_symbl_core::ports::ObjectStore;
use zoom_symbl_core::secret::SecretString;
use zoom_symbl_core::zoom::HostAllowList;

use crate::download::FetchError;
use crate::ports::Recordings;
use crate::sources::Source;

/// Where a meeting's originals go.
pub struct Originals<'a> {
    pub bucket: &'a str,
    /// Ends with `/`.
    pub prefix: &'a str,
}

/// Where one track goes.
struct Destination<'a> {
    bucket: &'a str,
    key: &'a str,
}

/// One track's archive: its key, and the bytes archived or why there are none.
pub type Archived = (String, Result<u64, FetchError>);

/// Fetches recordings through `downloads` into the object store.
pub struct Archiver<D> {
    pub downloads: D,
    allowed: HostAllowList,
    attempts: u32,
    backoff: Duration,
}

impl<D: Recordings> Archiver<D> {
    pub fn new(downloads: D, allowed: HostAllowList, attempts: u32, backoff: Duration) -> Self {
        Archiver {
            downloads,
            allowed,
            attempts: attempts.max(1),
            backoff,
        }
    }

    /// Archives the tracks in parallel (at most `concurrency` at once); results in input order.
    pub(crate) async fn archive_all<O: ObjectStore>(
        &self,
        objects: &O,
        sources: &[&Source],
        token: &SecretString,
        to: &Originals<'_>,
        concurrency: usize,
    ) -> Vec<Archived> {
        stream::iter(sources.iter().map(|src| {
            let key = original_key(to.prefix, src);
            async move {
                let dest = Destination {
                    bucket: to.bucket,
                    key: &key,
                };
                let r = self.archive(objects, src, token, dest).await;
                (key, r)
            }
        }))
        .buffered(concurrency.max(1))
        .collect()
        .await
    }

    /// Streams one track into its destination, retrying what may succeed later with exponential
    /// backoff and jitter. Returns the bytes archived.
    async fn archive<O: ObjectStore>(
        &self,
        objects: &O,
        src: &Source,
        token: &SecretString,
        dest: Destination<'_>,
    ) -> Result<u64, FetchError> {
        let url = self
            .allowed
            .check(&src.url)
            .map_err(|e| FetchError::Refused(e.to_string()))?;
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.once(objects, &url, token, src.size, &dest).await {
                Err(e) if e.retry() == Retry::Retryable && attempt < self.attempts => {
                    let jitter = rand::random::<f64>() * 0.5 + 0.75;
                    let wait = self.backoff.mul_f64(2f64.powi(attempt as i32 - 1) * jitter);
                    warn!(error = %e, attempt, wait_ms = wait.as_millis() as u64, key = dest.key, "download failed; retrying");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    async fn once<O: ObjectStore>(
        &self,
        objects: &O,
        url: &url::Url,
        token: &SecretString,
        expected: u64,
        dest: &Destination<'_>,
    ) -> Result<u64, FetchError> {
        let file = self.downloads.open(url, token).await?;
        if file.content_type.starts_with("text/html") {
            return Err(FetchError::NotAudio("an HTML page instead of audio".into()));
        }
        if let Some(got) = file.length.filter(|&len| len < expected) {
            return Err(FetchError::Truncated { got, expected });
        }
        let mut body = file.body;
        let mut head = [0u8; 12];
        let got = crate::merge::read_full(&mut body, &mut head)
            .await
            .map_err(|e| FetchError::Transfer(e.to_string()))?;
        check_container(&head[..got])?;
        let written = objects
            .put_stream(dest.bucket, dest.key, "audio/mp4", (&head[..got]).chain(body))
            .await
            .map_err(|e| FetchError::Transfer(e.to_string()))?;
        if written < expected {
            return Err(FetchError::Truncated { got: written, expected });
        }
        Ok(written)
    }
}

/// Where a track's original is archived under `prefix` (a replay finds it there again).
pub fn original_key(prefix: &str, src: &Source) -> String {
    format!("{prefix}{:02}-{}.m4a", src.index + 1, safe_id(&src.file_id))
}

/// The originals an earlier run archived under `prefix`, in source order, as if archived
/// now: a replay downloads nothing. A missing one is left out with its reason.
pub(crate) async fn find_archived<O: ObjectStore>(
    objects: &O,
    bucket: &str,
    prefix: &str,
    sources: &[&Source],
) -> Result<Vec<Archived>, zoom_symbl_core::Error> {
    let mut found = Vec::with_capacity(sources.len());
    for src in sources {
        let key = original_key(prefix, src);
        let size = objects.size(bucket, &key).await?;
        found.push((key, size.ok_or(FetchError::NotArchived)));
    }
    Ok(found)
}

/// An MP4/M4A file starts with a box whose type, at offset 4, is `ftyp`.
pub fn check_container(head: &[u8]) -> Result<(), FetchError> {
    if head.len() >= 8 && &head[4..8] == b"ftyp" {
        return Ok(());
    }
    let looks_html = head
        .iter()
        .skip_while(|b| b.is_ascii_whitespace())
        .take(1)
        .any(|b| *b == b'<');
    Err(FetchError::NotAudio(if looks_html {
        "an HTML page instead of audio".into()
    } else {
        "not an MP4/M4A container".into()
    }))
}

/// A file id as it may appear in an object key.
fn safe_id(id: &str) -> String {
    let s: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(64)
        .collect();
    if s.is_empty() {
        "track".into()
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_check() {
        assert_eq!(check_container(b"\0\0\0\x20ftypM4A \0\0"), Ok(()));
        assert_eq!(
            check_container(b"  <!DOCTYPE html>"),
            Err(FetchError::NotAudio("an HTML page instead of audio".into()))
        );
        assert_eq!(
            check_container(b"ID3\x04"),
            Err(FetchError::NotAudio("not an MP4/M4A container".into()))
        );
        assert!(check_container(b"").is_err());
    }

    #[test]
    fn ids_are_safe_in_keys() {
        assert_eq!(safe_id("a1a1-0001_x"), "a1a1-0001_x");
        assert_eq!(safe_id("../../etc"), "etc");
        assert_eq!(safe_id("///"), "track");
    }
}
