//! The meeting page's size and render time on the local stack, for a one-hour 8-person
//! meeting: `cargo run -q -p e2e --bin page-bench -- [VIEWS] [--out PATH]` (VIEWS = 20; results
//! also go to `target/bench/page.json`). A measurement tool, never a test; it asserts only that
//! the page it measures is the meeting's.
//!
//! Running a real hour through the aws provider takes most of an hour of producer and
//! Transcribe work for a page that reads two documents; so the bench writes what a finished
//! meeting of the aws provider leaves instead, in the shapes the notifier stores them: the
//! meeting's record (`status: transcribed`, its produced audio with eight speech tracks and
//! their talk time, `insights` naming the stored documents), `insights.json` and
//! `transcript.json` in the output bucket, and a mixdown object. The transcript is generated
//! (fixed seed): eight speakers of uneven share, about 150 words a minute, utterances cut as
//! the merge cuts them (a sentence end, at most 30 s), words of everyday English length.
//! The link is signed with the deployment's own page key (its secret) under the base URL the
//! notifier is given, as in the email.
//!
//! Measured, each on one keep-alive client, one request at a time after one discarded warm-up:
//!
//! * the page: VIEWS `GET`s, request sent to last byte read;
//! * the baseline, written the same way in the same run: the page of a short meeting (the
//!   hour's first three lines, no insights), VIEWS `GET`s: the same function, the same reads
//!   and presign, the same gateway; the ratio is what the hour's size costs;
//! * for reference, VIEWS `GET`s of the hour's URL with a wrong token (the function's 404: a
//!   JWT check, no AWS call). On ministack it is slower than a 200 (about 95 ms against 65 ms,
//!   through the gateway and through the Lambda Invoke API alike): the emulator's dispatch,
//!   not the function, so it is no floor here;
//! * in headless Chromium (desktop size): VIEWS navigations to each page, from navigation
//!   start to the load event's end (`performance` navigation timing).
//!
//! The documents and the record are removed at the end. Run it alone on the stack:
//! `flock -o /tmp/zs-stack.lock cargo run -q -p e2e --bin page-bench`.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use aws_sdk_dynamodb::types::AttributeValue;
use e2e::browser::{Browser, Viewport};
use e2e::{http, unix_now, Stack};
use serde_json::{json, Value};
use zoom_symbl_core::aws::secrets;
use zoom_symbl_core::config::secret_keys;
use zoom_symbl_core::insights::{Action, Insights, Question, Topic};
use zoom_symbl_core::meeting::SpeechTrack;
use zoom_symbl_core::meeting_key::MeetingKey;
use zoom_symbl_core::page_link::PageLinks;
use zoom_symbl_core::testkit::AudioBuilder;
use zoom_symbl_core::transcript::{Transcript, Utterance};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

const SPEAKERS: [(&str, f64); 8] = [
    ("Dana Host", 0.26),
    ("李雷", 0.17),
    ("José Álvarez", 0.14),
    ("Priya Natarajan", 0.12),
    ("Tom O'Brien", 0.10),
    ("Mei Chen", 0.09),
    ("Oluwaseun Adeyemi", 0.07),
    ("Sam Park", 0.05),
];
const MEETING_SECS: f64 = 3600.0;
const WORDS_PER_SEC: f64 = 2.5;

const WORDS: &[&str] = &[
    "the",
    "we",
    "to",
    "and",
    "a",
    "that",
    "is",
    "it",
    "of",
    "for",
    "on",
    "in",
    "this",
    "so",
    "I",
    "think",
    "just",
    "about",
    "have",
    "be",
    "with",
    "can",
    "do",
    "if",
    "what",
    "they",
    "but",
    "not",
    "like",
    "going",
    "know",
    "yeah",
    "right",
    "need",
    "there",
    "would",
    "release",
    "customer",
    "next",
    "week",
    "team",
    "numbers",
    "budget",
    "design",
    "review",
    "launch",
    "question",
    "really",
    "maybe",
    "should",
    "timeline",
    "dashboard",
    "migration",
    "because",
    "feedback",
    "meeting",
    "update",
    "everyone",
    "probably",
    "already",
    "testing",
    "support",
    "priority",
    "quarter",
    "pipeline",
    "contract",
    "before",
    "after",
    "Friday",
    "Monday",
    "sure",
    "people",
    "working",
    "problem",
    "change",
    "again",
    "around",
    "still",
    "looks",
    "good",
];

/// A small fixed-seed generator: the same meeting every run, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn sentence(rng: &mut Rng) -> String {
    let n = 5 + rng.below(14);
    let mut words: Vec<String> = (0..n).map(|_| WORDS[rng.below(WORDS.len())].to_owned()).collect();
    if let Some(first) = words.first_mut() {
        let mut c = first.chars();
        *first = c
            .next()
            .map(|f| f.to_uppercase().chain(c).collect())
            .unwrap_or_default();
    }
    let end = if rng.below(6) == 0 { "?" } else { "." };
    format!("{}{end}", words.join(" "))
}

/// An hour of eight people talking: turns by share, utterances of whole sentences, at most 30 s.
fn transcript(rng: &mut Rng) -> Transcript {
    let mut utterances = Vec::new();
    let mut at = 4.0;
    while at < MEETING_SECS - 10.0 {
        let mut pick = rng.unit();
        let speaker = SPEAKERS
            .iter()
            .find(|(_, share)| {
                pick -= share;
                pick < 0.0
            })
            .map_or(SPEAKERS[0].0, |(name, _)| name);
        // A turn: one to four utterances.
        for _ in 0..1 + rng.below(4) {
            let mut text = Vec::new();
            let mut words = 0usize;
            for _ in 0..1 + rng.below(3) {
                let s = sentence(rng);
                let n = s.split(' ').count();
                if !text.is_empty() && (words + n) as f64 / WORDS_PER_SEC > 30.0 {
                    break;
                }
                words += n;
                text.push(s);
            }
            let secs = words as f64 / WORDS_PER_SEC;
            utterances.push(Utterance {
                speaker: speaker.to_owned(),
                start: (at * 100.0).round() / 100.0,
                end: ((at + secs) * 100.0).round() / 100.0,
                text: text.join(" "),
            });
            at += secs + 0.6;
        }
        at += 0.4 + rng.unit();
    }
    Transcript { utterances }
}

fn insights(rng: &mut Rng) -> Insights {
    let para = |rng: &mut Rng| (0..4).map(|_| sentence(rng)).collect::<Vec<_>>().join(" ");
    let action = |rng: &mut Rng, i: usize| Action {
        text: sentence(rng),
        assignee: Some(SPEAKERS[i % SPEAKERS.len()].0.to_owned()),
        due_by: (i % 2 == 0).then(|| "2026-12-18".to_owned()),
        from: Some(SPEAKERS[(i + 3) % SPEAKERS.len()].0.to_owned()),
    };
    Insights {
        summary: (0..3).map(|_| para(rng)).collect(),
        topics: [
            "launch plan",
            "budget",
            "customer feedback",
            "migration",
            "hiring",
            "dashboard",
            "support load",
            "Q1 goals",
        ]
        .iter()
        .zip(["positive", "neutral", "negative"].iter().cycle())
        .map(|(t, s)| Topic {
            text: (*t).to_owned(),
            sentiment: Some((*s).to_owned()),
        })
        .collect(),
        questions: (0..6)
            .map(|i| Question {
                text: sentence(rng),
                from: Some(SPEAKERS[(i * 3) % SPEAKERS.len()].0.to_owned()),
            })
            .collect(),
        action_items: (0..8).map(|i| action(rng, i)).collect(),
        follow_ups: (0..4).map(|i| action(rng, i + 5)).collect(),
        ..Insights::default()
    }
}

struct Stats {
    median: f64,
    p90: f64,
    min: f64,
    max: f64,
}

fn stats(mut v: Vec<f64>) -> Stats {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| v[((v.len() - 1) as f64 * q).round() as usize];
    let median = if v.len() % 2 == 0 {
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    } else {
        v[v.len() / 2]
    };
    Stats {
        median,
        p90: at(0.9),
        min: v[0],
        max: v[v.len() - 1],
    }
}

fn row(name: &str, s: &Stats) -> Value {
    println!(
        "  {name:<34} median {:>7.1} ms   p90 {:>7.1}   min {:>7.1}   max {:>7.1}",
        s.median, s.p90, s.min, s.max
    );
    json!({ "median_ms": s.median, "p90_ms": s.p90, "min_ms": s.min, "max_ms": s.max })
}

/// `views` timed GETs of `url` (after one discarded), each to its last byte; the status and size seen.
async fn fetches(client: &reqwest::Client, url: &str, views: usize, want: u16) -> Result<(Vec<f64>, usize)> {
    let mut times = Vec::new();
    let mut size = 0;
    for i in 0..=views {
        let started = Instant::now();
        let r = client.get(url).send().await?;
        let status = r.status().as_u16();
        let body = r.bytes().await?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status != want {
            bail!("{url}: {status}, not {want}: {}", String::from_utf8_lossy(&body));
        }
        size = body.len();
        if i > 0 {
            times.push(ms);
        }
    }
    Ok((times, size))
}

/// `views` navigations to `url` (after one discarded): navigation start to load event end.
async fn renders(browser: &mut Browser, url: &str, views: usize) -> Result<Vec<f64>> {
    let mut times = Vec::new();
    for i in 0..=views {
        browser.navigate(url).await?;
        let ms = browser
            .eval(
                "(() => { const n = performance.getEntriesByType('navigation')[0]; \
                 return n && n.loadEventEnd > 0 ? n.loadEventEnd - n.startTime : null; })()",
            )
            .await?
            .as_f64()
            .context("no navigation timing")?;
        if i > 0 {
            times.push(ms);
        }
    }
    Ok(times)
}

#[tokio::main]
async fn main() -> Result<()> {
    let mut views = 20usize;
    let mut out = PathBuf::from(ROOT).join("target/bench/page.json");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => out = PathBuf::from(args.next().context("--out needs a path")?),
            "-h" | "--help" => {
                println!("page-bench [VIEWS] [--out PATH]");
                return Ok(());
            }
            n => views = n.parse().with_context(|| format!("{n:?} is not a number of views"))?,
        }
    }
    if views == 0 {
        bail!("at least one view");
    }
    let stack = Stack::load_aws();
    let aws = stack.aws().await;

    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let hour = transcript(&mut rng);
    let insights = insights(&mut rng);
    // The baseline: the same page for a short meeting, its first three lines.
    let short = Transcript {
        utterances: hour.utterances.iter().take(3).cloned().collect(),
    };
    let mut written = Vec::new();
    let result = async {
        let big = write_meeting(&stack, &hour, &insights, MEETING_SECS, &mut written).await?;
        let small = write_meeting(&stack, &short, &Insights::default(), 60.0, &mut written).await?;
        measure(&stack, &aws, &big, &small, views, hour.utterances.len()).await
    }
    .await;
    // Leave nothing behind, whatever the measurement did.
    let (dynamo, s3) = (stack.dynamodb().await, stack.s3().await);
    for w in &written {
        match w {
            Written::Record(key) => {
                let _ = dynamo
                    .delete_item()
                    .table_name(stack.output("MeetingsTableName"))
                    .key("meeting_key", AttributeValue::S(key.clone()))
                    .send()
                    .await;
            }
            Written::Object(key) => {
                let _ = s3
                    .delete_object()
                    .bucket(stack.output("OutputBucketName"))
                    .key(key)
                    .send()
                    .await;
            }
        }
    }
    let mut report = result?;
    let words: usize = hour.utterances.iter().map(|u| u.text.split(' ').count()).sum();
    let transcript_bytes = serde_json::to_vec(&hour)?.len();
    let insights_bytes = serde_json::to_vec(&insights)?.len();
    report["meeting"] = json!({
        "participants": SPEAKERS.len(),
        "minutes": MEETING_SECS / 60.0,
        "utterances": hour.utterances.len(),
        "words": words,
        "transcript_json_bytes": transcript_bytes,
        "insights_json_bytes": insights_bytes,
    });
    report["views"] = json!(views);
    println!(
        "  meeting: {} people x {} min, {} utterances, {words} words; transcript.json {transcript_bytes} B, \
         insights.json {insights_bytes} B",
        SPEAKERS.len(),
        MEETING_SECS / 60.0,
        hour.utterances.len(),
    );
    if let Some(dir) = out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&out, serde_json::to_string_pretty(&report)?)?;
    println!("  results: {}", out.display());
    Ok(())
}

/// What the bench wrote to the stack, to remove at the end.
enum Written {
    Record(String),
    Object(String),
}

/// Writes what a finished meeting of the aws provider leaves: its record (`transcribed`,
/// produced audio with a speech track per speaker, the stored documents named), its insights
/// and transcript, and a mixdown object. Returns its key.
async fn write_meeting(
    stack: &Stack,
    transcript: &Transcript,
    insights: &Insights,
    secs: f64,
    written: &mut Vec<Written>,
) -> Result<MeetingKey> {
    let bucket = stack.output("OutputBucketName");
    let key = MeetingKey::from_uuid(&format!("page-bench/{}", uuid::Uuid::new_v4().simple()));
    let prefix = key.s3_prefix();
    let mut names: Vec<&str> = Vec::new();
    for u in &transcript.utterances {
        if !names.contains(&u.speaker.as_str()) {
            names.push(&u.speaker);
        }
    }
    names.sort_by_key(|n| SPEAKERS.iter().position(|(s, _)| s == n));
    let mut audio = AudioBuilder::sample()
        .speakers(&names)
        .topic("Q1 planning: launch, budget and support")
        .timezone(Some("Europe/Berlin"))
        .duration_secs(secs)
        .build();
    audio.merged_bucket = bucket.to_owned();
    audio.mixdown_key = format!("{prefix}mixdown.mp3");
    audio.merged_key = format!("{prefix}merged.wav");
    audio.speech = names
        .iter()
        .enumerate()
        .map(|(i, name)| SpeechTrack {
            index: i as u16,
            name: (*name).to_owned(),
            map_key: format!("{prefix}speech/{i}.json"),
            flac_key: Some(format!("{prefix}speech/{i}.flac")),
            talk_seconds: transcript
                .utterances
                .iter()
                .filter(|u| u.speaker == *name)
                .map(|u| u.end - u.start)
                .sum(),
        })
        .collect();
    let insights_key = format!("{prefix}insights.json");
    let transcript_key = Transcript::key(&prefix);
    let s3 = stack.s3().await;
    for (k, body, kind) in [
        (&insights_key, serde_json::to_vec(insights)?, "application/json"),
        (&transcript_key, serde_json::to_vec(transcript)?, "application/json"),
        (&audio.mixdown_key, vec![0u8; 1024], "audio/mpeg"),
    ] {
        written.push(Written::Object(k.clone()));
        s3.put_object()
            .bucket(bucket)
            .key(k.as_str())
            .content_type(kind)
            .body(body.into())
            .send()
            .await
            .with_context(|| format!("putting {k}"))?;
    }
    let documents = AttributeValue::M(
        [("insights", &insights_key), ("transcript", &transcript_key)]
            .into_iter()
            .map(|(n, k)| (n.to_owned(), AttributeValue::S(k.clone())))
            .collect(),
    );
    written.push(Written::Record(key.to_string()));
    stack
        .dynamodb()
        .await
        .put_item()
        .table_name(stack.output("MeetingsTableName"))
        .item("meeting_key", AttributeValue::S(key.to_string()))
        .item("status", AttributeValue::S("transcribed".into()))
        .item("topic", AttributeValue::S(audio.topic.clone()))
        .item("host_email", AttributeValue::S(audio.host_email.clone()))
        .item("audio", serde_dynamo::to_attribute_value(&audio)?)
        .item("insights", documents)
        .send()
        .await
        .context("writing the meeting's record")?;
    Ok(key)
}

async fn measure(
    stack: &Stack,
    aws: &aws_config::SdkConfig,
    hour: &MeetingKey,
    short: &MeetingKey,
    views: usize,
    lines: usize,
) -> Result<Value> {
    // Links as the notifier signs them: the deployment's key, the base URL it is given.
    let secret = stack.output("PageLinkSecretArn");
    let links = PageLinks::new(&secrets::load(aws, secret).await?.require(secret_keys::PAGE_LINK_KEY)?);
    let notifier = stack
        .lambda()
        .await
        .get_function_configuration()
        .function_name(stack.output("NotifierFunctionName"))
        .send()
        .await
        .context("reading the notifier's configuration")?;
    let base = notifier
        .environment()
        .and_then(|e| e.variables())
        .and_then(|v| v.get("PAGE_BASE_URL"))
        .context("the notifier has no PAGE_BASE_URL")?
        .clone();
    let link = links.url(&base, hour.as_str(), unix_now(), 30)?;
    let short_link = links.url(&base, short.as_str(), unix_now(), 30)?;
    let wrong = {
        let (signed, signature) = link.rsplit_once('.').context("a JWT")?;
        let first = if signature.starts_with('A') { 'B' } else { 'A' };
        format!("{signed}.{first}{}", &signature[1..])
    };

    let client = http();
    let page = client.get(&link).send().await?.text().await?;
    if page.matches("class=\"line\"").count() != lines {
        bail!(
            "the page is not the meeting's whole transcript:\n{}",
            &page[..page.len().min(2000)]
        );
    }
    println!("meeting page, one hour, 8 people ({lines} transcript lines), {views} views each:");
    let (page_ms, page_bytes) = fetches(&client, &link, views, 200).await?;
    let (short_ms, short_bytes) = fetches(&client, &short_link, views, 200).await?;
    let (floor_ms, floor_bytes) = fetches(&client, &wrong, views, 404).await?;
    println!(
        "  page: {page_bytes} bytes ({:.1} KiB); a 3-line meeting's: {short_bytes} bytes; the 404: {floor_bytes} bytes",
        page_bytes as f64 / 1024.0
    );
    let (page_s, short_s, floor_s) = (stats(page_ms), stats(short_ms), stats(floor_ms));
    let http_page = row("GET the hour's page (to last byte)", &page_s);
    let http_short = row("baseline: a 3-line meeting's page", &short_s);
    let http_floor = row("the route's 404 (no AWS call)", &floor_s);
    println!(
        "  ratio (median hour / median 3-line): {:.2}",
        page_s.median / short_s.median
    );

    let mut browser = Browser::launch().await?;
    browser.viewport(Viewport::DESKTOP).await?;
    let shown = renders(&mut browser, &link, views).await?;
    let in_dom = browser.eval("document.querySelectorAll('.line').length").await?;
    if in_dom != json!(lines) {
        bail!("Chromium shows {in_dom} lines, not {lines}");
    }
    let nodes = browser.eval("document.getElementsByTagName('*').length").await?;
    let short_shown = renders(&mut browser, &short_link, views).await?;
    drop(browser);
    let (shown_s, short_shown_s) = (stats(shown), stats(short_shown));
    let browser_page = row("Chromium: the hour's page, to load", &shown_s);
    let browser_short = row("Chromium: a 3-line meeting's page", &short_shown_s);
    println!(
        "  ratio (median hour / median 3-line): {:.2}; {nodes} elements",
        shown_s.median / short_shown_s.median
    );
    Ok(json!({
        "page_bytes": page_bytes,
        "baseline_bytes": short_bytes,
        "not_found_bytes": floor_bytes,
        "elements": nodes,
        "http": {
            "page": http_page,
            "baseline": http_short,
            "not_found": http_floor,
            "ratio": page_s.median / short_s.median,
        },
        "chromium": {
            "page": browser_page,
            "baseline": browser_short,
            "ratio": shown_s.median / short_shown_s.median,
        },
    }))
}
