//! Object storage in memory, standing in for [`S3Objects`](crate::aws::objects::S3Objects).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use tokio::io::AsyncReadExt;

use super::{Faults, Knobs};
use crate::ports::ObjectStore;
use crate::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub struct StoredObject {
    pub content_type: String,
    pub bytes: Vec<u8>,
}

#[derive(Debug, Default)]
pub struct MemObjects {
    /// (bucket, key) -> object; a put replaces it.
    pub objects: Mutex<BTreeMap<(String, String), StoredObject>>,
    /// Every put, as `bucket/key`.
    pub puts: Mutex<Vec<String>>,
    /// Every presigned URL handed out, as `bucket/key`.
    pub presigned: Mutex<Vec<String>>,
    pub knobs: Knobs,
}

impl MemObjects {
    pub fn object(&self, bucket: &str, key: &str) -> Option<StoredObject> {
        self.objects.lock().unwrap().get(&(bucket.into(), key.into())).cloned()
    }

    fn enter(&self, op: &'static str) -> Result<()> {
        if self.knobs.hit(Self::NAME, op) {
            return Err(Error::retryable("s3", "503 Slow Down (testkit)"));
        }
        Ok(())
    }
}

impl Faults for MemObjects {
    const NAME: &'static str = "MemObjects";
    const OPS: &'static [&'static str] = &["put_stream", "presign_get", "get", "size"];

    fn knobs(&self) -> &Knobs {
        &self.knobs
    }
}

impl ObjectStore for MemObjects {
    async fn put_stream<R: tokio::io::AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        mut body: R,
    ) -> Result<u64> {
        self.enter("put_stream")?;
        let mut bytes = Vec::new();
        body.read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::retryable("s3", format!("reading the body: {e}")))?;
        let written = bytes.len() as u64;
        self.puts.lock().unwrap().push(format!("{bucket}/{key}"));
        self.objects.lock().unwrap().insert(
            (bucket.into(), key.into()),
            StoredObject {
                content_type: content_type.into(),
                bytes,
            },
        );
        Ok(written)
    }

    /// Like S3's, a presigned URL does not need the object to exist yet.
    async fn presign_get(&self, bucket: &str, key: &str, ttl: Duration) -> Result<String> {
        self.enter("presign_get")?;
        self.presigned.lock().unwrap().push(format!("{bucket}/{key}"));
        Ok(format!(
            "https://{bucket}.s3.testkit.invalid/{key}?X-Amz-Expires={}&X-Amz-Signature=testkit",
            ttl.as_secs()
        ))
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        self.enter("get")?;
        self.object(bucket, key)
            .map(|o| o.bytes)
            .ok_or_else(|| Error::permanent("s3", format!("NoSuchKey: {bucket}/{key}")))
    }

    async fn size(&self, bucket: &str, key: &str) -> Result<Option<u64>> {
        self.enter("size")?;
        Ok(self.object(bucket, key).map(|o| o.bytes.len() as u64))
    }
}
