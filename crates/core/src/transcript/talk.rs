//! Who talked how long, for the email's talk-time line and the meeting page's bars: one
//! reading for both, so they never disagree.

use crate::meeting::ProducedAudio;

use super::Transcript;

/// One participant's talk time.
#[derive(Debug, Clone, PartialEq)]
pub struct TalkTime {
    pub name: String,
    pub seconds: f64,
}

/// Measured from each participant's speech for the `aws` provider (exact: their own track);
/// otherwise summed from the transcript's utterances, when there is one. In the meeting's
/// order (channel order, or first words); nameless speakers are left out.
pub fn talk_times(audio: &ProducedAudio, transcript: Option<&Transcript>) -> Vec<TalkTime> {
    let mut talk: Vec<TalkTime> = if audio.speech.is_empty() {
        let mut by_speaker: Vec<TalkTime> = Vec::new();
        for u in transcript.map(|t| t.utterances.as_slice()).unwrap_or_default() {
            let secs = (u.end - u.start).max(0.0);
            match by_speaker.iter_mut().find(|t| t.name == u.speaker) {
                Some(t) => t.seconds += secs,
                None => by_speaker.push(TalkTime {
                    name: u.speaker.clone(),
                    seconds: secs,
                }),
            }
        }
        by_speaker
    } else {
        audio
            .speech
            .iter()
            .map(|t| TalkTime {
                name: t.name.clone(),
                seconds: t.talk_seconds,
            })
            .collect()
    };
    talk.retain(|t| !t.name.trim().is_empty());
    talk
}

/// `m:ss`, or `h:mm:ss` from an hour.
pub fn clock(secs: f64) -> String {
    let s = if secs.is_finite() { secs.max(0.0) as u64 } else { 0 };
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::SpeechTrack;
    use crate::testkit::AudioBuilder;
    use crate::transcript::Utterance;

    fn utterance(speaker: &str, start: f64, end: f64) -> Utterance {
        Utterance {
            speaker: speaker.into(),
            start,
            end,
            text: "words".into(),
        }
    }

    #[test]
    fn without_a_speech_cut_the_transcript_is_summed_per_speaker_in_order_of_first_words() {
        let audio = AudioBuilder::sample().build();
        assert!(audio.speech.is_empty());
        let transcript = Transcript {
            utterances: vec![
                utterance("Mary-Jane", 1.0, 4.5),
                utterance("Dana", 3.0, 5.0),
                utterance("Mary-Jane", 6.0, 7.0),
                utterance(" ", 8.0, 9.0),
            ],
        };
        let talk = talk_times(&audio, Some(&transcript));
        assert_eq!(
            talk,
            vec![
                TalkTime {
                    name: "Mary-Jane".into(),
                    seconds: 4.5
                },
                TalkTime {
                    name: "Dana".into(),
                    seconds: 2.0
                },
            ]
        );
        assert!(talk_times(&audio, None).is_empty());
    }

    #[test]
    fn a_speech_cut_is_the_measure_whatever_the_transcript_says() {
        let mut audio = AudioBuilder::sample().build();
        let track = |index: u16, name: &str, talk_seconds: f64| SpeechTrack {
            index,
            name: name.into(),
            map_key: format!("meetings/k/speech/{index}.json"),
            flac_key: (talk_seconds > 0.0).then(|| format!("meetings/k/speech/{index}.flac")),
            talk_seconds,
        };
        audio.speech = vec![track(0, "Dana", 61.5), track(1, "Lei", 0.0)];
        let transcript = Transcript {
            utterances: vec![utterance("Dana", 0.0, 1.0)],
        };
        let talk = talk_times(&audio, Some(&transcript));
        assert_eq!(talk.len(), 2, "a participant who never spoke is still named");
        assert_eq!((talk[0].name.as_str(), talk[0].seconds), ("Dana", 61.5));
        assert_eq!((talk[1].name.as_str(), talk[1].seconds), ("Lei", 0.0));
    }

    #[test]
    fn clock_reads_minutes_then_hours() {
        assert_eq!(clock(0.0), "0:00");
        assert_eq!(clock(65.9), "1:05");
        assert_eq!(clock(3_725.0), "1:02:05");
        assert_eq!(clock(f64::NAN), "0:00");
        assert_eq!(clock(-3.0), "0:00");
    }
}
