//! Taking a snapshot of a whole etcd through the maintenance API, streamed to a writer.
//!
//! The server (etcd 3.4 to 3.6, `v3rpc/maintenance.go`) sends the bbolt file in chunks and
//! then one last message holding the SHA-256 of every byte before it; `etcdctl snapshot
//! save` stores the stream as it comes, trailer included, and `snapshot restore` checks the
//! trailer when `size % 512 == 32`. This module does the same: every byte goes to the
//! writer as it arrives (memory stays at one chunk, whatever the size of the database),
//! and the last 32 bytes are checked against the SHA-256 of the bytes before them. A
//! stream that ends early, or whose trailer does not match, is an error: the caller must
//! then discard what was written.

use std::io::Write;

use sha2::{Digest, Sha256};

use super::error::{EtcdError, Phase};
use super::store::RealEtcd;

/// Size of the SHA-256 trailer the server appends.
pub const TRAILER_LEN: usize = 32;

/// What one snapshot produced.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotInfo {
    /// Bytes written, trailer included (what `etcdctl snapshot save` would store).
    pub bytes: u64,
    /// SHA-256 of every byte written, trailer included (the file's digest), from the same
    /// pass that checks the trailer.
    pub file_sha256: [u8; 32],
}

#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    #[error(transparent)]
    Etcd(#[from] EtcdError),
    /// The writer failed (disk full, file size limit, I/O error).
    #[error("writing the etcd snapshot: {0}")]
    Write(#[source] std::io::Error),
    #[error("the etcd snapshot stream ended after {bytes} bytes, too short to hold a database and its SHA-256 trailer")]
    Truncated { bytes: u64 },
    #[error("the etcd snapshot's SHA-256 trailer does not match its {bytes} bytes (trailer {trailer}, computed {computed}): the stream was damaged")]
    TrailerMismatch {
        bytes: u64,
        trailer: String,
        computed: String,
    },
}

/// Hashes a stream except its last [`TRAILER_LEN`] bytes, which it keeps aside.
struct TrailerCheck {
    body: Sha256,
    tail: Vec<u8>,
}

impl TrailerCheck {
    fn new() -> TrailerCheck {
        TrailerCheck {
            body: Sha256::new(),
            tail: Vec::with_capacity(2 * TRAILER_LEN),
        }
    }

    fn update(&mut self, chunk: &[u8]) {
        if chunk.len() >= TRAILER_LEN {
            // Everything held back so far is body, and so is the chunk but its last bytes.
            self.body.update(&self.tail);
            let (body, tail) = chunk.split_at(chunk.len() - TRAILER_LEN);
            self.body.update(body);
            self.tail.clear();
            self.tail.extend_from_slice(tail);
        } else {
            self.tail.extend_from_slice(chunk);
            if self.tail.len() > TRAILER_LEN {
                let extra = self.tail.len() - TRAILER_LEN;
                self.body.update(&self.tail[..extra]);
                self.tail.drain(..extra);
            }
        }
    }

    /// Whether the trailer matched; if so, the SHA-256 of the whole stream (body and
    /// trailer: the body's hash state carried on over the trailer, no second pass).
    fn finish(self, bytes: u64) -> Result<[u8; 32], SnapshotError> {
        if self.tail.len() < TRAILER_LEN || bytes <= TRAILER_LEN as u64 {
            return Err(SnapshotError::Truncated { bytes });
        }
        let mut whole = self.body.clone();
        whole.update(&self.tail);
        let computed: [u8; 32] = self.body.finalize().into();
        if computed[..] == self.tail[..] {
            Ok(whole.finalize().into())
        } else {
            Err(SnapshotError::TrailerMismatch {
                bytes: bytes - TRAILER_LEN as u64,
                trailer: hex::encode(&self.tail),
                computed: hex::encode(computed),
            })
        }
    }
}

impl RealEtcd {
    /// Streams a snapshot of the whole keyspace (every key, lease, user and role: etcd's
    /// database file) from the member the client picks into `out`, checking its SHA-256
    /// trailer. Each message must arrive within the request timeout; the whole transfer
    /// may take longer.
    pub fn snapshot_to(&self, out: &mut dyn Write) -> Result<SnapshotInfo, SnapshotError> {
        let (runtime, mut client, timeout, ctx) = self.maintenance();
        let classify = |e: &etcd_client::Error| ctx.classify(e, Phase::Request, "snapshot");
        let mut stream = runtime
            .block_on(async { tokio::time::timeout(timeout, client.snapshot()).await })
            .map_err(|_| EtcdError::Timeout {
                what: "snapshot (no answer)".to_owned(),
                endpoints: ctx.endpoints.to_vec(),
            })?
            .map_err(|e| classify(&e))?;
        let mut check = TrailerCheck::new();
        let mut bytes: u64 = 0;
        loop {
            let next = runtime
                .block_on(async { tokio::time::timeout(timeout, stream.message()).await })
                .map_err(|_| EtcdError::Timeout {
                    what: format!("snapshot (stalled after {bytes} bytes)"),
                    endpoints: ctx.endpoints.to_vec(),
                })?
                .map_err(|e| classify(&e))?;
            let Some(message) = next else { break };
            let blob = message.blob();
            out.write_all(blob).map_err(SnapshotError::Write)?;
            check.update(blob);
            bytes += blob.len() as u64;
        }
        out.flush().map_err(SnapshotError::Write)?;
        let file_sha256 = check.finish(bytes)?;
        Ok(SnapshotInfo { bytes, file_sha256 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_trailer(body: &[u8]) -> Vec<u8> {
        let mut v = body.to_vec();
        v.extend_from_slice(&Sha256::digest(body));
        v
    }

    fn check_in_chunks(stream: &[u8], chunk: usize) -> Result<[u8; 32], SnapshotError> {
        let mut c = TrailerCheck::new();
        for piece in stream.chunks(chunk) {
            c.update(piece);
        }
        c.finish(stream.len() as u64)
    }

    #[test]
    fn a_good_trailer_checks_out_whatever_the_chunking() {
        let body: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let stream = with_trailer(&body);
        for chunk in [1, 5, 31, 32, 33, 4096, 100_000] {
            let whole =
                check_in_chunks(&stream, chunk).unwrap_or_else(|e| panic!("chunk {chunk}: {e}"));
            assert_eq!(whole[..], Sha256::digest(&stream)[..], "chunk {chunk}");
        }
    }

    #[test]
    fn a_damaged_body_or_trailer_is_refused() {
        let body = vec![42u8; 5000];
        let mut stream = with_trailer(&body);
        stream[100] ^= 1;
        assert!(matches!(
            check_in_chunks(&stream, 4096),
            Err(SnapshotError::TrailerMismatch { bytes: 5000, .. })
        ));
        let mut stream = with_trailer(&body);
        let last = stream.len() - 1;
        stream[last] ^= 1;
        assert!(matches!(
            check_in_chunks(&stream, 7),
            Err(SnapshotError::TrailerMismatch { .. })
        ));
    }

    #[test]
    fn a_stream_without_room_for_a_trailer_is_truncated() {
        assert!(matches!(
            check_in_chunks(&[1u8; 20], 8),
            Err(SnapshotError::Truncated { bytes: 20 })
        ));
        // A body cut off so that its trailer is missing is a mismatch, never accepted.
        let stream = with_trailer(&[9u8; 4096]);
        assert!(check_in_chunks(&stream[..4096], 1024).is_err());
    }
}
