//! S3 as a streaming object store: uploads never hold more than one part in memory.

use std::time::Duration;

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use futures_util::stream::{FuturesUnordered, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::sdk_error;
use crate::ports::ObjectStore;
use crate::{Error, Result};

/// 8 MiB parts: above S3's 5 MiB minimum, and 10 000 parts cover 80 GB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;

/// Parts uploading at once; memory stays under (this + 1) parts.
pub const PARTS_IN_FLIGHT: usize = 4;

#[derive(Clone)]
pub struct S3Objects {
    client: Client,
}

impl S3Objects {
    /// Path-style addressing when an endpoint override is set (the local stack).
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        let mut builder = aws_sdk_s3::config::Builder::from(config);
        if config.endpoint_url().is_some() {
            builder = builder.force_path_style(true);
        }
        S3Objects {
            client: Client::from_conf(builder.build()),
        }
    }

    async fn abort(&self, bucket: &str, key: &str, upload_id: &str) {
        if let Err(e) = self
            .client
            .abort_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
        {
            tracing::warn!(error = %aws_sdk_s3::error::DisplayErrorContext(&e), key, "could not abort multipart upload");
        }
    }

    /// Uploads the stream's parts, up to [`PARTS_IN_FLIGHT`] at a time while the next one is
    /// read, so a large object is not paced by one request's round trip.
    async fn upload_parts<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        first: Vec<u8>,
        body: &mut R,
    ) -> Result<(u64, Vec<CompletedPart>)> {
        let mut in_flight = FuturesUnordered::new();
        let mut parts = Vec::new();
        let mut total = 0u64;
        let mut number = 0;
        let mut chunk = first;
        while !chunk.is_empty() {
            number += 1;
            total += chunk.len() as u64;
            let request = self
                .client
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .body(ByteStream::from(chunk));
            in_flight.push(async move {
                let out = request.send().await.map_err(|e| sdk_error("s3", e))?;
                Ok::<_, Error>(
                    CompletedPart::builder()
                        .part_number(number)
                        .set_e_tag(out.e_tag)
                        .build(),
                )
            });
            if in_flight.len() >= PARTS_IN_FLIGHT {
                if let Some(done) = in_flight.next().await {
                    parts.push(done?);
                }
            }
            chunk = read_chunk(body).await?;
        }
        while let Some(done) = in_flight.next().await {
            parts.push(done?);
        }
        parts.sort_by_key(|p| p.part_number());
        Ok((total, parts))
    }
}

/// Fills up to one part; shorter only at end of stream.
async fn read_chunk<R: AsyncRead + Unpin>(body: &mut R) -> Result<Vec<u8>> {
    let mut buf = Vec::with_capacity(PART_SIZE);
    let mut limited = body.take(PART_SIZE as u64);
    limited
        .read_to_end(&mut buf)
        .await
        .map_err(|e| Error::retryable("upload source", e))?;
    Ok(buf)
}

impl ObjectStore for S3Objects {
    async fn put_stream<R: AsyncRead + Unpin + Send>(
        &self,
        bucket: &str,
        key: &str,
        content_type: &str,
        mut body: R,
    ) -> Result<u64> {
        let first = read_chunk(&mut body).await?;
        if first.len() < PART_SIZE {
            let len = first.len() as u64;
            self.client
                .put_object()
                .bucket(bucket)
                .key(key)
                .content_type(content_type)
                .body(ByteStream::from(first))
                .send()
                .await
                .map_err(|e| sdk_error("s3", e))?;
            return Ok(len);
        }
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(bucket)
            .key(key)
            .content_type(content_type)
            .send()
            .await
            .map_err(|e| sdk_error("s3", e))?;
        let upload_id = upload
            .upload_id()
            .ok_or_else(|| Error::retryable("s3", "no upload id"))?
            .to_owned();
        match self.upload_parts(bucket, key, &upload_id, first, &mut body).await {
            Ok((total, parts)) => {
                let done = self
                    .client
                    .complete_multipart_upload()
                    .bucket(bucket)
                    .key(key)
                    .upload_id(&upload_id)
                    .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
                    .send()
                    .await;
                match done {
                    Ok(_) => Ok(total),
                    Err(e) => {
                        self.abort(bucket, key, &upload_id).await;
                        Err(sdk_error("s3", e))
                    }
                }
            }
            Err(e) => {
                self.abort(bucket, key, &upload_id).await;
                Err(e)
            }
        }
    }

    async fn presign_get(&self, bucket: &str, key: &str, ttl: Duration) -> Result<String> {
        let config = PresigningConfig::expires_in(ttl).map_err(|e| Error::Config(format!("presign ttl: {e}")))?;
        let req = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| sdk_error("s3", e))?;
        Ok(req.uri().to_owned())
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>> {
        let out = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| super::sdk_error("s3", e))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| Error::retryable("s3", format!("reading {key}: {e}")))?;
        Ok(body.into_bytes().to_vec())
    }

    async fn size(&self, bucket: &str, key: &str) -> Result<Option<u64>> {
        match self.client.head_object().bucket(bucket).key(key).send().await {
            Ok(out) => Ok(Some(
                out.content_length().and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            )),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(sdk_error("s3", e)),
        }
    }
}
