//! The S3 object-store adapter against the local stack: streamed uploads of any size come
//! back byte for byte, and presigned URLs fetch them.

use e2e::{http, Stack};
use zoom_symbl_core::aws::objects::{S3Objects, PART_SIZE};
use zoom_symbl_core::ports::ObjectStore;

async fn round_trip(len: usize) {
    let stack = Stack::load();
    let objects = S3Objects::new(&stack.aws().await);
    // Deterministic, non-repeating bytes, so a misplaced part cannot go unnoticed.
    let data: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let bucket = stack.output("OutputBucketName");
    let key = format!("meetings/test-objects/{}-{len}.bin", uuid::Uuid::new_v4().simple());
    let written = objects
        .put_stream(bucket, &key, "application/octet-stream", data.as_slice())
        .await
        .unwrap();
    assert_eq!(written, len as u64);
    assert!(
        stack.object(bucket, &key).await.unwrap() == data,
        "object differs after upload ({len} bytes)"
    );
    let url = objects
        .presign_get(bucket, &key, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    let fetched = http().get(&url).send().await.unwrap().bytes().await.unwrap();
    assert!(fetched.as_ref() == data.as_slice(), "presigned GET differs");
}

#[tokio::test]
async fn small_objects_go_in_one_put() {
    round_trip(1234).await;
}

#[tokio::test]
async fn large_objects_stream_in_parts_and_keep_their_order() {
    round_trip(PART_SIZE * 5 + 4321).await;
}

#[tokio::test]
async fn an_exact_multiple_of_the_part_size() {
    round_trip(PART_SIZE * 2).await;
}
