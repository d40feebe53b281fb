//! The merge plan: which track goes to which channel, how far it is delayed, and how long
//! the meeting is. Pure, so the alignment rules are tested without audio.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;

use zoom_symbl_core::Error;

/// A speaker whose archived pieces can be merged onto one channel.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackInput {
    pub name: String,
    pub pieces: Vec<PieceInput>,
}

/// One archived file of a speaker.
#[derive(Debug, Clone, PartialEq)]
pub struct PieceInput {
    pub start: OffsetDateTime,
    /// Where the decoder reads it from (presigned URL or path), filled in before merging.
    pub source: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ChannelPlan {
    /// 1-based, as Symbl's `channelMetadata` counts.
    pub channel: u16,
    pub name: String,
    /// By offset; each plays from its offset until it ends or the next one starts.
    pub pieces: Vec<PiecePlan>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct PiecePlan {
    pub source: String,
    /// Silence (or the previous piece) before this piece's first sample.
    pub offset_samples: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MergePlan {
    pub sample_rate: u32,
    /// Every channel is exactly this long: delayed, then padded to the meeting's end.
    pub total_samples: u64,
    pub channels: Vec<ChannelPlan>,
}

/// The meeting's time span, from every completed participant entry in the event (failed
/// downloads included, so one failure never shifts the others in time).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeline {
    pub origin: OffsetDateTime,
    pub end: OffsetDateTime,
}

impl Timeline {
    pub fn span<'a>(spans: impl IntoIterator<Item = (&'a OffsetDateTime, &'a OffsetDateTime)>) -> Result<Self, Error> {
        let mut it = spans.into_iter();
        let (s0, e0) = it
            .next()
            .ok_or_else(|| Error::Invalid("no participant tracks".into()))?;
        let (origin, end) = it.fold((*s0, *e0), |(o, e), (s, en)| (o.min(*s), e.max(*en)));
        if end <= origin {
            return Err(Error::Invalid("recording ends before it starts".into()));
        }
        Ok(Timeline { origin, end })
    }

    pub fn duration_secs(&self) -> f64 {
        (self.end - self.origin).as_seconds_f64()
    }
}

impl MergePlan {
    /// Channel k is the k-th track as given: the caller passes the same ordered list that
    /// feeds `channelMetadata`.
    pub fn new(timeline: Timeline, tracks: &[TrackInput], sample_rate: u32) -> Result<Self, Error> {
        if tracks.is_empty() || tracks.iter().any(|t| t.pieces.is_empty()) {
            return Err(Error::Invalid("nothing to merge".into()));
        }
        if tracks.len() > u16::MAX as usize {
            return Err(Error::Invalid("too many tracks".into()));
        }
        let to_samples = |secs: f64| (secs * sample_rate as f64).round().max(0.0) as u64;
        let channels = tracks
            .iter()
            .enumerate()
            .map(|(i, t)| {
                let mut pieces: Vec<PiecePlan> = t
                    .pieces
                    .iter()
                    .map(|p| PiecePlan {
                        source: p.source.clone(),
                        offset_samples: to_samples((p.start - timeline.origin).as_seconds_f64()),
                    })
                    .collect();
                pieces.sort_by_key(|p| p.offset_samples);
                ChannelPlan {
                    channel: i as u16 + 1,
                    name: t.name.clone(),
                    pieces,
                }
            })
            .collect();
        Ok(MergePlan {
            sample_rate,
            total_samples: to_samples(timeline.duration_secs()),
            channels,
        })
    }

    pub fn duration_secs(&self) -> f64 {
        self.total_samples as f64 / self.sample_rate as f64
    }

    /// Every channel's pieces in channel order: one decoder each.
    pub fn pieces(&self) -> impl Iterator<Item = &PiecePlan> {
        self.channels.iter().flat_map(|c| &c.pieces)
    }
}

pub fn parse_time(field: &str, value: &str) -> Result<OffsetDateTime, Error> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| Error::Invalid(format!("{field} is not RFC 3339: {value:?}")))
}

#[cfg(test)]
mod tests {
    use time::macros::datetime;

    use super::*;

    /// A one-piece track and its span.
    fn track(name: &str, start: OffsetDateTime, end: OffsetDateTime) -> (TrackInput, (OffsetDateTime, OffsetDateTime)) {
        let t = TrackInput {
            name: name.into(),
            pieces: vec![PieceInput {
                start,
                source: format!("s3://{name}"),
            }],
        };
        (t, (start, end))
    }

    fn offsets(plan: &MergePlan) -> Vec<(u16, &str, Vec<u64>)> {
        plan.channels
            .iter()
            .map(|c| {
                (
                    c.channel,
                    c.name.as_str(),
                    c.pieces.iter().map(|p| p.offset_samples).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn offsets_from_earliest_track_and_padding_to_the_latest_end() {
        // The sample event (events/): Dana from 18:00:07, Mary-Jane joins 18:03:40, 李雷 leaves at 18:30:02.
        let (tracks, spans): (Vec<_>, Vec<_>) = [
            track(
                "Dana Host",
                datetime!(2024-05-31 18:00:07 UTC),
                datetime!(2024-05-31 18:42:11 UTC),
            ),
            track(
                "Mary-Jane O'Neil",
                datetime!(2024-05-31 18:03:40 UTC),
                datetime!(2024-05-31 18:42:11 UTC),
            ),
            track(
                "李雷",
                datetime!(2024-05-31 18:00:09 UTC),
                datetime!(2024-05-31 18:30:02 UTC),
            ),
        ]
        .into_iter()
        .unzip();
        let timeline = Timeline::span(spans.iter().map(|(a, b)| (a, b))).unwrap();
        let plan = MergePlan::new(timeline, &tracks, 16_000).unwrap();
        assert_eq!(plan.total_samples, (42 * 60 + 4) * 16_000);
        assert_eq!(plan.duration_secs(), 2524.0);
        assert_eq!(
            offsets(&plan),
            [
                (1, "Dana Host", vec![0]),
                (2, "Mary-Jane O'Neil", vec![213 * 16_000]),
                (3, "李雷", vec![2 * 16_000])
            ]
        );
        assert_eq!(plan.channels[1].pieces[0].source, "s3://Mary-Jane O'Neil");
    }

    #[test]
    fn a_failed_track_still_defines_the_timeline_but_takes_no_channel() {
        let early = (datetime!(2024-01-01 10:00:00 UTC), datetime!(2024-01-01 10:30:00 UTC));
        let (b, bs) = track(
            "B",
            datetime!(2024-01-01 10:05:00 UTC),
            datetime!(2024-01-01 10:20:00 UTC),
        );
        let (c, cs) = track(
            "C",
            datetime!(2024-01-01 10:10:00 UTC),
            datetime!(2024-01-01 10:40:00 UTC),
        );
        // A (the earliest) failed to download: only B and C are merged, aligned to A's start.
        let timeline = Timeline::span([(&early.0, &early.1), (&bs.0, &bs.1), (&cs.0, &cs.1)]).unwrap();
        let plan = MergePlan::new(timeline, &[b, c], 8_000).unwrap();
        assert_eq!(
            plan.channels[0],
            ChannelPlan {
                channel: 1,
                name: "B".into(),
                pieces: vec![PiecePlan {
                    source: "s3://B".into(),
                    offset_samples: 300 * 8_000
                }],
            }
        );
        assert_eq!(offsets(&plan)[1], (2, "C", vec![600 * 8_000]));
        assert_eq!(plan.total_samples, 40 * 60 * 8_000);
    }

    #[test]
    fn a_restarted_speaker_has_each_piece_at_its_own_offset_in_time_order() {
        let origin = datetime!(2024-01-01 10:00:00 UTC);
        let piece = |start, source: &str| PieceInput {
            start,
            source: source.into(),
        };
        let restarted = TrackInput {
            name: "A".into(),
            pieces: vec![
                piece(datetime!(2024-01-01 10:20:00 UTC), "second"),
                piece(origin, "first"),
            ],
        };
        let end = datetime!(2024-01-01 10:30:00 UTC);
        let plan = MergePlan::new(Timeline::span([(&origin, &end)]).unwrap(), &[restarted], 10).unwrap();
        assert_eq!(offsets(&plan), [(1, "A", vec![0, 1200 * 10])]);
        let sources: Vec<_> = plan.pieces().map(|p| p.source.as_str()).collect();
        assert_eq!(sources, ["first", "second"]);
    }

    #[test]
    fn rejects_empty_and_inverted() {
        assert!(Timeline::span(std::iter::empty()).is_err());
        let (a, b) = (datetime!(2024-01-01 10:00:00 UTC), datetime!(2024-01-01 09:00:00 UTC));
        assert!(Timeline::span([(&a, &b)]).is_err());
        let t = Timeline { origin: b, end: a };
        assert!(MergePlan::new(t, &[], 16_000).is_err());
        let no_pieces = TrackInput {
            name: "A".into(),
            pieces: vec![],
        };
        assert!(MergePlan::new(t, &[no_pieces], 16_000).is_err());
        assert!(parse_time("recording_start", "yesterday").is_err());
        assert_eq!(
            parse_time("x", "2023-12-01T20:01:56Z").unwrap(),
            datetime!(2023-12-01 20:01:56 UTC)
        );
    }
}
