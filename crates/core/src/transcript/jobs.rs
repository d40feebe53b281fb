//! Transcription job names and Transcribe's state-change events.
//!
//! A job's name is the whole of its identity at Transcribe: derived from the stack, the
//! meeting, its run and the participant, a repeated start of the same job is refused as a
//! conflict (exactly once by construction), and the stack's EventBridge rule selects its own
//! jobs by the name's prefix.

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::meeting_key::MeetingKey;

/// Transcribe allows `[0-9a-zA-Z._-]`, at most 200 characters.
const MAX_NAME: usize = 200;
/// Hex digits of the meeting key's digest in a name: 96 bits, no collision in practice.
const DIGEST_HEX: usize = 24;

/// Whose speech a job transcribes: a participant's channel, or the mixed track.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobSubject {
    Participant(u16),
    Mixed,
}

/// The prefix of every job of this stack: what the EventBridge rule filters on.
pub fn name_prefix(stack: &str) -> String {
    let mut clean: String = stack
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '-' })
        .collect();
    // Room for the rest of the name.
    clean.truncate(MAX_NAME - DIGEST_HEX - 24);
    format!("{clean}-")
}

/// The job's name: `<stack>-<digest of the meeting key>-r<run>-p<k>` (or `-mixed`). The key
/// itself may hold `/` and `+`, which Transcribe refuses, hence the digest.
pub fn job_name(stack: &str, key: &MeetingKey, run: u32, subject: JobSubject) -> String {
    name_in(&run_job_id(stack, key, run), subject)
}

/// What the pipeline records as the run's one job: the names of its Transcribe jobs without
/// their subject (`<stack>-<digest>-r<run>`).
pub fn run_job_id(stack: &str, key: &MeetingKey, run: u32) -> String {
    let digest = hex::encode(Sha256::digest(key.as_str().as_bytes()));
    format!("{}{}-r{run}", name_prefix(stack), &digest[..DIGEST_HEX])
}

/// The Transcribe job of `subject` within the run's job.
pub fn name_in(run_job_id: &str, subject: JobSubject) -> String {
    format!("{run_job_id}-{}", subject.label())
}

/// The run's job a Transcribe job belongs to, and whose speech it is: `None` for a name this
/// pipeline does not make.
pub fn parse_name(name: &str) -> Option<(&str, JobSubject)> {
    let (run_job, who) = name.rsplit_once('-')?;
    Some((run_job, JobSubject::parse(who)?))
}

impl JobSubject {
    /// `p<k>` or `mixed`: the end of its job's name.
    pub fn label(self) -> String {
        match self {
            JobSubject::Participant(k) => format!("p{k}"),
            JobSubject::Mixed => "mixed".to_owned(),
        }
    }

    fn parse(label: &str) -> Option<Self> {
        match label {
            "mixed" => Some(JobSubject::Mixed),
            _ => label.strip_prefix('p')?.parse().ok().map(JobSubject::Participant),
        }
    }

    /// The run's subjects as recorded beside its job (`p0,p2` or `mixed`).
    pub fn encode_all(subjects: &[JobSubject]) -> String {
        subjects.iter().map(|s| s.label()).collect::<Vec<_>>().join(",")
    }

    pub fn decode_all(recorded: &str) -> Option<Vec<JobSubject>> {
        recorded.split(',').map(JobSubject::parse).collect()
    }
}

/// Where a job's transcript goes, under the meeting's prefix.
pub fn output_key(key: &MeetingKey, run: u32, subject: JobSubject) -> String {
    let who = match subject {
        JobSubject::Participant(k) => k.to_string(),
        JobSubject::Mixed => "mixed".to_owned(),
    };
    format!("{}transcripts/r{run}/{who}.json", key.s3_prefix())
}

/// What EventBridge delivers for `aws.transcribe` "Transcribe Job State Change".
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct JobStateChange {
    #[serde(rename = "TranscriptionJobName")]
    pub name: String,
    #[serde(rename = "TranscriptionJobStatus")]
    pub status: ChangedTo,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum ChangedTo {
    Completed,
    Failed,
    /// Queued or in progress: events for them are not ours to act on, but they parse.
    #[serde(other)]
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> MeetingKey {
        MeetingKey::from_uuid("tFpXbu/pQ9+zPgGteb/Krw==")
    }

    #[test]
    fn names_are_what_transcribe_allows_and_one_per_meeting_run_and_participant() {
        let name = job_name("zoom-symbl", &key(), 1, JobSubject::Participant(3));
        assert!(name.starts_with("zoom-symbl-"), "{name}");
        assert!(name.ends_with("-r1-p3"), "{name}");
        assert!(name.len() <= MAX_NAME);
        assert!(
            name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)),
            "{name}"
        );
        assert_eq!(
            name,
            job_name("zoom-symbl", &key(), 1, JobSubject::Participant(3)),
            "stable"
        );
        let others = [
            job_name("zoom-symbl", &key(), 2, JobSubject::Participant(3)),
            job_name("zoom-symbl", &key(), 1, JobSubject::Participant(4)),
            job_name("zoom-symbl", &key(), 1, JobSubject::Mixed),
            job_name(
                "zoom-symbl",
                &MeetingKey::from_uuid("another"),
                1,
                JobSubject::Participant(3),
            ),
            job_name("other-stack", &key(), 1, JobSubject::Participant(3)),
        ];
        assert!(others.iter().all(|o| *o != name));
    }

    #[test]
    fn a_long_or_odd_stack_name_still_makes_a_valid_prefix() {
        let prefix = name_prefix(&format!("my stack/{}", "x".repeat(300)));
        let name = job_name(&format!("my stack/{}", "x".repeat(300)), &key(), 99, JobSubject::Mixed);
        assert!(name.starts_with(&prefix) && name.len() <= MAX_NAME, "{name}");
        assert!(prefix.starts_with("my-stack-"));
    }

    #[test]
    fn transcripts_go_under_the_meetings_prefix_by_run() {
        assert_eq!(
            output_key(&key(), 2, JobSubject::Participant(1)),
            format!("{}transcripts/r2/1.json", key().s3_prefix())
        );
    }

    #[test]
    fn the_state_change_event_parses() {
        let detail = r#"{"TranscriptionJobName":"zoom-symbl-ab-r1-p0","TranscriptionJobStatus":"COMPLETED","x":1}"#;
        let change: JobStateChange = serde_json::from_str(detail).unwrap();
        assert_eq!(change.status, ChangedTo::Completed);
        let failed: JobStateChange =
            serde_json::from_str(r#"{"TranscriptionJobName":"n","TranscriptionJobStatus":"FAILED"}"#).unwrap();
        assert_eq!(failed.status, ChangedTo::Failed);
        let other: JobStateChange =
            serde_json::from_str(r#"{"TranscriptionJobName":"n","TranscriptionJobStatus":"IN_PROGRESS"}"#).unwrap();
        assert_eq!(other.status, ChangedTo::Other);
    }

    #[test]
    fn a_name_gives_back_its_run_job_and_subject() {
        let (k, stack) = (key(), "zoom-symbl");
        let run_job = run_job_id(stack, &k, 3);
        for subject in [
            JobSubject::Participant(0),
            JobSubject::Participant(17),
            JobSubject::Mixed,
        ] {
            let name = job_name(stack, &k, 3, subject);
            assert_eq!(name, name_in(&run_job, subject));
            assert_eq!(parse_name(&name), Some((run_job.as_str(), subject)));
        }
        assert_eq!(parse_name("someone-elses-job"), None);
        assert_eq!(parse_name("nodash"), None);
    }

    #[test]
    fn subjects_round_trip_as_recorded() {
        let all = [JobSubject::Participant(0), JobSubject::Participant(2)];
        assert_eq!(JobSubject::encode_all(&all), "p0,p2");
        assert_eq!(JobSubject::decode_all("p0,p2").as_deref(), Some(&all[..]));
        assert_eq!(JobSubject::decode_all("mixed"), Some(vec![JobSubject::Mixed]));
        assert_eq!(JobSubject::decode_all("p0,x"), None);
        assert_eq!(JobSubject::decode_all(""), None);
    }
}
