//! WAV headers for a stream whose length is known before the first sample: written once,
//! exact, so the file can be streamed to S3 without seeking back.

/// KSDATAFORMAT_SUBTYPE_PCM.
const PCM_GUID: [u8; 16] = [
    0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0xaa, 0x00, 0x38, 0x9b, 0x71,
];
const BITS: u16 = 16;

/// WAVE_FORMAT_EXTENSIBLE with a zero channel mask: channels carry no speaker position, so no
/// channel is taken for LFE or centre. RF64 when the data outgrows 32-bit sizes.
pub fn header(channels: u16, sample_rate: u32, total_frames: u64) -> Vec<u8> {
    let block_align = channels as u32 * (BITS as u32 / 8);
    let data_len = total_frames * block_align as u64;
    let fmt = fmt_chunk(channels, sample_rate, block_align);
    let rf64 = data_len + 4 + fmt.len() as u64 + 8 > u32::MAX as u64;
    let mut h = Vec::with_capacity(100);
    if rf64 {
        let riff_len = 4 + (8 + 28) + fmt.len() as u64 + 8 + data_len;
        h.extend_from_slice(b"RF64");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(b"ds64");
        h.extend_from_slice(&28u32.to_le_bytes());
        h.extend_from_slice(&riff_len.to_le_bytes());
        h.extend_from_slice(&data_len.to_le_bytes());
        h.extend_from_slice(&total_frames.to_le_bytes());
        h.extend_from_slice(&0u32.to_le_bytes());
        h.extend_from_slice(&fmt);
        h.extend_from_slice(b"data");
        h.extend_from_slice(&u32::MAX.to_le_bytes());
    } else {
        h.extend_from_slice(b"RIFF");
        h.extend_from_slice(&((4 + fmt.len() as u64 + 8 + data_len) as u32).to_le_bytes());
        h.extend_from_slice(b"WAVE");
        h.extend_from_slice(&fmt);
        h.extend_from_slice(b"data");
        h.extend_from_slice(&(data_len as u32).to_le_bytes());
    }
    h
}

fn fmt_chunk(channels: u16, sample_rate: u32, block_align: u32) -> Vec<u8> {
    let mut c = Vec::with_capacity(48);
    c.extend_from_slice(b"fmt ");
    c.extend_from_slice(&40u32.to_le_bytes());
    c.extend_from_slice(&0xFFFEu16.to_le_bytes()); // WAVE_FORMAT_EXTENSIBLE
    c.extend_from_slice(&channels.to_le_bytes());
    c.extend_from_slice(&sample_rate.to_le_bytes());
    c.extend_from_slice(&(sample_rate * block_align).to_le_bytes());
    c.extend_from_slice(&(block_align as u16).to_le_bytes());
    c.extend_from_slice(&BITS.to_le_bytes());
    c.extend_from_slice(&22u16.to_le_bytes()); // cbSize
    c.extend_from_slice(&BITS.to_le_bytes()); // valid bits
    c.extend_from_slice(&0u32.to_le_bytes()); // channel mask: none
    c.extend_from_slice(&PCM_GUID);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn riff_sizes_are_exact() {
        let h = header(3, 16_000, 16_000);
        assert_eq!(h.len(), 68);
        assert_eq!(&h[0..4], b"RIFF");
        let data = 16_000u32 * 3 * 2;
        assert_eq!(u32::from_le_bytes(h[4..8].try_into().unwrap()), 60 + data);
        assert_eq!(u16::from_le_bytes(h[22..24].try_into().unwrap()), 3);
        assert_eq!(
            u32::from_le_bytes(h[40..44].try_into().unwrap()),
            0,
            "no speaker positions"
        );
        assert_eq!(&h[60..64], b"data");
        assert_eq!(u32::from_le_bytes(h[64..68].try_into().unwrap()), data);
    }

    #[test]
    fn rf64_beyond_four_gib() {
        let frames = 5 * 3600 * 16_000u64; // 5 h x 16 channels
        let h = header(16, 16_000, frames);
        assert_eq!(&h[0..4], b"RF64");
        assert_eq!(&h[12..16], b"ds64");
        assert_eq!(u64::from_le_bytes(h[28..36].try_into().unwrap()), frames * 32);
        assert_eq!(&h[h.len() - 8..h.len() - 4], b"data");
    }
}
