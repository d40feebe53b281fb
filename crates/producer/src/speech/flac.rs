//! A mono 16-bit FLAC encoder in the process, for the speech files: an ffmpeg encoder per
//! speaker costs about 16 MiB each for the whole merge, which a meeting of 32 speakers cannot
//! afford at 1024 MB, while this holds one block. Every frame is 4096 samples (the last one
//! shorter), each coded with the best of FLAC's fixed predictors and one Rice parameter; the
//! stream's length and MD5 are left "unknown" in its header, as any streamed FLAC's are.

/// Samples per frame: FLAC's usual block size at this rate.
const BLOCK: usize = 4096;
/// The largest Rice parameter of the 4-bit coding (15 is the escape).
const MAX_RICE: u32 = 14;

pub(super) struct FlacEncoder {
    rate: u32,
    block: Vec<i16>,
    frame: u32,
    out: Vec<u8>,
}

impl FlacEncoder {
    /// The stream header is the first output.
    pub fn new(rate: u32) -> Self {
        let mut out = b"fLaC".to_vec();
        // The only metadata block (last-block flag set), STREAMINFO: 34 bytes.
        out.extend_from_slice(&[0x80, 0, 0, 34]);
        let mut info = BitWriter::default();
        info.bits(BLOCK as u64, 16); // minimum block size (the last block may be shorter)
        info.bits(BLOCK as u64, 16); // maximum block size
        info.bits(0, 24); // minimum frame size: unknown
        info.bits(0, 24); // maximum frame size: unknown
        info.bits(u64::from(rate) & 0xF_FFFF, 20);
        info.bits(0, 3); // one channel
        info.bits(15, 5); // 16 bits per sample
        info.bits(0, 36); // total samples: unknown while streaming
        out.extend_from_slice(&info.bytes);
        out.extend_from_slice(&[0; 16]); // MD5: unknown
        FlacEncoder {
            rate,
            block: Vec::with_capacity(BLOCK),
            frame: 0,
            out,
        }
    }

    /// Takes samples; every full block is encoded into the output.
    pub fn push(&mut self, samples: &[i16]) {
        let mut rest = samples;
        while !rest.is_empty() {
            let take = (BLOCK - self.block.len()).min(rest.len());
            self.block.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if self.block.len() == BLOCK {
                self.encode_block();
            }
        }
    }

    /// Encodes what is left (a shorter last frame).
    pub fn finish(&mut self) {
        if !self.block.is_empty() {
            self.encode_block();
        }
    }

    /// The encoded bytes so far; the caller empties it as it writes them on.
    pub fn output(&mut self) -> &mut Vec<u8> {
        &mut self.out
    }

    fn encode_block(&mut self) {
        let frame = encode_frame(&self.block, self.frame, self.rate);
        self.out.extend_from_slice(&frame);
        self.block.clear();
        self.frame = self.frame.wrapping_add(1);
    }
}

fn rate_code(rate: u32) -> u64 {
    match rate {
        8_000 => 4,
        16_000 => 5,
        22_050 => 6,
        24_000 => 7,
        32_000 => 8,
        44_100 => 9,
        48_000 => 10,
        96_000 => 11,
        // From STREAMINFO.
        _ => 0,
    }
}

/// One frame: header, one subframe, CRC-16.
fn encode_frame(samples: &[i16], number: u32, rate: u32) -> Vec<u8> {
    let n = samples.len();
    let mut w = BitWriter::default();
    w.bits(0b11_1111_1111_1110, 14); // sync
    w.bits(0, 1);
    w.bits(0, 1); // fixed block size
    let size_code = match n {
        BLOCK => 12,
        1..=256 => 6,
        _ => 7,
    };
    w.bits(size_code, 4);
    w.bits(rate_code(rate), 4);
    w.bits(0, 4); // mono
    w.bits(0b100, 3); // 16 bits per sample
    w.bits(0, 1);
    w.utf8(number);
    match size_code {
        6 => w.bits(n as u64 - 1, 8),
        7 => w.bits(n as u64 - 1, 16),
        _ => {}
    }
    let crc = crc8(&w.bytes);
    w.bits(u64::from(crc), 8);
    subframe(&mut w, samples);
    w.align();
    let crc = crc16(&w.bytes);
    w.bits(u64::from(crc), 16);
    w.bytes
}

/// The fixed predictor of the smallest residual (order 0 to 4), or the samples verbatim
/// when the block is too short to predict.
fn subframe(w: &mut BitWriter, samples: &[i16]) {
    let x: Vec<i32> = samples.iter().map(|&s| i32::from(s)).collect();
    if x.len() <= 4 {
        w.bits(0b0000_0010, 8); // pad, type verbatim (1), no wasted bits
        for &s in &x {
            w.signed(s, 16);
        }
        return;
    }
    let residuals = |order: usize| -> Vec<i32> {
        (order..x.len())
            .map(|i| match order {
                0 => x[i],
                1 => x[i] - x[i - 1],
                2 => x[i] - 2 * x[i - 1] + x[i - 2],
                3 => x[i] - 3 * x[i - 1] + 3 * x[i - 2] - x[i - 3],
                _ => x[i] - 4 * x[i - 1] + 6 * x[i - 2] - 4 * x[i - 3] + x[i - 4],
            })
            .collect()
    };
    let cost = |r: &[i32]| r.iter().map(|v| u64::from(v.unsigned_abs())).sum::<u64>();
    let (order, residual) = (0..=4)
        .map(|o| (o, residuals(o)))
        .min_by_key(|(_, r)| cost(r))
        .unwrap_or_else(|| (0, x.clone()));
    // pad, type fixed (0b001xxx), no wasted bits
    w.bits(((0b1000 | order as u64) << 1) & 0xFF, 8);
    for &s in &x[..order] {
        w.signed(s, 16);
    }
    let folded: Vec<u32> = residual.iter().map(|&r| ((r << 1) ^ (r >> 31)) as u32).collect();
    let k = rice_parameter(&folded);
    w.bits(0, 2); // 4-bit Rice parameters
    w.bits(0, 4); // one partition
    w.bits(u64::from(k), 4);
    for &u in &folded {
        w.unary(u >> k);
        if k > 0 {
            w.bits(u64::from(u) & ((1 << k) - 1), k);
        }
    }
}

/// The parameter of fewest bits, searched around the one the mean suggests.
fn rice_parameter(folded: &[u32]) -> u32 {
    if folded.is_empty() {
        return 0;
    }
    let sum: u64 = folded.iter().map(|&u| u64::from(u)).sum();
    let mean = (sum / folded.len() as u64).max(1);
    let guess = (63 - mean.leading_zeros()).min(MAX_RICE);
    let bits = |k: u32| -> u64 {
        folded.len() as u64 * u64::from(k + 1) + folded.iter().map(|&u| u64::from(u >> k)).sum::<u64>()
    };
    [guess.saturating_sub(1), guess, (guess + 1).min(MAX_RICE)]
        .into_iter()
        .min_by_key(|&k| bits(k))
        .unwrap_or(guess)
}

#[derive(Default)]
struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    n: u32,
}

impl BitWriter {
    /// The low `count` bits of `value` (at most 32 at a time; more are split).
    fn bits(&mut self, value: u64, count: u32) {
        if count > 32 {
            self.bits(value >> 32, count - 32);
            self.bits(value & 0xFFFF_FFFF, 32);
            return;
        }
        if count == 0 {
            return;
        }
        self.acc = (self.acc << count) | (value & ((1u64 << count) - 1));
        self.n += count;
        while self.n >= 8 {
            self.n -= 8;
            self.bytes.push((self.acc >> self.n) as u8);
        }
    }

    fn signed(&mut self, value: i32, count: u32) {
        self.bits(u64::from(value as u32), count);
    }

    /// `q` zeros, then a one.
    fn unary(&mut self, mut q: u32) {
        while q >= 32 {
            self.bits(0, 32);
            q -= 32;
        }
        self.bits(1, q + 1);
    }

    /// FLAC's UTF-8-like coding of the frame number.
    fn utf8(&mut self, v: u32) {
        let v = u64::from(v);
        if v < 0x80 {
            return self.bits(v, 8);
        }
        let extra = match v {
            0..=0x7FF => 1,
            0x800..=0xFFFF => 2,
            0x1_0000..=0x1F_FFFF => 3,
            0x20_0000..=0x3FF_FFFF => 4,
            _ => 5,
        };
        let lead_ones = extra + 1;
        let lead = (0xFFu64 << (8 - lead_ones)) & 0xFF;
        self.bits(lead | (v >> (6 * extra)), 8);
        for i in (0..extra).rev() {
            self.bits(0x80 | ((v >> (6 * i)) & 0x3F), 8);
        }
    }

    /// Zero bits up to the next byte.
    fn align(&mut self) {
        if self.n > 0 {
            self.bits(0, 8 - self.n);
        }
    }
}

fn crc8(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |mut crc, &b| {
        crc ^= b;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 { (crc << 1) ^ 0x07 } else { crc << 1 };
        }
        crc
    })
}

fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |mut crc, &b| {
        crc ^= u16::from(b) << 8;
        for _ in 0..8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x8005
            } else {
                crc << 1
            };
        }
        crc
    })
}

/// A decoder of exactly what this encoder writes (fixed and verbatim subframes, one Rice
/// partition), checking both CRCs: the handler and speech tests read the speech files back.
#[cfg(test)]
pub(crate) fn decode(bytes: &[u8]) -> Vec<i16> {
    assert_eq!(&bytes[..8], b"fLaC\x80\0\0\x22", "one STREAMINFO block");
    let mut at = 8 + 34;
    let mut out = Vec::new();
    while at < bytes.len() {
        let mut r = BitReader { bytes, pos: at * 8 };
        assert_eq!(r.bits(14), 0x3FFE, "sync at byte {at}");
        r.bits(2);
        let size_code = r.bits(4);
        r.bits(4 + 4 + 3 + 1);
        let lead = r.bits(8);
        for _ in 0..(lead as u8).leading_ones().saturating_sub(1) {
            r.bits(8);
        }
        let n = match size_code {
            12 => BLOCK,
            6 => r.bits(8) as usize + 1,
            7 => r.bits(16) as usize + 1,
            other => panic!("block size code {other}"),
        };
        let header_end = r.pos / 8;
        assert_eq!(r.bits(8) as u8, crc8(&bytes[at..header_end]), "header CRC");
        let kind = r.bits(8);
        let mut x: Vec<i32> = Vec::with_capacity(n);
        if kind == 0b0000_0010 {
            for _ in 0..n {
                x.push(r.signed(16));
            }
        } else {
            let order = ((kind >> 1) & 0b111) as usize;
            assert_eq!(kind >> 4, 0b001, "fixed subframe");
            for _ in 0..order {
                x.push(r.signed(16));
            }
            assert_eq!(r.bits(6), 0, "Rice coding, one partition");
            let k = r.bits(4) as u32;
            for i in order..n {
                let mut q = 0;
                while r.bits(1) == 0 {
                    q += 1;
                }
                let u = (q << k) | r.bits(k) as u32;
                let res = ((u >> 1) as i32) ^ -((u & 1) as i32);
                let p = match order {
                    0 => 0,
                    1 => x[i - 1],
                    2 => 2 * x[i - 1] - x[i - 2],
                    3 => 3 * x[i - 1] - 3 * x[i - 2] + x[i - 3],
                    _ => 4 * x[i - 1] - 6 * x[i - 2] + 4 * x[i - 3] - x[i - 4],
                };
                x.push(p + res);
            }
        }
        let end = r.pos.div_ceil(8);
        let crc = u16::from_be_bytes([bytes[end], bytes[end + 1]]);
        assert_eq!(crc, crc16(&bytes[at..end]), "frame CRC");
        out.extend(x.iter().map(|&v| v as i16));
        at = end + 2;
    }
    out
}

#[cfg(test)]
struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

#[cfg(test)]
impl BitReader<'_> {
    fn bits(&mut self, count: u32) -> u64 {
        let mut v = 0;
        for _ in 0..count {
            let bit = (self.bytes[self.pos / 8] >> (7 - self.pos % 8)) & 1;
            v = (v << 1) | u64::from(bit);
            self.pos += 1;
        }
        v
    }

    fn signed(&mut self, count: u32) -> i32 {
        let v = self.bits(count) as u32;
        ((v << (32 - count)) as i32) >> (32 - count)
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncReadExt;

    use super::*;
    use crate::ffmpeg::Ffmpeg;
    use crate::ports::{CodecProcess, Codecs, Decoder};

    fn encode(samples: &[i16], chunk: usize) -> Vec<u8> {
        let mut enc = FlacEncoder::new(16_000);
        for c in samples.chunks(chunk.max(1)) {
            enc.push(c);
        }
        enc.finish();
        std::mem::take(enc.output())
    }

    /// Speech-like tones, noise, silence, full-scale steps and a short tail.
    fn varied(len: usize) -> Vec<i16> {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        (0..len)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                let noise = (state >> 53) as i32 - 1024;
                let t = i as f64 / 16_000.0;
                let v = match (i / 5_000) % 4 {
                    0 => (9_000.0 * (2.0 * std::f64::consts::PI * 220.0 * t).sin()) as i32 + noise,
                    1 => 0,
                    2 => noise * 16,
                    _ => {
                        if i % 2 == 0 {
                            32_767
                        } else {
                            -32_768
                        }
                    }
                };
                v.clamp(-32_768, 32_767) as i16
            })
            .collect()
    }

    #[test]
    fn what_is_encoded_decodes_to_the_same_samples() {
        for len in [0, 1, 4, 5, 200, 4_096, 4_097, 30_001] {
            let samples = varied(len);
            let bytes = encode(&samples, 777);
            assert_eq!(decode(&bytes), samples, "{len} samples");
            assert_eq!(encode(&samples, 1), bytes, "chunking changes nothing");
        }
    }

    #[test]
    fn frame_numbers_past_one_byte_are_coded_as_flac_says() {
        let mut w = BitWriter::default();
        for v in [0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x1_0000] {
            w.utf8(v);
        }
        assert_eq!(
            w.bytes,
            [0x7F, 0xC2, 0x80, 0xDF, 0xBF, 0xE0, 0xA0, 0x80, 0xEF, 0xBF, 0xBF, 0xF0, 0x90, 0x80, 0x80]
        );
    }

    #[test]
    fn quiet_speech_compresses() {
        let samples: Vec<i16> = (0..16_000).map(|i| (300.0 * (i as f64 * 0.09).sin()) as i16).collect();
        let bytes = encode(&samples, 4_096);
        assert!(
            bytes.len() < samples.len(),
            "{} bytes for {} samples",
            bytes.len(),
            samples.len()
        );
    }

    /// ffmpeg reads the stream back to the same samples: the format is FLAC, not just ours.
    #[tokio::test]
    async fn ffmpeg_decodes_it_to_the_same_samples() {
        let dir = tempfile::tempdir().unwrap();
        let samples = varied(50_000);
        let path = dir.path().join("speech.flac");
        std::fs::write(&path, encode(&samples, 4_096)).unwrap();
        let Decoder { mut pcm, process } = Ffmpeg::locate(None).decoder(&path.to_string_lossy(), 16_000).unwrap();
        let mut all = Vec::new();
        pcm.read_to_end(&mut all).await.unwrap();
        process.finish().await.unwrap();
        let decoded: Vec<i16> = all.chunks_exact(2).map(|b| i16::from_le_bytes([b[0], b[1]])).collect();
        assert_eq!(decoded, samples);
    }
}
